// Issue 20, every database of a server: `databases: "*"` backs up what the server has on each run, less the
// exclusions; a database made between runs is picked up, and one that was dropped is reported once.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import postgres from 'postgres';
import { createTempDatabase, pgUrl, startPrivatePostgres, type PrivatePostgres } from '../ops/services/pg.ts';
import { createConfig, runNowAndWait, startWebhook } from './helpers/fixtures.ts';
import { setUpEngineSite } from './helpers/engine-sites.ts';
import {
  createMariadbUser,
  createTempMariadbDatabase,
  mariadbAdmin,
  MARIADB_HOST,
  MARIADB_PORT,
} from './helpers/mariadb.ts';
import { settleAll, signup, startStack, waitFor, type Stack } from './helpers/stack.ts';

type Row = { database: string; status: string; workflowId: string; tableCounts?: { table: string; rows: number }[] };

/** The row count the backup recorded for `table` of `database` (its newest row). */
const rowsOf = (rows: Row[], database: string, table: string) =>
  rows.find((r) => r.database === database)?.tableCounts?.find((t) => t.table === table)?.rows;

/** The rows of one run (by workflow id), as database → status. */
function runRows(rows: Row[], workflowId: string): Record<string, string> {
  return Object.fromEntries(
    rows
      .filter((r) => r.workflowId === workflowId)
      .map((r) => [r.database, r.status])
      .sort(([a], [b]) => a!.localeCompare(b!)),
  );
}

/** When each configuration was last run, to the second. */
const lastRun = new Map<string, number>();

/**
 * Run now and wait for `expected` rows; a timeout says which rows there were, and why. A run's workflow id carries
 * its start to the second, and a second run-now within the same second would take the same id (and rows): the
 * next run waits for the next second.
 */
async function runAndWait(stack: Stack, token: string, configId: string, expected: number): Promise<Row[]> {
  const second = () => Math.floor(Date.now() / 1000);
  await waitFor(() => second() > (lastRun.get(configId) ?? 0), 5_000, 'the next second');
  lastRun.set(configId, second());
  try {
    return (await runNowAndWait(stack, token, configId, expected)) as Row[];
  } catch (err) {
    const { body } = await stack.api('GET', `/api/v1/backups?configId=${configId}`, { token });
    const seen = (body.items as { database: string; status: string; error?: string }[]).map(
      (r) => `${r.database} ${r.status} ${r.error ?? ''}`,
    );
    throw new Error(`${(err as Error).message}; rows: ${seen.join(' | ')}`);
  }
}

/** The workflow ids of the runs, oldest first, from the history rows (newest first). */
const runIds = (rows: Row[]) => [...new Set(rows.map((r) => r.workflowId))].reverse();

describe('databases "*": every database of a server', () => {
  let stack: Stack;
  let pg: PrivatePostgres;
  let hook: Awaited<ReturnType<typeof startWebhook>>;

  before(async () => {
    await settleAll([
      startStack().then((x) => (stack = x)),
      startPrivatePostgres().then((x) => (pg = x)),
      startWebhook().then((x) => (hook = x)),
    ]);
  });
  after(async () => {
    await hook?.stop();
    await pg?.stop();
    await stack?.stop();
  });

  it('is validated: "*" alone, and exclusions only beside it (400 with the field)', async () => {
    const { token } = await signup(stack);
    const server = (
      await stack.api('POST', '/api/v1/servers', {
        token,
        body: {
          siteId: (await stack.api('POST', '/api/v1/sites', { token, body: { name: 'v-site' } })).body.id,
          name: 'pg',
          engine: 'postgresql',
        },
      })
    ).body;
    const base = { name: 'v', serverId: server.id, schedule: { kind: 'daily', time: '03:00' }, timezone: 'UTC' };
    const post = (body: Record<string, unknown>) => stack.api('POST', '/api/v1/configs', { token, body });
    const issues = (res: { body: any }) =>
      (res.body.error.issues as { field: string; reason: string }[]).map((i) => `${i.field}: ${i.reason}`).join('; ');

    const mixed = await post({ ...base, databases: ['*', 'shop'] });
    assert.equal(mixed.status, 400);
    assert.match(issues(mixed), /databases: either "\*" alone/);
    const listWithExclusions = await post({ ...base, databases: ['shop'], excludeDatabases: ['crm'] });
    assert.equal(listWithExclusions.status, 400);
    assert.match(issues(listWithExclusions), /excludeDatabases: only with databases "\*"/);
    const badName = await post({ ...base, databases: '*', excludeDatabases: ['no spaces'] });
    assert.equal(badName.status, 400);
    assert.match(issues(badName), /excludeDatabases\.0: a database name/);

    // "*" and ["*"] are one thing, stored as ["*"]; a PATCH to a list keeps exclusions only if "*" stays.
    const ok = await post({ ...base, databases: '*', excludeDatabases: ['crm'] });
    assert.equal(ok.status, 201, JSON.stringify(ok.body));
    assert.deepEqual(ok.body.databases, ['*']);
    assert.deepEqual(ok.body.excludeDatabases, ['crm']);
    const toList = await stack.api('PATCH', `/api/v1/configs/${ok.body.id}`, { token, body: { databases: ['shop'] } });
    assert.equal(toList.status, 400);
    assert.match(issues(toList), /excludeDatabases: only with databases "\*"/);
    const both = await stack.api('PATCH', `/api/v1/configs/${ok.body.id}`, {
      token,
      body: { databases: ['shop'], excludeDatabases: [] },
    });
    assert.equal(both.status, 200, JSON.stringify(both.body));
    assert.deepEqual(both.body.databases, ['shop']);
  });

  it('PostgreSQL: backs up each database but the excluded, picks up a new one, reports a dropped one once', async () => {
    const { token } = await signup(stack);
    assert.equal((await stack.api('PATCH', '/api/v1/tenant', { token, body: { webhookUrl: hook.url } })).status, 200);
    const made = (prefix: string) => createTempDatabase(prefix, pg.port, pg.user, pg.password);
    const [a, b, skipped] = await Promise.all([made('bp_all_a'), made('bp_all_b'), made('bp_all_skip')]);
    const admin = postgres(pgUrl(a.name, pg.port, pg.user, pg.password), { max: 1, onnotice: () => {} });
    await admin.unsafe('create table items (id int primary key); insert into items select generate_series(1, 7)');
    await admin.end();

    const site = await setUpEngineSite(stack, token, {
      backupsDir: path.join(stack.tmp, 'all-pg'),
      servers: {
        pg: { engine: 'postgresql', host: '127.0.0.1', port: pg.port, user: pg.user, password: pg.password },
      },
    });
    try {
      const config = await createConfig(stack, token, {
        serverId: site.servers.pg!.id,
        databases: '*',
        excludeDatabases: [skipped.name],
      });

      // Run 1: the private cluster has a and b (and the excluded one; postgres and the templates are left out).
      let rows = await runAndWait(stack, token, config.id, 2);
      const [run1] = runIds(rows);
      assert.deepEqual(runRows(rows, run1!), { [a.name]: 'succeeded', [b.name]: 'succeeded' });
      assert.equal(rowsOf(rows, a.name, 'public.items'), 7);

      // Run 2: c is new, b was dropped: c is backed up, b reported. A database whose name is no path the platform
      // can store (it would climb out of the site's Backups folder) is left out, not dumped.
      const c = await made('bp_all_c');
      await b.drop();
      const hostile = `../${path.basename(c.name)}_x`;
      const server = postgres(pgUrl('postgres', pg.port, pg.user, pg.password), { max: 1, onnotice: () => {} });
      await server.unsafe(`create database "${hostile}"`);
      rows = await runAndWait(stack, token, config.id, 4);
      const run2 = runIds(rows)[1]!;
      assert.deepEqual(runRows(rows, run2), { [a.name]: 'succeeded', [c.name]: 'succeeded' });
      await server.unsafe(`drop database "${hostile}"`);
      await server.end();
      const vanished = () => hook.received.filter((x) => x.type === 'database.vanished');
      assert.equal(vanished().length, 1, JSON.stringify(hook.received));
      assert.equal(vanished()[0]!.database, b.name);
      assert.match(vanished()[0]!.message, /no longer on server 'pg'/);
      assert.equal(hook.received.filter((x) => x.type === 'backup.failed').length, 0);

      // Run 3: b is still gone and not reported again.
      rows = await runAndWait(stack, token, config.id, 6);
      const run3 = runIds(rows)[2]!;
      assert.deepEqual(runRows(rows, run3), { [a.name]: 'succeeded', [c.name]: 'succeeded' });
      assert.equal(vanished().length, 1);

      // Retention is per database, whatever the server has now: keep 2 deletes a's oldest only, and the dropped
      // database's one backup stays.
      const preview = await stack.api('POST', `/api/v1/configs/${config.id}/retention-preview`, {
        token,
        body: { retention: { keepLast: 2 } },
      });
      assert.equal(preview.status, 200, JSON.stringify(preview.body));
      assert.deepEqual(
        preview.body.delete.map((d: { database: string }) => d.database),
        [a.name],
      );
      assert.ok(preview.body.keep.some((k: { database: string }) => k.database === b.name));
      // A drill checks the databases backed up that the server still has: not the dropped one, nor the excluded.
      const drill = await stack.api('POST', `/api/v1/configs/${config.id}/drill`, { token });
      assert.equal(drill.status, 202, JSON.stringify(drill.body));
      const drilled = await stack.temporal.client.workflow.getHandle(drill.body.workflowId).result();
      assert.deepEqual(
        drilled.databases.map((d: { database: string; ok: boolean }) => `${d.database} ${d.ok}`),
        [`${a.name} true`, `${c.name} true`],
        JSON.stringify(drilled),
      );
      await c.drop();
    } finally {
      await site.worker.stop();
      await Promise.all([a.drop(), skipped.drop()]);
    }
  });

  it('a server whose databases cannot be listed fails the run once, with a history row for "*" and an alert', async () => {
    const { token } = await signup(stack);
    assert.equal((await stack.api('PATCH', '/api/v1/tenant', { token, body: { webhookUrl: hook.url } })).status, 200);
    const site = await setUpEngineSite(stack, token, {
      backupsDir: path.join(stack.tmp, 'all-locked'),
      servers: {
        locked: { engine: 'postgresql', host: '127.0.0.1', port: pg.port, user: pg.user, password: 'not-the-password' },
      },
    });
    try {
      const config = await createConfig(stack, token, { serverId: site.servers.locked!.id, databases: '*' });
      const rows = await runAndWait(stack, token, config.id, 1);
      assert.equal(rows.length, 1);
      assert.equal(rows[0]!.database, '*');
      assert.equal(rows[0]!.status, 'failed');
      const row = rows[0] as Row & { error: string };
      assert.match(row.error, /could not list the databases of server 'locked': .*refused the login/);
      assert.ok(hook.received.some((x) => x.type === 'backup.failed' && x.configId === config.id));
    } finally {
      await site.worker.stop();
    }
  });

  it('MariaDB: backs up the databases the server shows its login, then one made between runs', async () => {
    const { token } = await signup(stack);
    // The machine's server holds other tests' databases: this login sees only the test's own (and the system ones).
    const [m1, m2] = await Promise.all([
      createTempMariadbDatabase('bp_all_m1'),
      createTempMariadbDatabase('bp_all_m2'),
    ]);
    const m3 = `${m1.name.slice(0, 40)}_m3`;
    const login = await createMariadbUser([m1.name, m2.name, m3]);
    await mariadbAdmin('CREATE TABLE t (id INT PRIMARY KEY); INSERT INTO t VALUES (1), (2);', m1.name);
    const site = await setUpEngineSite(stack, token, {
      backupsDir: path.join(stack.tmp, 'all-mariadb'),
      servers: {
        maria: {
          engine: 'mariadb',
          host: MARIADB_HOST,
          port: MARIADB_PORT,
          user: login.user,
          password: login.password,
        },
      },
    });
    try {
      const config = await createConfig(stack, token, { serverId: site.servers.maria!.id, databases: ['*'] });
      let rows = await runAndWait(stack, token, config.id, 2);
      assert.deepEqual(runRows(rows, runIds(rows)[0]!), { [m1.name]: 'succeeded', [m2.name]: 'succeeded' });
      assert.equal(rowsOf(rows, m1.name, 't'), 2);

      await mariadbAdmin(`CREATE DATABASE \`${m3}\`;`);
      rows = await runAndWait(stack, token, config.id, 5);
      assert.deepEqual(runRows(rows, runIds(rows)[1]!), {
        [m1.name]: 'succeeded',
        [m2.name]: 'succeeded',
        [m3]: 'succeeded',
      });
    } finally {
      await site.worker.stop();
      await Promise.all([m1.drop(), m2.drop(), mariadbAdmin(`DROP DATABASE IF EXISTS \`${m3}\`;`), login.drop()]);
    }
  });
});
