// Issue 2, first proof: signup → site → server → configuration → run now → a verified dump and its history row.
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import postgres from 'postgres';
import { createTempDatabase } from '../ops/services/pg.ts';
import {
  createConfig,
  createShopDatabase,
  execFileP,
  runNowAndWait,
  setUpSite,
  sha256OfFile,
  unzstd,
  waitForRuns,
} from './helpers/fixtures.ts';
import { ScheduleOverlapPolicy } from '@temporalio/client';
import { scheduleId } from '../common/names.ts';
import { historyText, signup, startStack, type Stack } from './helpers/stack.ts';

describe('backup end to end (PostgreSQL, Temporal dev server)', () => {
  let stack: Stack;
  let source: Awaited<ReturnType<typeof createShopDatabase>>;
  const drops: (() => Promise<void>)[] = [];

  before(async () => {
    stack = await startStack();
    source = await createShopDatabase();
    drops.push(() => source.drop());
  });
  after(async () => {
    for (const d of drops) await d().catch(() => {});
    await stack?.stop();
  });

  it('backs up a database, cleans the listed table, records a verifiable history row, and keeps tenants apart', async () => {
    const a = await signup(stack);
    const backupsDir = path.join(stack.tmp, 'site-a-backups');
    const { site, server, worker, siteConfig } = await setUpSite(stack, a.token, { backupsDir });

    const status = await stack.api('GET', `/api/v1/sites/${site.id}/status`, { token: a.token });
    assert.equal(status.status, 200);
    assert.equal(status.body.online, true, 'the site worker polls its queue, so the site is online');

    const config = await createConfig(stack, a.token, {
      serverId: server.id,
      databases: [source.name],
      cleanTables: [{ table: 'events' }],
      keepLocal: 3,
    });
    const [row] = await runNowAndWait(stack, a.token, config.id);
    const backup = row as any;
    assert.equal(backup.status, 'succeeded', `backup failed: ${backup.error}`);
    assert.match(backup.sha256, /^[0-9a-f]{64}$/);
    assert.ok(backup.sizeBytes > 0);
    assert.match(backup.fileName, new RegExp(`^${source.name}_\\d{8}_\\d{6}_[0-9a-f]{8}\\.pgdump\\.zst$`));
    assert.equal(backup.availableForDownload, true);
    assert.equal(backup.location, `site:main-pg/${source.name}/${backup.fileName}`);

    // The file on disk is the one the history describes.
    const file = path.join(backupsDir, 'main-pg', source.name, backup.fileName);
    assert.equal((await stat(file)).size, backup.sizeBytes);
    assert.equal(await sha256OfFile(file), backup.sha256);
    assert.deepEqual(
      (await readdir(path.dirname(file))).filter((n) => n.endsWith('.partial')),
      [],
    );

    // pg_restore reads it after decompression; events keeps its schema but not its rows.
    const work = await mkdtemp(path.join(os.tmpdir(), 'bp-restore-'));
    try {
      const dump = path.join(work, 'db.pgdump');
      await unzstd(file, dump);
      const { stdout: list } = await execFileP('pg_restore', ['--list', dump]);
      assert.match(list, /TABLE public events /);
      assert.match(list, /TABLE DATA public customers /);
      assert.doesNotMatch(list, /TABLE DATA public events /);

      const target = await createTempDatabase('bp_restored');
      drops.push(() => target.drop());
      await execFileP('pg_restore', ['--no-owner', '-d', target.url, dump]);
      const sql = postgres(target.url, { max: 1 });
      const [counts] =
        await sql`select (select count(*)::int from customers) as customers, (select count(*)::int from events) as events`;
      await sql.end();
      assert.deepEqual(counts, { customers: 1000, events: 0 });
    } finally {
      await rm(work, { recursive: true, force: true });
    }

    // The source was not touched by the cleaning.
    const src = postgres(source.url, { max: 1 });
    const rows = await src<{ n: number }[]>`select count(*)::int as n from events`;
    await src.end();
    assert.equal(rows[0]!.n, 20000);

    // Logs: ECS lines, carrying the run's ids, and never the database password.
    const dumpDone = worker.logs.lines.find((l) => l.message === 'dump finished') as any;
    assert.ok(dumpDone, 'the site worker logged the dump');
    assert.equal(dumpDone['ecs.version'] ?? dumpDone.ecs?.version, '8.10.0');
    assert.equal(dumpDone['log.level'], 'info');
    assert.match(dumpDone.labels.workflow_id, new RegExp(`^backup-${config.id}`));
    assert.ok(dumpDone.labels.run_id);
    assert.equal(dumpDone.labels.tenant_id, a.tenantId);
    assert.equal(dumpDone.labels.site_id, site.id);
    assert.equal(dumpDone.labels.server, 'main-pg');
    const password = siteConfig.servers['main-pg']!.password;
    for (const line of [...worker.logs.raw, ...stack.logs.raw])
      assert.ok(!line.includes(password), `a log line holds the password: ${line}`);

    // …nor does the run's Temporal history.
    const history = await historyText(stack, backup.workflowId);
    assert.match(history, new RegExp(source.name), 'the payloads are decoded: the database name is in them');
    assert.ok(!history.includes(password), 'the Temporal history holds the password');

    // Another tenant sees none of it.
    const b = await signup(stack);
    for (const p of [
      `/api/v1/configs/${config.id}`,
      `/api/v1/backups/${backup.id}`,
      `/api/v1/sites/${site.id}`,
      `/api/v1/servers/${server.id}`,
      `/api/v1/sites/${site.id}/status`,
    ]) {
      const res = await stack.api('GET', p, { token: b.token });
      assert.equal(res.status, 404, `${p} answered ${res.status} to another tenant`);
    }
    assert.equal((await stack.api('POST', `/api/v1/configs/${config.id}/run`, { token: b.token })).status, 404);
    assert.equal((await stack.api('DELETE', `/api/v1/configs/${config.id}`, { token: b.token })).status, 404);
    assert.deepEqual((await stack.api('GET', '/api/v1/backups', { token: b.token })).body.items, []);
    assert.deepEqual((await stack.api('GET', '/api/v1/sites', { token: b.token })).body.items, []);
  });

  it('the history says who started a run: the user who asked (run now), or its schedule', async () => {
    const a = await signup(stack);
    const { server } = await setUpSite(stack, a.token, { backupsDir: path.join(stack.tmp, 'trigger-backups') });
    const config = await createConfig(stack, a.token, { serverId: server.id, databases: [source.name] });
    const [asked] = (await runNowAndWait(stack, a.token, config.id)) as any[];
    assert.equal(asked.status, 'succeeded', asked.error);
    assert.equal(asked.triggeredBy, a.email);
    const one = await stack.api('GET', `/api/v1/backups/${asked.id}`, { token: a.token });
    assert.equal(one.body.triggeredBy, a.email);

    // The schedule starting a run on its own (as at its time): nobody asked.
    // ALLOW_ALL: the schedule may not yet have seen the first run end (SKIP would drop this one).
    await stack.temporal.client.schedule.getHandle(scheduleId(config.id)).trigger(ScheduleOverlapPolicy.ALLOW_ALL);
    const rows = (await waitForRuns(stack, a.token, config.id, 2)) as any[];
    const scheduled = rows.find((r) => r.id !== asked.id);
    assert.equal(scheduled.status, 'succeeded', scheduled.error);
    assert.equal(scheduled.triggeredBy, null);
  });
});
