// Issue 23 (faults): a restore whose site worker dies (SIGKILL) while the restore tool runs. The tool outlives the
// worker; the retry on a new worker recognises what it finished (or stops it and starts over), the restore ends
// succeeded with the complete data, and no staging database stays behind. A database the restore did not make is
// still refused, and the sweep removes only the platform's old scratch databases.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import postgres from 'postgres';
import { mariadbQuery } from '../activities/engines/mariadb-sql.ts';
import { restoreTag } from '../activities/engines/restore-mark.ts';
import { PG_HOST, PG_PORT, PG_USER } from '../ops/services/pg.ts';
import { mariadbFingerprint, pgFingerprint } from './helpers/engine-data.ts';
import { activityPayloads, createConfig, createShopDatabase, runNowAndWait } from './helpers/fixtures.ts';
import { signup, startStack, waitFor, type SiteWorkerProcess, type Stack } from './helpers/stack.ts';

const MARIADB = { engine: 'mariadb' as const, host: '127.0.0.1', port: 3306, user: 'root', password: undefined };
const maria = (database: string | undefined, sql: string) => mariadbQuery(MARIADB, database, sql);
const admin = () => postgres(`postgres://${PG_USER}@${PG_HOST}:${PG_PORT}/postgres`, { max: 1, onnotice: () => {} });

async function pgQuery<T>(fn: (sql: postgres.Sql) => Promise<T>): Promise<T> {
  const sql = admin();
  try {
    return await fn(sql);
  } finally {
    await sql.end();
  }
}

const dropPg = (name: string) => pgQuery((sql) => sql.unsafe(`drop database if exists "${name}" with (force)`));
const pgDatabases = (like: string) =>
  pgQuery(async (sql) => (await sql`select datname from pg_database where datname like ${like}`).map((r) => r.datname));

describe('restores that survive their site worker', () => {
  let stack: Stack;
  let token: string;
  let worker: SiteWorkerProcess;
  let siteConfig: Record<string, unknown>;
  let pgServer: { id: string };
  let mariaServer: { id: string };
  const cleanups: (() => Promise<unknown>)[] = [];

  before(async () => {
    stack = await startStack();
    ({ token } = await signup(stack));
    const site = (await stack.api('POST', '/api/v1/sites', { token, body: { name: 'faults' } })).body;
    siteConfig = {
      apiUrl: stack.baseUrl,
      siteKey: site.key as string,
      backupsDir: path.join(stack.tmp, 'faults-backups'),
      servers: {
        pg: { engine: 'postgresql', host: PG_HOST, port: PG_PORT, user: PG_USER },
        maria: { engine: 'mariadb', host: '127.0.0.1', port: 3306, user: 'root' },
      },
    };
    worker = await stack.startSiteWorker(siteConfig as never);
    const server = (name: string, engine: string) =>
      stack.api('POST', '/api/v1/servers', { token, body: { siteId: site.id, name, engine } }).then((r) => r.body);
    pgServer = await server('pg', 'postgresql');
    mariaServer = await server('maria', 'mariadb');
  });
  after(async () => {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
    await stack?.stop();
  });

  async function startRestore(body: Record<string, unknown>) {
    const started = await stack.api('POST', '/api/v1/restores', { token, body });
    assert.equal(started.status, 202, JSON.stringify(started.body));
    return started.body as { id: string; workflowId: string };
  }

  async function finished(restore: { id: string; workflowId: string }) {
    await stack.temporal.client.workflow
      .getHandle(restore.workflowId)
      .result()
      .catch(() => undefined);
    return (await stack.api('GET', `/api/v1/restores/${restore.id}`, { token })).body;
  }

  /** Kills the worker (its restore tool lives on, as after a crash) and starts another for the same site. */
  async function crashWorker(): Promise<number> {
    const pid = worker.child.pid!;
    await worker.kill();
    worker = await stack.startSiteWorker(siteConfig as never);
    return pid;
  }

  /** A PostgreSQL source whose restore spends a while building indexes once it has read all its input. */
  async function pgSource() {
    const source = await createShopDatabase({ customers: 2000, events: 200_000 });
    cleanups.push(() => source.drop());
    const sql = postgres(source.url, { max: 1, onnotice: () => {} });
    await sql.unsafe(`create index on events (payload); create index on events (kind, payload); create index on events (customer_id, payload, at);
      create index on events (md5(payload)); create index on events (payload, kind);`);
    await sql.end();
    const config = await createConfig(stack, token, { serverId: pgServer.id, databases: [source.name] });
    const [backup] = (await runNowAndWait(stack, token, config.id)) as any[];
    assert.equal(backup.status, 'succeeded', backup.error);
    return { source, backup, fingerprint: await pgFingerprint(source.name) };
  }

  /** Waits until the restore's pg_restore builds indexes: every row is in, the transaction not yet committed. */
  async function pgRestoreInPostData(restoreId: string) {
    const name = `bp-restore-${restoreTag(restoreId)}`;
    await waitFor(
      () =>
        pgQuery(async (sql) => {
          const rows = await sql`select query from pg_stat_activity where application_name = ${name}
            and (query ilike 'create index%' or query ilike '%add constraint%')`;
          return rows.length > 0;
        }),
      120_000,
      "pg_restore's index builds",
    );
  }

  /** How many sessions the restore's pg_restore has open on the server. */
  const toolSessions = (restoreId: string) =>
    pgQuery(
      async (sql) =>
        (
          await sql`select count(*)::int as n from pg_stat_activity where application_name = ${`bp-restore-${restoreTag(restoreId)}`}`
        )[0]!.n as number,
    );

  /** The restore activity's attempts and results: a retry that recognised the earlier attempt's finished work. */
  async function restoreActivity(workflowId: string) {
    const { attempts, results } = await activityPayloads(stack, workflowId, 'restore');
    return { attempts: Math.max(...attempts), result: results[0] };
  }

  it('PostgreSQL: pg_restore outlives its worker and commits; the retry recognises it and succeeds', async (t) => {
    const { source, backup, fingerprint } = await pgSource();
    const target = `${source.name}_crash`;
    cleanups.push(() => dropPg(target));
    const restore = await startRestore({ backupId: backup.id, targetServerId: pgServer.id, targetDatabase: target });
    await pgRestoreInPostData(restore.id);
    const killedAt = Date.now();
    await worker.kill();
    const orphan = await toolSessions(restore.id);
    worker = await stack.startSiteWorker(siteConfig as never);

    const row = await finished(restore);
    assert.equal(row.status, 'succeeded', row.error);
    t.diagnostic(
      `pg_restore sessions right after the kill: ${orphan}; crash to succeeded: ${Date.now() - killedAt} ms; recorded restoreSeconds ${row.restoreSeconds}`,
    );
    assert.deepEqual(await pgFingerprint(target), fingerprint, 'every table with every row');
    const { attempts, result } = await restoreActivity(restore.workflowId);
    assert.ok(attempts >= 2, 'the restore was retried after the crash');
    assert.equal(result.recovered, true, 'the retry kept what the first attempt finished');
    assert.deepEqual(await pgDatabases(`bp_restore_${restoreTag(restore.id)}%`), []);
  });

  it('PostgreSQL with overwrite: the staging database the dead attempt filled replaces the target; none is left', async () => {
    const { source, backup, fingerprint } = await pgSource();
    // The database moves on after the backup: the restore must bring back the backup's rows.
    const src = postgres(source.url, { max: 1, onnotice: () => {} });
    await src`delete from customers where id <= 100`;
    await src`create table later (id int primary key)`;
    await src.end();
    const restore = await startRestore({ backupId: backup.id, targetServerId: pgServer.id, overwrite: true });
    await pgRestoreInPostData(restore.id);
    assert.equal((await pgDatabases(`bp_restore_${restoreTag(restore.id)}%`)).length, 1, 'a staging database');
    await crashWorker();

    const row = await finished(restore);
    assert.equal(row.status, 'succeeded', row.error);
    assert.deepEqual(await pgFingerprint(source.name), fingerprint, "the backup's tables and rows, nothing later");
    assert.equal((await restoreActivity(restore.workflowId)).attempts >= 2, true);
    assert.deepEqual(await pgDatabases(`bp_restore_${restoreTag(restore.id)}%`), [], 'no staging database left');
  });

  it('a drill whose worker dies mid-restore passes on the retry and drops its scratch database', async () => {
    const source = await createShopDatabase({ customers: 2000, events: 200_000 });
    cleanups.push(() => source.drop());
    const sql = postgres(source.url, { max: 1, onnotice: () => {} });
    await sql.unsafe(`create index on events (payload); create index on events (kind, payload);
      create index on events (customer_id, payload, at); create index on events (md5(payload));`);
    await sql.end();
    const config = await createConfig(stack, token, {
      serverId: pgServer.id,
      databases: [source.name],
      drill: { schedule: { kind: 'daily', time: '05:00' }, tolerancePercent: 0, assertions: [] },
    });
    await runNowAndWait(stack, token, config.id);
    const started = await stack.api('POST', `/api/v1/configs/${config.id}/drill`, { token });
    assert.equal(started.status, 202);
    const drill = await waitFor(
      async () =>
        (await stack.api('GET', `/api/v1/restores?configId=${config.id}&kind=drill`, { token })).body.items[0],
      30_000,
      "the drill's row",
    );
    cleanups.push(() => dropPg(drill.targetDatabase));
    await pgRestoreInPostData(drill.id);
    await crashWorker();

    const result = await stack.temporal.client.workflow.getHandle(started.body.workflowId).result();
    assert.equal(result.ok, true, JSON.stringify(result));
    assert.equal((await restoreActivity(started.body.workflowId)).result.recovered, true);
    assert.deepEqual(await pgDatabases(drill.targetDatabase), [], 'the scratch database was dropped');
  });

  it('an overwrite cancelled after its worker died leaves the old database as it was and no staging database', async () => {
    const { source, backup } = await pgSource();
    const src = postgres(source.url, { max: 1, onnotice: () => {} });
    await src`delete from customers where id <= 100`;
    await src.end();
    const now = await pgFingerprint(source.name);
    const restore = await startRestore({ backupId: backup.id, targetServerId: pgServer.id, overwrite: true });
    await pgRestoreInPostData(restore.id);
    await worker.kill();
    // The dead worker's pg_restore dies too before it commits: its staging database is left half made.
    await pgQuery(
      (sql) =>
        sql`select pg_terminate_backend(pid) from pg_stat_activity where application_name = ${`bp-restore-${restoreTag(restore.id)}`}`,
    );
    assert.equal((await pgDatabases(`bp_restore_${restoreTag(restore.id)}%`)).length, 1, 'a staging database');
    assert.equal((await stack.api('POST', `/api/v1/restores/${restore.id}/cancel`, { token })).status, 202);
    worker = await stack.startSiteWorker(siteConfig as never);

    const row = await finished(restore);
    assert.equal(row.status, 'cancelled', row.error);
    assert.deepEqual(await pgFingerprint(source.name), now, 'the old database as it was');
    assert.deepEqual(await pgDatabases(`bp_restore_${restoreTag(restore.id)}%`), [], 'no staging database left');
  });

  it("MariaDB: the dead attempt's client is stopped, the retry restores again and succeeds", async () => {
    const name = `bp_mf_${randomUUID().replaceAll('-', '').slice(0, 10)}`;
    const target = `${name}_crash`;
    await maria(undefined, `CREATE DATABASE ${name}`);
    cleanups.push(() => maria(undefined, `DROP DATABASE IF EXISTS ${name}; DROP DATABASE IF EXISTS ${target}`));
    await maria(
      name,
      `CREATE TABLE small (id INT PRIMARY KEY, note VARCHAR(40)) ENGINE=InnoDB;
      INSERT INTO small SELECT seq, CONCAT('n', seq) FROM seq_1_to_1000;
      CREATE TABLE big (id INT PRIMARY KEY, payload VARCHAR(200), KEY (payload)) ENGINE=InnoDB;
      INSERT INTO big SELECT seq, REPEAT(MD5(seq), 6) FROM seq_1_to_300000;`,
    );
    const before = await mariadbFingerprint(name);
    const config = await createConfig(stack, token, { serverId: mariaServer.id, databases: [name] });
    const [backup] = (await runNowAndWait(stack, token, config.id)) as any[];
    assert.equal(backup.status, 'succeeded', backup.error);

    const restore = await startRestore({ backupId: backup.id, targetServerId: mariaServer.id, targetDatabase: target });
    const lock = `bp-restore-${restoreTag(restore.id)}`;
    // The client holds the restore's lock and has written part of the tables: the worker dies mid-restore.
    await waitFor(
      async () =>
        (await maria(undefined, `SELECT IS_USED_LOCK('${lock}')`))[0]?.[0] !== 'NULL' &&
        (
          await maria(undefined, `SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = '${target}'`)
        )[0]?.[0] !== '0',
      120_000,
      'the client restoring',
    );
    const pid = await crashWorker();
    const logins = async () => (await readdir(os.tmpdir())).filter((n) => n.startsWith(`bp-my-${pid}-`));
    // Left by the dead worker (password inside); any platform process's first MariaDB login sweeps the folders of dead
    // ones, so a site worker of another test file running beside this one may already have taken it.
    assert.ok((await logins()).length <= 1);

    const row = await finished(restore);
    assert.equal(row.status, 'succeeded', row.error);
    assert.deepEqual(await mariadbFingerprint(target), before, 'every table with every row');
    assert.deepEqual(await logins(), [], 'the next worker removed it');
    assert.ok((await restoreActivity(restore.workflowId)).attempts >= 2);
    assert.equal((await maria(undefined, `SELECT IS_USED_LOCK('${lock}')`))[0]?.[0], 'NULL', 'no client left');
  });

  it('a database with tables the restore did not write is refused, even one an earlier restore made', async () => {
    const source = await createShopDatabase({ customers: 50, events: 50 });
    cleanups.push(() => source.drop());
    const config = await createConfig(stack, token, { serverId: pgServer.id, databases: [source.name] });
    const [backup] = (await runNowAndWait(stack, token, config.id)) as any[];
    assert.equal(backup.status, 'succeeded', backup.error);

    const foreign = `${source.name}_foreign`;
    cleanups.push(() => dropPg(foreign));
    await pgQuery((sql) => sql.unsafe(`create database "${foreign}"`));
    const f = postgres(`postgres://${PG_USER}@${PG_HOST}:${PG_PORT}/${foreign}`, { max: 1, onnotice: () => {} });
    await f`create table theirs (id int primary key)`;
    await f`insert into theirs values (1), (2)`;
    await f.end();
    const refused = await finished(await startRestore({ backupId: backup.id, targetDatabase: foreign }));
    assert.equal(refused.status, 'failed');
    assert.match(refused.error, /has tables: restore into a new database name, or ask to overwrite/);
    assert.deepEqual(Object.keys(await pgFingerprint(foreign)), ['theirs'], 'their database as it was');
    assert.match((await pgFingerprint(foreign)).theirs!, /^2:/);

    const earlier = `${source.name}_earlier`;
    cleanups.push(() => dropPg(earlier));
    const first = await finished(await startRestore({ backupId: backup.id, targetDatabase: earlier }));
    assert.equal(first.status, 'succeeded', first.error);
    const second = await finished(await startRestore({ backupId: backup.id, targetDatabase: earlier }));
    assert.equal(second.status, 'failed');
    assert.match(second.error, /has tables/);
  });

  it("sweeps the platform's old scratch databases, keeps fresh ones and anything the platform did not make", async () => {
    const stamp = (d: Date) =>
      d
        .toISOString()
        .replace(/[^0-9]/g, '')
        .slice(0, 14);
    const old = new Date('2020-01-01T00:00:00.000Z');
    const mark = (kind: string, id: string, at: Date) => `backup-platform ${kind} ${id} at ${at.toISOString()}`;
    const ids = Array.from({ length: 3 }, () => randomUUID());
    const suffix = randomUUID().replaceAll('-', '').slice(0, 8);
    const dbs: { name: string; comment?: string; table?: boolean; gone: boolean }[] = [
      { name: `bp_restore_${restoreTag(ids[0]!)}_${stamp(old)}`, comment: mark('restore', ids[0]!, old), gone: true },
      {
        name: `bp_restore_${restoreTag(ids[1]!)}_${stamp(new Date())}`,
        comment: mark('restore', ids[1]!, new Date()),
        gone: false,
      },
      // Named like the platform's, not marked by it.
      { name: `bp_restore_${restoreTag(ids[2]!)}_${stamp(old)}`, table: true, gone: false },
      { name: `bp_fx${suffix}_drill_${stamp(old)}`, comment: mark('drill', ids[2]!, old), gone: true },
      // A restore's target that happens to be named like a drill's scratch.
      { name: `bp_fy${suffix}_drill_${stamp(old)}`, comment: mark('restore', ids[2]!, old), gone: false },
    ];
    for (const d of dbs) {
      cleanups.push(() => dropPg(d.name));
      await pgQuery(async (sql) => {
        await sql.unsafe(`create database "${d.name}"`);
        if (d.comment) await sql.unsafe(`comment on database "${d.name}" is '${d.comment}'`);
        return {};
      });
      if (d.table) {
        const t = postgres(`postgres://${PG_USER}@${PG_HOST}:${PG_PORT}/${d.name}`, { max: 1, onnotice: () => {} });
        await t`create table data (id int)`;
        await t.end();
      }
    }
    const source = await createShopDatabase({ customers: 20, events: 20 });
    cleanups.push(() => source.drop());
    const config = await createConfig(stack, token, { serverId: pgServer.id, databases: [source.name] });
    const [backup] = (await runNowAndWait(stack, token, config.id)) as any[];
    cleanups.push(() => dropPg(`${source.name}_swept`));
    const r = await finished(await startRestore({ backupId: backup.id, targetDatabase: `${source.name}_swept` }));
    assert.equal(r.status, 'succeeded', r.error);

    const left = new Set(await pgDatabases('bp_%'));
    for (const d of dbs) assert.equal(!left.has(d.name), d.gone, `${d.name} ${d.gone ? 'dropped' : 'kept'}`);
  });
});
