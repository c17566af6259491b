// Bundles the workflow code once (webpack, a few seconds) so workers started afterwards load it at once.
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { bundleWorkflows } from '../../workers/runtime.ts';

const out = path.resolve(process.argv[2] ?? '.build/workflows.js');
await mkdir(path.dirname(out), { recursive: true });
await writeFile(out, await bundleWorkflows());
console.log(`workflow bundle written to ${path.relative(process.cwd(), out)}`);
