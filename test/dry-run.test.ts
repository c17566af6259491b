// Issue 4, through the real platform: a dry run checks everything a backup needs and stores nothing (its report is
// the answer, and a history row of its own kind); and the API refuses a server whose engine the site has no tools for.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, symlink } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { createConfig } from './helpers/fixtures.ts';
import { postgresHarness, ROWS, type EngineHarness, type Fingerprint } from './helpers/engine-data.ts';
import { filesUnder, historyText, setUpEngineSite } from './helpers/engine-sites.ts';
import { createTempDatabase, PG_HOST, startPrivatePostgres, type PrivatePostgres } from '../ops/services/pg.ts';
import { settleAll, signup, startStack, type Stack } from './helpers/stack.ts';

interface Check {
  name: string;
  ok: boolean;
  detail: string;
}

describe('dry run and the engines a site can serve', { concurrency: true }, () => {
  let stack: Stack;
  let pg: PrivatePostgres;
  let locked: Awaited<ReturnType<typeof createTempDatabase>>;
  const h: EngineHarness = postgresHarness();
  const source = h.newName();
  let original: Fingerprint;

  before(async () => {
    await settleAll([
      startStack().then((s) => (stack = s)),
      startPrivatePostgres().then(async (p) => {
        pg = p;
        locked = await createTempDatabase('bp_locked', pg.port, pg.user, pg.password);
      }),
      h.createFixture(source, 'dry-run').then(async () => (original = await h.fingerprint(source))),
    ]);
  });
  after(async () => {
    await h.drop(source).catch(() => {});
    await Promise.all([pg?.stop(), stack?.stop()]);
  });

  /** POST /configs/{id}/run {dryRun:true}: the report, and proof that nothing was stored or recorded as a backup. */
  async function dryRun(token: string, configId: string, backupsDirs: string[]) {
    const res = await stack.api('POST', `/api/v1/configs/${configId}/run`, { token, body: { dryRun: true } });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const report = res.body as {
      ok: boolean;
      checks: Check[];
      estimatedBytes: number;
      estimatedSeconds: number;
      freeBytes: number;
      workflowId: string;
    };
    assert.match(report.workflowId, new RegExp(`^dryrun-${configId}-`));

    for (const dir of backupsDirs) assert.deepEqual(await filesUnder(dir), [], `nothing stored under ${dir}`);
    const backups = await stack.api('GET', `/api/v1/backups?configId=${configId}`, { token });
    assert.deepEqual(backups.body.items, [], 'no backup in the history');
    const dry = await stack.api('GET', `/api/v1/backups?configId=${configId}&kind=dry-run`, { token });
    assert.equal(dry.body.items.length, 1, 'the dry run is in the history, as a dry run');
    const row = dry.body.items[0];
    assert.equal(row.kind, 'dry-run');
    assert.equal(row.workflowId, report.workflowId);
    assert.equal(row.status, report.ok ? 'succeeded' : 'failed');
    assert.equal(row.fileName, null);
    assert.equal(row.availableForDownload, false);
    assert.deepEqual(row.report.checks, report.checks, 'the recorded report is the one answered');
    assert.equal(row.report.ok, report.ok);
    const failed = report.checks.filter((c) => !c.ok);
    for (const c of failed)
      assert.ok(row.error.includes(c.name), `the history's error names the failed check '${c.name}'`);
    return { report, check: (name: string) => report.checks.find((c) => c.name === name), failed };
  }

  it('a wrong password: the report fails the connection check with the login refused, and stores nothing', async () => {
    const { token } = await signup(stack);
    const wrong = `wrong-${randomBytes(8).toString('hex')}`;
    const backupsDir = path.join(stack.tmp, 'dry-locked');
    const site = await setUpEngineSite(stack, token, {
      backupsDir,
      servers: { db: { engine: 'postgresql', host: PG_HOST, port: pg.port, user: pg.user, password: wrong } },
    });
    const config = await createConfig(stack, token, { serverId: site.servers.db!.id, databases: [locked.name] });
    const { report, check } = await dryRun(token, config.id, [backupsDir]);
    assert.equal(report.ok, false);
    assert.equal(check('server configuration')?.ok, true);
    const connection = check('connection');
    assert.equal(connection?.ok, false, JSON.stringify(report.checks));
    assert.match(connection!.detail, /refused the login/);
    assert.match(connection!.detail, /check the password/);
    // The wrong password is the site's secret all the same.
    const history = await historyText(stack, report.workflowId);
    assert.ok(!history.includes(wrong), 'the Temporal history holds the password');
    for (const line of [...site.worker.logs.raw, ...stack.logs.raw])
      assert.ok(!line.includes(wrong), `a log line holds the password: ${line}`);
  });

  it('too little free space at the site: the free-space check fails, the others pass, and nothing is stored', async () => {
    const { token } = await signup(stack);
    const backupsDir = path.join(stack.tmp, 'dry-full');
    const site = await setUpEngineSite(stack, token, {
      backupsDir,
      servers: { db: h.serverSettings() },
      minFreeBytes: 2 ** 50,
    });
    const config = await createConfig(stack, token, { serverId: site.servers.db!.id, databases: [source] });
    const { report, check, failed } = await dryRun(token, config.id, [backupsDir]);
    assert.equal(report.ok, false);
    assert.deepEqual(
      failed.map((c) => c.name),
      ['free space at the site'],
      JSON.stringify(report.checks),
    );
    assert.match(check('free space at the site')!.detail, /kept free/);
    assert.ok(report.freeBytes > 0);
  });

  it('a good configuration passes every check, with an estimate, and stores nothing, not even its cleaning', async () => {
    const { token } = await signup(stack);
    const backupsDir = path.join(stack.tmp, 'dry-good');
    const nas = path.join(stack.tmp, 'dry-good-nas');
    const site = await setUpEngineSite(stack, token, {
      backupsDir,
      servers: { db: h.serverSettings() },
      encryption: { key: randomBytes(32).toString('hex') },
      destinations: { nas: { type: 'local', path: nas } },
    });
    const config = await createConfig(stack, token, {
      serverId: site.servers.db!.id,
      databases: [source],
      encrypt: true,
      confirmDestructiveCleaning: true,
      cleanTables: [
        { table: 'events' },
        { table: 'sessions', mode: 'truncate' },
        { table: 'logs', mode: 'deleteOlderThan', column: 'at', days: 30 },
      ],
      destinations: [{ destinationId: site.destinations.nas!.id, retention: { keepLast: 3 } }],
    });
    const { report } = await dryRun(token, config.id, [backupsDir, nas]);
    assert.equal(report.ok, true, JSON.stringify(report.checks));
    assert.deepEqual(
      report.checks.filter((c) => !c.ok),
      [],
    );
    assert.deepEqual(
      report.checks.map((c) => c.name),
      [
        'server configuration',
        'connection',
        'dump tool',
        `database ${source}`,
        `tables to clean in ${source}`,
        `read access to ${source}`,
        'free space at the site',
        'encryption key',
        'destination nas',
      ],
    );
    assert.ok(report.estimatedBytes > 0, `estimated ${report.estimatedBytes} bytes`);
    assert.ok(report.estimatedSeconds >= 1);
    assert.ok(report.freeBytes > 0);
    assert.deepEqual(await h.fingerprint(source), original, 'the dry run truncated and deleted nothing');
    assert.equal(original.sessions?.split(':')[0], String(ROWS.sessions));
  });

  it('the API refuses a server whose engine the site worker has no tools for', async () => {
    // A worker whose PATH has the PostgreSQL tools only: no mariadb-dump, no mysqldump.
    const bin = await mkdtemp(path.join(os.tmpdir(), 'bp-pg-only-'));
    try {
      const pgBin =
        spawnSync('pg_config', ['--bindir'], { encoding: 'utf8' }).stdout.trim() || '/usr/lib/postgresql/15/bin';
      for (const tool of ['pg_dump', 'pg_restore']) await symlink(path.join(pgBin, tool), path.join(bin, tool));
      const { token } = await signup(stack);
      const site = await setUpEngineSite(stack, token, {
        backupsDir: path.join(stack.tmp, 'pg-only'),
        servers: {},
        env: { PATH: bin },
      });
      const seen = await stack.api('GET', `/api/v1/sites/${site.site.id}`, { token });
      assert.equal(seen.status, 200);
      // MongoDB needs no tool at the site (the driver is part of the worker).
      assert.deepEqual(
        seen.body.engines,
        ['postgresql', 'sqlite', 'mongodb'],
        'the worker reported the engines it has tools for',
      );
      assert.ok(seen.body.checkedInAt);

      const refused = await stack.api('POST', '/api/v1/servers', {
        token,
        body: { siteId: site.site.id, name: 'shop-db', engine: 'mariadb' },
      });
      assert.equal(refused.status, 400, JSON.stringify(refused.body));
      assert.deepEqual(
        refused.body.error.issues.map((i: { field: string }) => i.field),
        ['engine'],
      );
      assert.match(refused.body.error.message, /cannot back up mariadb/);
      assert.deepEqual(
        (await stack.api('GET', `/api/v1/servers?siteId=${site.site.id}`, { token })).body.items,
        [],
        'nothing saved',
      );

      for (const engine of ['postgresql', 'sqlite']) {
        const ok = await stack.api('POST', '/api/v1/servers', {
          token,
          body: { siteId: site.site.id, name: `${engine}-db`, engine },
        });
        assert.equal(ok.status, 201, JSON.stringify(ok.body));
      }
      // A worker with every tool serves every engine.
      const full = await setUpEngineSite(stack, token, {
        backupsDir: path.join(stack.tmp, 'all-tools'),
        servers: { maria: { engine: 'mariadb', host: '127.0.0.1', port: 3306, user: 'root' } },
      });
      assert.deepEqual((await stack.api('GET', `/api/v1/sites/${full.site.id}`, { token })).body.engines, [
        'postgresql',
        'mariadb',
        'sqlite',
        'mongodb',
      ]);
    } finally {
      await rm(bin, { recursive: true, force: true });
    }
  });
});
