// Issue 23 (faults): the short site steps heartbeat too. A site worker killed while cleanTables waited for a table lock
// used to stall the run for the step's 10-minute start-to-close timeout; now the heartbeat timeout (3 s here) notices
// it, and the worker that comes back takes the step over.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { CancelledFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import postgres from 'postgres';
import { heartbeating } from '../activities/site/context.ts';
import path from 'node:path';
import {
  activityPayloads,
  createConfig,
  createShopDatabase,
  setUpSite,
  sha256OfFile,
  waitForRuns,
} from './helpers/fixtures.ts';
import { settleAll, signup, startStack, waitFor, type Stack } from './helpers/stack.ts';

describe('a site worker killed in a short step', () => {
  let stack: Stack;
  let source: Awaited<ReturnType<typeof createShopDatabase>>;
  let sql: postgres.Sql | undefined;

  before(async () => {
    await settleAll([
      startStack().then((x) => (stack = x)),
      createShopDatabase({ customers: 100, events: 1000 }).then((x) => (source = x)),
    ]);
    sql = postgres(source.url, { max: 3, onnotice: () => {} });
  });
  after(async () => {
    await sql?.end({ timeout: 5 });
    await source?.drop();
    await stack?.stop();
  });

  /** Backends of other sessions waiting for a lock on `events`. */
  const waiters = async () =>
    (
      await sql!<{ pid: number }[]>`
        select pid from pg_locks where relation = 'events'::regclass and not granted and pid <> pg_backend_pid()`
    ).map((r) => r.pid);

  /**
   * A site whose configuration truncates `events`, a session holding `events` as an application's long transaction
   * would, and a run started that waits for it in cleanTables. The caller commits or rolls back `holder`.
   */
  async function runBehindLock(folder: string) {
    const { token } = await signup(stack);
    const backupsDir = path.join(stack.tmp, folder);
    const site = await setUpSite(stack, token, { backupsDir });
    const config = await createConfig(stack, token, {
      serverId: site.server.id,
      databases: [source.name],
      cleanTables: [{ table: 'events', mode: 'truncate' }],
      confirmDestructiveCleaning: true,
    });
    const holder = await sql!.reserve();
    await holder`begin`;
    await holder`lock table events in access exclusive mode`;
    assert.equal((await stack.api('POST', `/api/v1/configs/${config.id}/run`, { token })).status, 202);
    return { ...site, token, backupsDir, config, holder };
  }

  it('cleanTables waiting for a lock is taken over by the restarted worker, and the run ends soon after', async () => {
    const { token, backupsDir, worker, siteConfig, config, holder } = await runBehindLock('heartbeat-backups');
    try {
      const first = await waitFor(
        async () => ((await waiters()).length > 0 ? await waiters() : undefined),
        60_000,
        'cleanTables waiting for the lock',
      );

      await worker.kill();
      const restarted = Date.now();
      await stack.startSiteWorker(siteConfig);
      // The step's next attempt, on the new worker, waits for the lock in a session of its own. Without heartbeats the
      // step would only be retried after its 10-minute start-to-close timeout.
      await waitFor(
        async () => (await waiters()).some((pid) => !first.includes(pid)),
        45_000,
        'the retried cleanTables on the restarted worker',
      );
      await holder`commit`;

      const [row] = (await waitForRuns(stack, token, config.id, 1, 60_000)) as any[];
      const tookMs = Date.now() - restarted;
      assert.equal(row.status, 'succeeded', row.error);
      assert.ok(tookMs < 60_000, `the run ended ${tookMs} ms after the restart`);
      const { attempts } = await activityPayloads(stack, row.workflowId, 'cleanTables');
      assert.ok(attempts[attempts.length - 1]! >= 2, `cleanTables was retried (attempts ${attempts.join(', ')})`);
      console.log(`run ended ${tookMs} ms after the worker restart; cleanTables attempt ${attempts.join(', ')}`);
      // The backup is good: the dump holds the customers, and truncating events was done once, by the new attempt.
      assert.equal(await sha256OfFile(path.join(backupsDir, 'main-pg', source.name, row.fileName)), row.sha256);
      const [counted] = await sql!<{ n: number }[]>`select count(*)::int as n from events`;
      assert.equal(counted?.n, 0);
    } finally {
      await holder`rollback`.catch(() => undefined);
      holder.release();
    }
  });

  it('cleanTables that waits longer than the heartbeat timeout on a live worker is not cut off', async () => {
    const { token, config, holder } = await runBehindLock('patient-backups');
    try {
      // Held until the step has waited well past the 3 s heartbeat timeout: only its heartbeats keep it alive.
      await waitFor(
        async () =>
          (
            await sql!`select 1 from pg_locks where relation = 'events'::regclass and not granted
              and waitstart < now() - interval '5 seconds'`
          ).length > 0,
        60_000,
        'cleanTables waiting for the lock for 5 s',
      );
      await holder`commit`;
      const [row] = (await waitForRuns(stack, token, config.id, 1, 60_000)) as any[];
      assert.equal(row.status, 'succeeded', row.error);
      const { attempts } = await activityPayloads(stack, row.workflowId, 'cleanTables');
      assert.deepEqual(attempts, [1], 'the first attempt finished: no heartbeat timeout cut it off');
    } finally {
      await holder`rollback`.catch(() => undefined);
      holder.release();
    }
  });
});

describe('heartbeating', () => {
  it('beats while the step works, and a cancellation ends the step at once', { timeout: 30_000 }, async () => {
    const env = new MockActivityEnvironment({ heartbeatTimeoutMs: 3000 });
    let beats = 0;
    env.on('heartbeat', () => beats++);
    const stuck = heartbeating(() => new Promise<void>(() => {}));
    const running = env.run(stuck);
    await waitFor(() => beats >= 2, 20_000, 'two heartbeats');
    env.cancel();
    await assert.rejects(running, (e: unknown) => e instanceof CancelledFailure);
  });
});
