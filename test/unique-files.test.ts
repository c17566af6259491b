// Issue 23: three configurations of one database, run in the same second, used to record one shared file (one run
// adopted the file another had published), and the first retention to delete it deleted the others' backup too.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createTempDatabase } from '../ops/services/pg.ts';
import {
  createConfig,
  createShopDatabase,
  execFileP,
  setUpSite,
  sha256OfFile,
  unzstd,
  waitForRuns,
} from './helpers/fixtures.ts';
import { signup, startStack, type Stack } from './helpers/stack.ts';

describe('two backups never share a file (issue 23)', () => {
  let stack: Stack;
  let source: Awaited<ReturnType<typeof createShopDatabase>>;
  const drops: (() => Promise<unknown>)[] = [];
  before(async () => {
    stack = await startStack();
    source = await createShopDatabase();
  });
  after(async () => {
    for (const d of drops) await d().catch(() => {});
    await source?.drop();
    await stack?.stop();
  });

  it('three configurations of one database in the same second: three files, each its own, restorable; pruning one keeps the others', async () => {
    const t = await signup(stack);
    const backupsDir = path.join(stack.tmp, 'backups');
    const { server } = await setUpSite(stack, t.token, { backupsDir });
    const base = { serverId: server.id, databases: [source.name] };
    const configs = [
      await createConfig(stack, t.token, { ...base, keepLocal: 1 }),
      await createConfig(stack, t.token, { ...base, cleanTables: [{ table: 'events' }] }),
      await createConfig(stack, t.token, { ...base, compression: { algorithm: 'gzip', level: 6 } }),
    ];
    await sleep(1000 - (Date.now() % 1000) + 5); // the start of a second, so all three start within it
    const started = await Promise.all(
      configs.map((c) => stack.api('POST', `/api/v1/configs/${c.id}/run`, { token: t.token })),
    );
    assert.deepEqual(
      started.map((r) => r.status),
      [202, 202, 202],
    );
    const rows = await Promise.all(configs.map(async (c) => (await waitForRuns(stack, t.token, c.id))[0] as any));
    for (const row of rows) assert.equal(row.status, 'succeeded', row.error);

    const files = rows.map((r) => path.join(backupsDir, 'main-pg', source.name, r.fileName));
    assert.equal(new Set(rows.map((r) => r.fileName)).size, 3, `three names: ${rows.map((r) => r.fileName)}`);
    assert.equal(new Set(rows.map((r) => r.sha256)).size, 3, 'three contents');
    for (const [i, file] of files.entries()) assert.equal(await sha256OfFile(file), rows[i].sha256, file);

    // Each restores: its own settings are in its own file.
    const work = await mkdtemp(path.join(os.tmpdir(), 'bp-unique-'));
    drops.push(() => rm(work, { recursive: true, force: true }));
    for (const [i, file] of files.entries()) {
      const dump = path.join(work, `${i}.pgdump`);
      if (file.endsWith('.gz')) await execFileP('sh', ['-c', `gzip -dc '${file}' > '${dump}'`]);
      else await unzstd(file, dump);
      const target = await createTempDatabase('bp_unique');
      drops.push(() => target.drop());
      await execFileP('pg_restore', ['--no-owner', '-d', target.url, dump]);
      const { stdout } = await execFileP('psql', [target.url, '-Atc', 'select count(*) from events']);
      assert.equal(stdout.trim() === '0', i === 1, `only the second configuration left out the events (${i})`);
    }

    // The first configuration keeps one local backup: its next run prunes its first file, and only that one.
    const again = await stack.api('POST', `/api/v1/configs/${configs[0].id}/run`, { token: t.token });
    assert.equal(again.status, 202);
    await waitForRuns(stack, t.token, configs[0].id, 2);
    assert.equal(existsSync(files[0]!), false, 'the first configuration pruned its own file');
    assert.ok(existsSync(files[1]!) && existsSync(files[2]!), 'the others’ files are still there');
  });
});
