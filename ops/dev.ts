// test/dev-stack.test.ts starts `npm start` by this path; the entry point itself is ops/dev/dev.ts.
import './dev/dev.ts';
