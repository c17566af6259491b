// Issue 21, logs: LOG_DIR puts a process's lines in <dir>/<service>.log, and after logrotate's rename and SIGHUP the
// process writes to a new file of the same name, losing no line.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, it } from 'node:test';
import { waitFor } from './helpers/stack.ts';

const dir = await mkdtemp(path.join(tmpdir(), 'bp-logs-'));
after(() => rm(dir, { recursive: true, force: true }));

// A process that logs each line it reads on stdin, through the platform's logger.
const CHILD = `
import { createInterface } from 'node:readline';
import { createLogger } from ${JSON.stringify(new URL('../common/logger.ts', import.meta.url).href)};
const log = createLogger('backup-test-rotation');
for await (const line of createInterface({ input: process.stdin })) log.info(line);
`;

const messages = async (file: string) =>
  (await readFile(file, 'utf8').catch(() => ''))
    .split('\n')
    .filter(Boolean)
    .map((l) => (JSON.parse(l) as { message: string }).message);

it('writes to LOG_DIR/<service>.log and opens it anew on SIGHUP after a rotation', async () => {
  const logs = path.join(dir, 'var', 'log', 'backup-platform');
  const child = spawn(process.execPath, ['--input-type=module', '-e', CHILD], {
    env: { ...process.env, LOG_DIR: logs, LOG_FILE: '' },
    stdio: ['pipe', 'inherit', 'inherit'],
  });
  const file = path.join(logs, 'backup-test-rotation.log');
  try {
    child.stdin.write('before rotation\n');
    await waitFor(async () => (await messages(file)).includes('before rotation'), 20_000, 'the first line in the file');

    await rename(file, `${file}.1`);
    child.kill('SIGHUP');
    await waitFor(async () => (await readFile(file).catch(() => undefined)) !== undefined, 20_000, 'a new file');
    child.stdin.write('after rotation\n');
    await waitFor(async () => (await messages(file)).includes('after rotation'), 20_000, 'the line in the new file');
    child.stdin.end();
    await once(child, 'exit');
    assert.deepEqual(await messages(`${file}.1`), ['before rotation']);
    assert.deepEqual(await messages(file), ['after rotation']);
  } finally {
    child.kill('SIGKILL');
  }
});
