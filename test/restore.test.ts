// Issue 5: restores that are proven. Backup → drop → restore gives the same data on PostgreSQL and MariaDB; a corrupt
// copy is caught by verification and refused by restore, which uses another good copy; drills pass on good backups
// and fail, with an alert naming the check, on bad ones; a schedule that stopped producing backups raises an alert.
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { eq } from 'drizzle-orm';
import postgres from 'postgres';
import { MockActivityEnvironment } from '@temporalio/testing';
import { backupConfigs, backups, restores } from '../db/schema.ts';
import { createLogger } from '../common/logger.ts';
import { mariadbQuery } from '../activities/engines/mariadb-sql.ts';
import { mariadbFingerprint, pgFingerprint } from './helpers/engine-data.ts';
import {
  createBulkyDatabase,
  createConfig,
  createShopDatabase,
  runNowAndWait,
  startWebhook,
} from './helpers/fixtures.ts';
import { PG_HOST, PG_PORT, PG_USER } from '../ops/services/pg.ts';
import { LogCapture, settleAll, signup, startStack, waitFor, type Stack } from './helpers/stack.ts';
// After the stack: the API it loads extends zod for OpenAPI before anything builds a schema with it.
import { createCentralActivities } from '../activities/central/index.ts';
import type { RunTuning } from '../activities/contracts.ts';

const MARIADB = { engine: 'mariadb' as const, host: '127.0.0.1', port: 3306, user: 'root', password: undefined };
const maria = (database: string | undefined, sql: string) => mariadbQuery(MARIADB, database, sql);

describe('restores, verification, drills, missed backups', () => {
  let stack: Stack;
  let webhook: Awaited<ReturnType<typeof startWebhook>>;
  const cleanups: (() => Promise<unknown>)[] = [];

  before(async () => {
    await settleAll([startStack().then((x) => (stack = x)), startWebhook().then((x) => (webhook = x))]);
  });
  after(async () => {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
    await Promise.all([stack?.stop(), webhook?.stop()]);
  });

  /** A tenant with one site that has a PostgreSQL and a MariaDB server and a local NAS destination. */
  async function tenantWithSite(name: string) {
    const { token, tenantId } = await signup(stack);
    await stack.api('PATCH', '/api/v1/tenant', { token, body: { webhookUrl: webhook.url } });
    const site = (await stack.api('POST', '/api/v1/sites', { token, body: { name } })).body;
    const backupsDir = path.join(stack.tmp, `${name}-backups`);
    const nas = path.join(stack.tmp, `${name}-nas`);
    const siteConfig = {
      apiUrl: stack.baseUrl,
      siteKey: site.key as string,
      backupsDir,
      servers: {
        pg: { engine: 'postgresql' as const, host: PG_HOST, port: PG_PORT, user: PG_USER },
        maria: { engine: 'mariadb' as const, host: '127.0.0.1', port: 3306, user: 'root' },
      },
      destinations: { nas: { type: 'local' as const, path: nas } },
    };
    await stack.startSiteWorker(siteConfig);
    const pg = (
      await stack.api('POST', '/api/v1/servers', { token, body: { siteId: site.id, name: 'pg', engine: 'postgresql' } })
    ).body;
    const mdb = (
      await stack.api('POST', '/api/v1/servers', { token, body: { siteId: site.id, name: 'maria', engine: 'mariadb' } })
    ).body;
    const dest = (
      await stack.api('POST', '/api/v1/destinations', { token, body: { siteId: site.id, name: 'nas', kind: 'local' } })
    ).body;
    return { token, tenantId, site, pg, mdb, dest, backupsDir, nas };
  }

  async function restoreAndWait(token: string, body: Record<string, unknown>) {
    const started = await stack.api('POST', '/api/v1/restores', { token, body });
    assert.equal(started.status, 202, JSON.stringify(started.body));
    await stack.temporal.client.workflow
      .getHandle(started.body.workflowId)
      .result()
      .catch(() => undefined);
    return (await stack.api('GET', `/api/v1/restores/${started.body.id}`, { token })).body;
  }

  it('PostgreSQL: backup, drop the database, restore it; and restore beside it under a new name', async () => {
    const t = await tenantWithSite('pg-site');
    const source = await createShopDatabase({ customers: 2000, events: 5000 });
    cleanups.push(() => source.drop());
    const before = await pgFingerprint(source.name);
    const config = await createConfig(stack, t.token, { serverId: t.pg.id, databases: [source.name] });
    const [backup] = (await runNowAndWait(stack, t.token, config.id)) as any[];
    assert.equal(backup.status, 'succeeded', backup.error);
    assert.deepEqual(Object.fromEntries((backup.tableCounts as any[]).map((c) => [c.table, c.rows])), {
      'public.customers': 2000,
      'public.events': 5000,
    });

    await source.drop();
    const restored = await restoreAndWait(t.token, { backupId: backup.id });
    assert.equal(restored.status, 'succeeded', restored.error);
    assert.equal(restored.copyTarget, 'site');
    assert.ok(restored.restoreSeconds > 0);
    assert.deepEqual(await pgFingerprint(source.name), before, 'every table has the same rows');

    // Beside the original, under another name; and the original is refused without overwrite.
    const beside = `${source.name}_copy`;
    cleanups.push(() => dropPg(beside));
    const copy = await restoreAndWait(t.token, { backupId: backup.id, targetDatabase: beside });
    assert.equal(copy.status, 'succeeded', copy.error);
    assert.deepEqual(await pgFingerprint(beside), before);
    const refused = await restoreAndWait(t.token, { backupId: backup.id });
    assert.equal(refused.status, 'failed');
    assert.match(refused.error, /has tables: restore into a new database name, or ask to overwrite/);
    const replaced = await restoreAndWait(t.token, { backupId: backup.id, overwrite: true });
    assert.equal(replaced.status, 'succeeded', replaced.error);

    // Watched and listed by operators, not by viewers or other tenants.
    const list = await stack.api('GET', `/api/v1/restores?configId=${config.id}`, { token: t.token });
    assert.equal(list.body.items.length, 4);
    assert.ok(
      list.body.items.every((r: any) => r.requestedBy),
      'who asked is recorded',
    );
    const other = await signup(stack);
    assert.equal((await stack.api('GET', `/api/v1/restores/${restored.id}`, { token: other.token })).status, 404);
    assert.equal(
      (await stack.api('POST', '/api/v1/restores', { token: other.token, body: { backupId: backup.id } })).status,
      404,
    );
  });

  it('restores at another site, from the off-site copy both sites can reach', async () => {
    const t = await tenantWithSite('site-east');
    const source = await createShopDatabase({ customers: 300, events: 400 });
    cleanups.push(() => source.drop());
    const before = await pgFingerprint(source.name);
    const config = await createConfig(stack, t.token, {
      serverId: t.pg.id,
      databases: [source.name],
      destinations: [{ destinationId: t.dest.id, retention: { keepLast: 3 } }],
    });
    const [backup] = (await runNowAndWait(stack, t.token, config.id)) as any[];
    assert.equal(backup.status, 'succeeded', backup.error);

    // A second site (the standby), whose worker has the same NAS under the same name, and its own PostgreSQL server.
    const west = (await stack.api('POST', '/api/v1/sites', { token: t.token, body: { name: 'site-west' } })).body;
    await stack.startSiteWorker({
      apiUrl: stack.baseUrl,
      siteKey: west.key,
      backupsDir: path.join(stack.tmp, 'site-west-backups'),
      servers: { standby: { engine: 'postgresql', host: PG_HOST, port: PG_PORT, user: PG_USER } },
      destinations: { nas: { type: 'local', path: t.nas } },
    });
    const standby = (
      await stack.api('POST', '/api/v1/servers', {
        token: t.token,
        body: { siteId: west.id, name: 'standby', engine: 'postgresql' },
      })
    ).body;
    const target = `${source.name}_west`;
    cleanups.push(() => dropPg(target));
    const restored = await restoreAndWait(t.token, {
      backupId: backup.id,
      targetServerId: standby.id,
      targetDatabase: target,
    });
    assert.equal(restored.status, 'succeeded', restored.error);
    assert.equal(restored.copyTarget, 'nas', "the east site's own folder is not readable from the west");
    assert.equal(restored.targetSiteId, west.id);
    assert.deepEqual(await pgFingerprint(target), before);
  });

  it('a running restore can be watched and cancelled; the database it was creating is removed', async () => {
    const t = await tenantWithSite('cancel-site');
    const source = await createBulkyDatabase(6000);
    cleanups.push(() => source.drop());
    const config = await createConfig(stack, t.token, {
      serverId: t.pg.id,
      databases: [source.name],
      destinations: [{ destinationId: t.dest.id, retention: { keepLast: 3 } }],
    });
    const [backup] = (await runNowAndWait(stack, t.token, config.id)) as any[];
    assert.equal(backup.status, 'succeeded', backup.error);

    // A standby site reads the NAS copy through a slow link, so the restore is still running when it is cancelled.
    const slow = (await stack.api('POST', '/api/v1/sites', { token: t.token, body: { name: 'slow-site' } })).body;
    await stack.startSiteWorker({
      apiUrl: stack.baseUrl,
      siteKey: slow.key,
      backupsDir: path.join(stack.tmp, 'slow-backups'),
      servers: { standby: { engine: 'postgresql', host: PG_HOST, port: PG_PORT, user: PG_USER } },
      destinations: { nas: { type: 'local', path: t.nas, maxBytesPerSecond: Math.ceil(backup.sizeBytes / 8) } },
    });
    const standby = (
      await stack.api('POST', '/api/v1/servers', {
        token: t.token,
        body: { siteId: slow.id, name: 'standby', engine: 'postgresql' },
      })
    ).body;
    const target = `${source.name}_cancelled`;
    cleanups.push(() => dropPg(target));
    const started = await stack.api('POST', '/api/v1/restores', {
      token: t.token,
      body: { backupId: backup.id, targetServerId: standby.id, targetDatabase: target },
    });
    assert.equal(started.status, 202);
    const watching = await waitFor(
      async () => {
        const w = (await stack.api('GET', `/api/v1/restores/${started.body.id}`, { token: t.token })).body;
        return w.progress?.phase === 'restore' && w.progress.bytes > 0 ? w : undefined;
      },
      60_000,
      'the restore to be streaming',
    );
    assert.equal(watching.status, 'running');
    assert.equal(watching.progress.step, 'restore');
    assert.ok(watching.progress.bytes < backup.sizeBytes, 'part of the copy is read');
    assert.equal(watching.progress.sizeBytes, backup.sizeBytes);
    assert.equal(
      (await stack.api('POST', `/api/v1/restores/${started.body.id}/cancel`, { token: t.token })).status,
      202,
    );
    const ended = await waitFor(
      async () => {
        const w = (await stack.api('GET', `/api/v1/restores/${started.body.id}`, { token: t.token })).body;
        return w.status !== 'running' ? w : undefined;
      },
      60_000,
      'the restore to stop',
    );
    assert.equal(ended.status, 'cancelled', ended.error);
    const sql = postgres(`postgres://${PG_USER}@${PG_HOST}:${PG_PORT}/postgres`, { max: 1 });
    const exists = await sql`select 1 from pg_database where datname = ${target}`;
    await sql.end();
    assert.equal(exists.length, 0, 'the half-restored database is gone');
    assert.equal(
      (await stack.api('POST', `/api/v1/restores/${started.body.id}/cancel`, { token: t.token })).status,
      409,
    );
  });

  it('MariaDB: backup, drop the database, restore it with the same data; and beside it under a new name', async () => {
    const t = await tenantWithSite('maria-site');
    const name = `bp_m_${Math.random().toString(36).slice(2, 10)}`;
    await maria(undefined, `CREATE DATABASE ${name}`);
    cleanups.push(() => maria(undefined, `DROP DATABASE IF EXISTS ${name}; DROP DATABASE IF EXISTS ${name}_copy`));
    await maria(
      name,
      `CREATE TABLE people (id INT PRIMARY KEY, name VARCHAR(100) CHARACTER SET utf8mb4, balance DECIMAL(12,2), born DATETIME, doc JSON, photo BLOB, note TEXT NULL) ENGINE=InnoDB;
      CREATE TABLE orders (id BIGINT PRIMARY KEY AUTO_INCREMENT, person_id INT, total DOUBLE, at TIMESTAMP NULL) ENGINE=InnoDB;
      INSERT INTO people SELECT seq, CONCAT('Zoë ', seq, ' ✓'), seq * 1.25, '2020-01-01' + INTERVAL seq HOUR, JSON_OBJECT('k', seq), UNHEX(MD5(seq)), IF(seq % 3 = 0, NULL, 'n') FROM seq_1_to_3000;
      INSERT INTO orders (person_id, total, at) SELECT seq % 3000, seq / 7, '2021-06-01' + INTERVAL seq MINUTE FROM seq_1_to_4000;`,
    );
    const before = await mariadbFingerprint(name);
    const config = await createConfig(stack, t.token, { serverId: t.mdb.id, databases: [name] });
    const [backup] = (await runNowAndWait(stack, t.token, config.id)) as any[];
    assert.equal(backup.status, 'succeeded', backup.error);
    assert.match(backup.fileName, /\.sql\.zst$/);

    await maria(undefined, `DROP DATABASE ${name}`);
    const restored = await restoreAndWait(t.token, { backupId: backup.id });
    assert.equal(restored.status, 'succeeded', restored.error);
    assert.deepEqual(await mariadbFingerprint(name), before);
    const copy = await restoreAndWait(t.token, { backupId: backup.id, targetDatabase: `${name}_copy` });
    assert.equal(copy.status, 'succeeded', copy.error);
    assert.deepEqual(await mariadbFingerprint(`${name}_copy`), before);
    // A MariaDB dump cannot go into a PostgreSQL server.
    const wrong = await stack.api('POST', '/api/v1/restores', {
      token: t.token,
      body: { backupId: backup.id, targetServerId: t.pg.id },
    });
    assert.equal(wrong.status, 400);
    assert.equal(wrong.body.error.issues[0].field, 'targetServerId');
  });

  it('verification marks a corrupt copy and alerts; restore refuses a corrupt copy and uses another good one', async () => {
    const t = await tenantWithSite('verify-site');
    const source = await createShopDatabase({ customers: 500, events: 1000 });
    cleanups.push(() => source.drop());
    const config = await createConfig(stack, t.token, {
      serverId: t.pg.id,
      databases: [source.name],
      destinations: [{ destinationId: t.dest.id, retention: { keepLast: 3 } }],
    });
    const [backup] = (await runNowAndWait(stack, t.token, config.id)) as any[];
    assert.equal(backup.status, 'succeeded', backup.error);
    const siteFile = path.join(t.backupsDir, 'pg', source.name, backup.fileName);
    const nasFile = path.join(t.nas, t.tenantId, t.site.id, 'pg', source.name, backup.fileName);
    const flip = async (file: string) => {
      const bytes = await readFile(file);
      bytes[bytes.length >> 1]! ^= 0x01;
      await writeFile(file, bytes);
    };

    // Restore meets the damaged site copy first: it refuses it before touching the target, and takes the NAS copy.
    await flip(siteFile);
    const alertsBefore = webhook.received.length;
    const restored = await restoreAndWait(t.token, { backupId: backup.id, targetDatabase: `${source.name}_r` });
    cleanups.push(() => dropPg(`${source.name}_r`));
    assert.equal(restored.status, 'succeeded', restored.error);
    assert.equal(restored.copyTarget, 'nas');
    let copies = Object.fromEntries(
      ((await stack.api('GET', `/api/v1/backups/${backup.id}/copies`, { token: t.token })).body.items as any[]).map(
        (c) => [c.target, c],
      ),
    );
    assert.equal(copies['site'].state, 'corrupt');
    assert.ok(
      webhook.received
        .slice(alertsBefore)
        .some((a) => a.type === 'copy.corrupt' && /refused the copy at site/.test(a.message)),
    );

    // Verification reads the NAS copy to the end; damaged, it is marked corrupt with the time, and alerts.
    await flip(nasFile);
    const v = await stack.api('POST', `/api/v1/configs/${config.id}/verify`, { token: t.token });
    assert.equal(v.status, 202);
    const result = await stack.temporal.client.workflow.getHandle(v.body.workflowId).result();
    assert.equal(result.corrupt.length, 2);
    copies = Object.fromEntries(
      ((await stack.api('GET', `/api/v1/backups/${backup.id}/copies`, { token: t.token })).body.items as any[]).map(
        (c) => [c.target, c],
      ),
    );
    assert.equal(copies['nas'].state, 'corrupt');
    assert.ok(copies['nas'].checkedAt);
    assert.equal(copies['nas'].events.at(-1).event, 'corrupt');
    await waitFor(
      () =>
        webhook.received.find((a) => a.type === 'copy.corrupt' && /verification found 2 bad copies/.test(a.message)),
      30_000,
      'the verification alert',
    );
    // No good copy left: restore says so and touches nothing.
    const none = await restoreAndWait(t.token, { backupId: backup.id, targetDatabase: `${source.name}_none` });
    assert.equal(none.status, 'failed');
    assert.match(none.error, /no stored copy/);
  });

  it('a drill passes on a good backup, records its restore time, and fails with an alert naming the check', async () => {
    const t = await tenantWithSite('drill-site');
    const source = await createShopDatabase({ customers: 800, events: 1200 });
    cleanups.push(() => source.drop());
    const config = await createConfig(stack, t.token, {
      serverId: t.pg.id,
      databases: [source.name],
      drill: {
        schedule: { kind: 'daily', time: '05:00' },
        tolerancePercent: 0,
        assertions: [
          'select count(*) = 800 from customers',
          "select bool_and(email like '%@example.test') from customers",
        ],
      },
    });
    const drillSchedule = await stack.temporal.client.schedule.getHandle(`drill-config-${config.id}`).describe();
    assert.equal(drillSchedule.action.type === 'startWorkflow' && drillSchedule.action.workflowType, 'drillWorkflow');
    await runNowAndWait(stack, t.token, config.id);

    const drillNow = async () => {
      const res = await stack.api('POST', `/api/v1/configs/${config.id}/drill`, { token: t.token });
      assert.equal(res.status, 202);
      return stack.temporal.client.workflow.getHandle(res.body.workflowId).result();
    };
    const good = await drillNow();
    assert.equal(good.ok, true, JSON.stringify(good));
    const health = (await stack.api('GET', `/api/v1/configs/${config.id}/health`, { token: t.token })).body;
    assert.ok(health.lastSuccessfulDrill, 'the last successful drill is shown');
    assert.ok(health.lastSuccessfulDrill.restoreSeconds > 0, 'with its measured restore time');
    const scratch = postgres(`postgres://${PG_USER}@${PG_HOST}:${PG_PORT}/postgres`, { max: 1 });
    const left = await scratch`select datname from pg_database where datname like ${`${source.name}_drill_%`}`;
    await scratch.end();
    assert.equal(left.length, 0, 'the scratch database was dropped');

    // The drill's plan retried (its first attempt's answer lost): the same history rows, not a second set left running.
    const central = createCentralActivities({
      db: stack.db.db,
      logger: createLogger('test', new LogCapture()),
      tuning: {} as RunTuning,
    }); // planDrill reads no tuning
    const retried = new MockActivityEnvironment({
      workflowExecution: { workflowId: `drill-config-${config.id}-20260101030000`, runId: 'r1' },
    });
    const first = await retried.run(central.planDrill, { configId: config.id });
    const again = await retried.run(central.planDrill, { configId: config.id });
    assert.deepEqual(again, first);
    const planned = await stack.db.db
      .select()
      .from(restores)
      .where(eq(restores.workflowId, `drill-config-${config.id}-20260101030000`));
    assert.equal(planned.length, 1);
    await stack.db.db.delete(restores).where(eq(restores.workflowId, `drill-config-${config.id}-20260101030000`));

    // A false assertion fails the drill and the alert names it.
    const patched = await stack.api('PATCH', `/api/v1/configs/${config.id}`, {
      token: t.token,
      body: {
        drill: {
          schedule: { kind: 'daily', time: '05:00' },
          tolerancePercent: 0,
          assertions: ['select count(*) > 1000000 from customers'],
        },
      },
    });
    assert.equal(patched.status, 200, JSON.stringify(patched.body));
    const bad = await drillNow();
    assert.equal(bad.ok, false);
    const alert = await waitFor(
      () => webhook.received.find((a) => a.type === 'drill.failed' && a.configId === config.id),
      30_000,
      'the drill alert',
    );
    assert.match(alert.message, /assertion 1: select count\(\*\) > 1000000 from customers → false/);

    // The restored data lacking a table that was there at backup time fails the drill too.
    const [row] = await stack.db.db
      .select()
      .from(backups)
      .where(eq(backups.id, ((await runNowAndWait(stack, t.token, config.id, 2)) as any[])[0].id as string));
    await stack.db.db
      .update(backups)
      .set({ tableCounts: [...(row!.tableCounts ?? []), { table: 'public.invoices', rows: 10, exact: true }] })
      .where(eq(backups.id, row!.id));
    await stack.api('PATCH', `/api/v1/configs/${config.id}`, {
      token: t.token,
      body: { drill: { schedule: { kind: 'daily', time: '05:00' }, tolerancePercent: 0, assertions: [] } },
    });
    const lacking = await drillNow();
    assert.equal(lacking.ok, false);
    assert.match(lacking.databases[0].checks.find((c: any) => !c.ok).detail, /missing after restore: public\.invoices/);
    const drills = (await stack.api('GET', `/api/v1/restores?configId=${config.id}&kind=drill`, { token: t.token }))
      .body.items;
    assert.deepEqual(
      drills.map((d: any) => d.status),
      ['failed', 'failed', 'succeeded'],
    );
  });

  it('alerts once when a configuration has had no successful backup within its interval', async () => {
    const t = await tenantWithSite('missed-site');
    const config = await createConfig(stack, t.token, {
      serverId: t.pg.id,
      databases: ['quiet'],
      schedule: { kind: 'daily', time: '03:00' },
    });
    const other = await createConfig(stack, t.token, {
      serverId: t.pg.id,
      databases: ['hushed'],
      schedule: { kind: 'daily', time: '04:00' },
    });
    // The schedules have been silent for three days: created then, never a successful run since.
    for (const id of [config.id, other.id])
      await stack.db.db
        .update(backupConfigs)
        .set({ createdAt: new Date(Date.now() - 3 * 86_400_000) })
        .where(eq(backupConfigs.id, id));
    const watch = async () =>
      stack.temporal.client.workflow.execute('watchdogWorkflow', {
        taskQueue: stack.centralTaskQueue,
        workflowId: `watchdog-test-${Date.now()}`,
        args: [{}],
      });
    const first = await watch();
    assert.ok(first.missed.includes(config.name));
    const alert = await waitFor(
      () => webhook.received.find((a) => a.type === 'backup.missed' && a.configId === config.id),
      30_000,
      'the missed-backup alert',
    );
    assert.match(alert.message, /no successful backup of .* ever; it should run every 24 h/);
    // Two alerts of one watch: two idempotency keys, or a receiver that honours them would drop the second.
    const otherAlert = await waitFor(
      () => webhook.received.find((a) => a.type === 'backup.missed' && a.configId === other.id),
      30_000,
      'the second missed-backup alert',
    );
    assert.equal(otherAlert.workflowId, alert.workflowId);
    assert.ok(
      alert.idempotencyKey && otherAlert.idempotencyKey && alert.idempotencyKey !== otherAlert.idempotencyKey,
      `keys ${alert.idempotencyKey} and ${otherAlert.idempotencyKey}`,
    );
    const second = await watch();
    assert.ok(!second.missed.includes(config.name), 'one alert per silence, not one an hour');
  });
});

async function dropPg(name: string) {
  const sql = postgres(`postgres://${PG_USER}@${PG_HOST}:${PG_PORT}/postgres`, { max: 1, onnotice: () => {} });
  await sql.unsafe(`drop database if exists "${name}" with (force)`);
  await sql.end();
}
