// Issue 23: a metadata database outage never costs a good backup. The run waits it out to record what it made, the
// API says 503 meanwhile, a row of a run that ended without writing its outcome is settled by the watchdog, and a
// retried bookkeeping step writes its events once.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { MockActivityEnvironment } from '@temporalio/testing';
import { eq } from 'drizzle-orm';
import postgres from 'postgres';
import '../api/app.ts';
import { createCentralActivities } from '../activities/central/index.ts';
import { backupCopies, backups, copyEvents } from '../db/schema.ts';
import { createConfig, createShopDatabase, setUpSite, sha256OfFile, startWebhook } from './helpers/fixtures.ts';
import { settleAll, signup, startStack, waitFor, type Stack } from './helpers/stack.ts';
import { DEPENDENCY_TIMEOUT_MS } from '../api/lib/middleware.ts';

const OUTAGE_MS = 5 * 60_000;

async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries.filter((e) => e.isFile()).map((e) => path.join(e.parentPath, e.name));
}

describe('the metadata database down for five minutes right after a dump (issue 23)', () => {
  let stack: Stack;
  let source: Awaited<ReturnType<typeof createShopDatabase>>;

  before(async () => {
    await settleAll([
      startStack({ privateMetadataServer: true, env: { DEPENDENCY_TIMEOUT_MS: String(DEPENDENCY_TIMEOUT_MS) } }).then(
        (x) => (stack = x),
      ),
      createShopDatabase().then((x) => (source = x)),
    ]);
  });
  after(async () => {
    await stack?.metadataServer?.start().catch(() => undefined);
    await stack?.stop();
    await source?.drop();
  });

  it(
    'the run waits it out: one succeeded row, the file kept, and the API answered 503 meanwhile',
    { timeout: 600_000 },
    async () => {
      const { token } = await signup(stack);
      const backupsDir = path.join(stack.tmp, 'backups');
      const { server } = await setUpSite(stack, token, { backupsDir });
      const config = await createConfig(stack, token, { serverId: server.id, databases: [source.name] });

      // pg_dump waits on a lock the test holds, so the outage can begin while the dump is under way and end after it.
      const holder = postgres(source.url, { max: 1, onnotice: () => {} });
      const watcher = postgres(source.url, { max: 1, onnotice: () => {} });
      const lock = await holder.reserve();
      await lock`begin`;
      await lock`lock table customers in access exclusive mode`;
      let haltedAt = 0;
      try {
        const run = await stack.api('POST', `/api/v1/configs/${config.id}/run`, { token });
        assert.equal(run.status, 202);
        const { workflowId } = await waitFor(
          async () =>
            ((await stack.api('GET', `/api/v1/backups?configId=${config.id}`, { token })).body.items as any[])[0],
          60_000,
          'the run to record that it started',
        );
        await waitFor(
          async () =>
            // Not on `lock`: inside its transaction pg_stat_activity would be the snapshot of its first read.
            (await watcher`select 1 from pg_stat_activity where datname = ${source.name} and wait_event_type = 'Lock'`)
              .length > 0 || undefined,
          60_000,
          'the dump to wait on the lock',
        );
        await stack.metadataServer!.halt();
        haltedAt = Date.now();
        await lock`rollback`;
        lock.release();

        const dumped = await waitFor(
          async () => (await filesUnder(backupsDir)).find((f) => f.includes(source.name) && !/partial/.test(f)),
          120_000,
          'the dump to be published while the metadata database is down',
        );

        // Meanwhile the API says 503 with Retry-After, quickly, on the routes that need the metadata database.
        const answers: { status: number; ms: number; retryAfter: string | null }[] = [];
        while (Date.now() - haltedAt < OUTAGE_MS) {
          for (const route of [`/api/v1/backups?configId=${config.id}`, `/api/v1/configs/${config.id}`]) {
            const t0 = Date.now();
            const res = await fetch(`${stack.baseUrl}${route}`, { headers: { authorization: `Bearer ${token}` } });
            answers.push({ status: res.status, ms: Date.now() - t0, retryAfter: res.headers.get('retry-after') });
            await res.arrayBuffer();
          }
          await sleep(Math.min(30_000, Math.max(0, OUTAGE_MS - (Date.now() - haltedAt))));
        }
        assert.equal(
          (await filesUnder(backupsDir)).includes(dumped),
          true,
          'the dump is still there during the outage',
        );
        await stack.metadataServer!.start();

        const result = await stack.temporal.client.workflow.getHandle(workflowId).result();
        assert.deepEqual(result.succeeded, [source.name]);
        const rows = (await stack.api('GET', `/api/v1/backups?configId=${config.id}`, { token })).body.items as any[];
        assert.equal(rows.length, 1, 'one history row');
        assert.equal(rows[0].status, 'succeeded');
        assert.equal(rows[0].sha256, await sha256OfFile(dumped), 'the row names the kept file');
        assert.equal(path.basename(dumped), rows[0].fileName);
        assert.ok(answers.length >= 4, `${answers.length} probes`);
        for (const a of answers) {
          assert.equal(a.status, 503, JSON.stringify(a));
          assert.ok(a.retryAfter, 'Retry-After is set');
          assert.ok(a.ms <= 2_500, `answered in ${a.ms} ms`);
        }
      } finally {
        await Promise.all([holder.end({ timeout: 1 }), watcher.end({ timeout: 1 })]);
      }
    },
  );
});

/** A site and a PostgreSQL server registered in the API, with no worker running for them. */
async function siteWithoutWorker(stack: Stack, token: string) {
  const site = await stack.api('POST', '/api/v1/sites', { token, body: { name: `site-${randomUUID().slice(0, 6)}` } });
  const server = await stack.api('POST', '/api/v1/servers', {
    token,
    body: { siteId: site.body.id, name: 'pg', engine: 'postgresql' },
  });
  return { site: site.body as { id: string }, server: server.body as { id: string } };
}

describe('rows of runs that ended without writing their outcome', () => {
  let stack: Stack;
  let webhook: Awaited<ReturnType<typeof startWebhook>>;

  before(async () => {
    await settleAll([startStack().then((x) => (stack = x)), startWebhook().then((x) => (webhook = x))]);
  });
  after(async () => {
    await Promise.all([stack?.stop(), webhook?.stop()]);
  });

  it('the watchdog settles a terminated run’s running row as failed, alerts once, and leaves live runs alone', async () => {
    const { token } = await signup(stack);
    assert.equal(
      (await stack.api('PATCH', '/api/v1/tenant', { token, body: { webhookUrl: webhook.url } })).status,
      200,
    );
    // No site worker: the run waits for one, its row says running.
    const { server } = await siteWithoutWorker(stack, token);
    const stuck = await createConfig(stack, token, { serverId: server.id, databases: ['gone'] });
    const live = await createConfig(stack, token, { serverId: server.id, databases: ['waiting'] });
    const rowOf = async (configId: string) =>
      ((await stack.api('GET', `/api/v1/backups?configId=${configId}`, { token })).body.items as any[])[0];
    for (const c of [stuck, live])
      assert.equal((await stack.api('POST', `/api/v1/configs/${c.id}/run`, { token })).status, 202);
    const stuckRow = await waitFor(() => rowOf(stuck.id), 60_000, 'the first run to start');
    const liveRow = await waitFor(() => rowOf(live.id), 60_000, 'the second run to start');
    await stack.temporal.client.workflow.getHandle(stuckRow.workflowId).terminate('an operator ended it');

    // The sweep leaves runs younger than its grace alone; `now` an hour ahead makes both old enough.
    const watch = () =>
      stack.temporal.client.workflow.execute('watchdogWorkflow', {
        taskQueue: stack.centralTaskQueue,
        workflowId: `watchdog-test-${randomUUID()}`,
        args: [{ now: new Date(Date.now() + 3_600_000).toISOString() }],
      });
    const first = await watch();
    assert.equal(first.stuck.length, 1, JSON.stringify(first.stuck));
    const settled = await rowOf(stuck.id);
    assert.equal(settled.status, 'failed');
    assert.match(settled.error, /the run ended \(terminated\) without recording an outcome/);
    assert.equal((await rowOf(live.id)).status, 'running', 'a run still under way is left alone');
    const alert = await waitFor(
      () => webhook.received.find((a: any) => a.type === 'backup.failed' && a.configId === stuck.id),
      30_000,
      'the alert',
    );
    assert.match(alert.message, /terminated/);

    const second = await watch();
    assert.deepEqual(second.stuck, [], 'settled once');
    assert.equal(webhook.received.filter((a: any) => a.configId === stuck.id).length, 1, 'alerted once');
    await stack.temporal.client.workflow.getHandle(liveRow.workflowId).terminate('test over');
  });

  it('a bookkeeping step retried after it wrote (its answer lost) writes its rows and events once', async () => {
    const { tenantId, token } = await signup(stack);
    const { site, server } = await siteWithoutWorker(stack, token);
    const config = await createConfig(stack, token, { serverId: server.id, databases: ['db1'] });
    const acts = createCentralActivities({
      db: stack.db.db,
      logger: stack.logger,
      tuning: { dumpHeartbeatTimeoutMs: 3000, dumpTimeoutMs: 60_000, sitePickupTimeoutMs: 3000, retryInitialMs: 200 },
    });
    const workflowId = `wf-${randomUUID()}`;
    const attempt = (activityId: string, n: number) =>
      new MockActivityEnvironment({
        activityId,
        attempt: n,
        workflowExecution: { workflowId, runId: 'run-1' },
      } as any);
    const ref = { tenantId, configId: config.id, siteId: site.id, serverId: server.id, database: 'db1' };
    const outcome = {
      ...ref,
      status: 'succeeded' as const,
      startedAt: new Date().toISOString(),
      fileName: 'db1.pgdump.zst',
      sizeBytes: 10,
      sha256: 'a'.repeat(64),
      location: 'site:pg/db1/db1.pgdump.zst',
      siteKey: 'pg/db1/db1.pgdump.zst',
    };
    const first = (await attempt('5', 1).run(acts.recordBackup, outcome)) as { backupId: string };
    const again = (await attempt('5', 2).run(acts.recordBackup, outcome)) as { backupId: string };
    assert.equal(again.backupId, first.backupId);
    const copy = {
      tenantId,
      backupId: first.backupId,
      target: 'offsite',
      destinationId: null,
      key: 'k',
      state: 'missing' as const,
      error: 'unreachable',
      event: 'missing',
    };
    await attempt('9', 1).run(acts.recordCopy, copy);
    await attempt('9', 2).run(acts.recordCopy, copy);
    // A later, different step may say the same thing again: that is a new event.
    await attempt('12', 1).run(acts.recordCopy, {
      ...copy,
      state: 'stored' as const,
      error: undefined,
      event: 'stored',
    });

    const copies = await stack.db.db.select().from(backupCopies).where(eq(backupCopies.backupId, first.backupId));
    const events = await stack.db.db
      .select({ event: copyEvents.event, target: backupCopies.target })
      .from(copyEvents)
      .innerJoin(backupCopies, eq(backupCopies.id, copyEvents.copyId))
      .where(eq(backupCopies.backupId, first.backupId));
    assert.deepEqual(events.map((e) => `${e.target}:${e.event}`).sort(), [
      'offsite:missing',
      'offsite:stored',
      'site:stored',
    ]);
    assert.equal(copies.length, 2);
    const [row] = await stack.db.db.select().from(backups).where(eq(backups.id, first.backupId));
    assert.equal(row!.error, 'copy to offsite failed: unreachable', 'the failure is said once');
  });
});
