// Issue 16: a site reaches Temporal, so Temporal refuses it everything but polling and answering its own queue.
// Tried with a real site token (from check-in with the site key), against the platform's own Temporal server.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Client, Connection } from '@temporalio/client';
import { CENTRAL_TASK_QUEUE, scheduleId } from '../common/names.ts';
import { createConfig, createShopDatabase, runNowAndWait, setUpSite, waitForRuns } from './helpers/fixtures.ts';
import { signup, startStack, waitFor, type Stack } from './helpers/stack.ts';

const PERMISSION_DENIED = 7;
const TTL_SECONDS = 8;

/** The gRPC status of a failed Temporal call, wherever the SDK put it. */
function grpcCode(err: unknown): number | undefined {
  const e = err as { code?: unknown; cause?: { code?: unknown } };
  return typeof e.code === 'number' ? e.code : typeof e.cause?.code === 'number' ? e.cause.code : undefined;
}

async function denied(what: string, call: () => Promise<unknown>) {
  await assert.rejects(call, (err) => grpcCode(err) === PERMISSION_DENIED || assert.fail(`${what}: ${err}`), what);
}

describe('Temporal and the sites (issue 16)', () => {
  let stack: Stack;
  let source: Awaited<ReturnType<typeof createShopDatabase>>;
  let caPem: Buffer;
  const closers: (() => Promise<unknown>)[] = [];

  before(async () => {
    stack = await startStack({ env: { SITE_TOKEN_TTL_SECONDS: String(TTL_SECONDS) } });
    source = await createShopDatabase();
    caPem = await readFile(path.join(stack.tmp, 'temporal/tls/ca.pem'));
  });
  after(async () => {
    for (const close of closers.reverse()) await close().catch(() => {});
    await source?.drop();
    await stack?.stop();
  });

  async function checkIn(siteKey: string) {
    const res = await fetch(`${stack.baseUrl}/api/v1/agent/check-in`, {
      method: 'POST',
      headers: { authorization: `Bearer ${siteKey}`, 'content-type': 'application/json' },
      body: '{}',
    });
    return { status: res.status, body: (await res.json()) as any };
  }

  /** A client holding only what a site holds: the address, the public CA and its own token. */
  async function connectAs(token: string) {
    const connection = await Connection.connect({
      address: stack.devServer!.address,
      tls: { serverRootCACertificate: caPem, serverNameOverride: 'localhost' },
      apiKey: token,
    });
    closers.push(() => connection.close());
    return { connection, client: new Client({ connection }) };
  }

  async function tenantWithSite(name: string) {
    const t = await signup(stack);
    const backupsDir = path.join(stack.tmp, `${name}-backups`);
    const site = await setUpSite(stack, t.token, { backupsDir });
    const config = await createConfig(stack, t.token, { serverId: site.server.id, databases: [source.name] });
    return { ...t, ...site, config };
  }

  it('a site token is refused every call but its own queue, while the sites’ own backups keep working', async () => {
    const a = await tenantWithSite('a');
    const b = await tenantWithSite('b');
    const [rowA] = await runNowAndWait(stack, a.token, a.config.id);
    assert.equal((rowA as any).status, 'succeeded');

    const hostile = await checkIn(b.siteConfig.siteKey);
    assert.equal(hostile.status, 200);
    assert.equal(hostile.body.temporal.token.split('.').length, 3);
    const { connection, client } = await connectAs(hostile.body.temporal.token);
    const namespace = 'default';

    await denied('list another tenant’s runs', async () => {
      await client.workflow
        .list({ query: `TenantId = "${a.tenantId}"` })
        [Symbol.asyncIterator]()
        .next();
    });
    await denied('describe a run', () => client.workflow.getHandle((rowA as any).workflowId).describe());
    await denied('read a run’s history', () => client.workflow.getHandle((rowA as any).workflowId).fetchHistory());
    const schedule = client.schedule.getHandle(scheduleId(a.config.id));
    await denied('describe a schedule', () => schedule.describe());
    await denied('pause a schedule', () => schedule.pause('hostile'));
    await denied('trigger a schedule', () => schedule.trigger());
    await denied('delete a schedule', () => schedule.delete());
    await denied('start a workflow', () =>
      client.workflow.start('backupWorkflow', {
        taskQueue: CENTRAL_TASK_QUEUE,
        workflowId: `hostile-${randomBytes(4).toString('hex')}`,
        args: [{ configId: a.config.id }],
      }),
    );
    await denied('terminate a run', () => client.workflow.getHandle((rowA as any).workflowId).terminate('hostile'));
    await denied('poll another site’s queue', () =>
      connection.workflowService.pollActivityTaskQueue({ namespace, taskQueue: { name: a.site.taskQueue } }),
    );
    await denied('poll the workflows’ queue', () =>
      connection.workflowService.pollWorkflowTaskQueue({ namespace, taskQueue: { name: CENTRAL_TASK_QUEUE } }),
    );
    await denied('describe a task queue', () =>
      connection.workflowService.describeTaskQueue({ namespace, taskQueue: { name: a.site.taskQueue } }),
    );
    await denied('add a search attribute', () =>
      connection.operatorService.addSearchAttributes({ namespace, searchAttributes: { Evil: 2 } }),
    );

    // The schedule is as the API left it, and both sites still back up.
    const intact = await stack.api('GET', `/api/v1/configs/${a.config.id}/schedule`, { token: a.token });
    assert.equal(intact.body.paused, false);
    const rowsB = await runNowAndWait(stack, b.token, b.config.id);
    assert.equal((rowsB[0] as any).status, 'succeeded');
  });

  it('a forged answer from another site never becomes a succeeded backup', async () => {
    const victim = await tenantWithSite('victim');
    const attacker = await tenantWithSite('attacker');
    await victim.worker.kill(); // the victim's dump task waits in its queue
    const run = await stack.api('POST', `/api/v1/configs/${victim.config.id}/run`, { token: victim.token });
    assert.equal(run.status, 202);

    const { connection } = await connectAs((await checkIn(attacker.siteConfig.siteKey)).body.temporal.token);
    await denied('take the victim’s task', () =>
      connection.workflowService.pollActivityTaskQueue({
        namespace: 'default',
        taskQueue: { name: victim.site.taskQueue },
      }),
    );
    const madeUp = randomBytes(64);
    await denied('complete with a made-up task token', () =>
      connection.workflowService.respondActivityTaskCompleted({ namespace: 'default', taskToken: madeUp }),
    );
    await denied('fail with a made-up task token', () =>
      connection.workflowService.respondActivityTaskFailed({ namespace: 'default', taskToken: madeUp }),
    );
    await denied('answer by workflow and activity id', () =>
      connection.workflowService.respondActivityTaskCompletedById({
        namespace: 'default',
        workflowId: `backup-${victim.config.id}`,
        activityId: '1',
      }),
    );
    const pending = await stack.api('GET', `/api/v1/backups?configId=${victim.config.id}`, { token: victim.token });
    assert.ok(
      pending.body.items.every((i: any) => i.status !== 'succeeded'),
      'nothing succeeded while the site was away',
    );

    // The victim's own worker comes back and does the real work: one succeeded row, with the real file's hash.
    await stack.startSiteWorker(victim.siteConfig);
    const [row] = (await waitForRuns(stack, victim.token, victim.config.id)) as any[];
    assert.equal(row.status, 'succeeded');
    assert.match(row.sha256, /^[0-9a-f]{64}$/);
  });

  it('a rotated site key stops the old worker, and its last token is refused, within one token lifetime', async () => {
    const t = await tenantWithSite('rotated');
    const old = await checkIn(t.siteConfig.siteKey);
    const rotated = await stack.api('POST', `/api/v1/sites/${t.site.id}/rotate-key`, { token: t.token });
    assert.equal(rotated.status, 200);
    const at = Date.now();

    const exited = once(t.worker.child, 'exit');
    await Promise.race([
      exited,
      new Promise((_, reject) =>
        setTimeout(() => reject(new Error('the old worker still runs')), TTL_SECONDS * 1000 + 5000),
      ),
    ]);
    assert.ok(Date.now() - at <= TTL_SECONDS * 1000 + 5000);
    assert.ok(
      t.worker.logs.lines.some((l) => /no longer accepts this site key/.test(String(l.message))),
      'the worker says why it stopped',
    );
    assert.equal((await checkIn(t.siteConfig.siteKey)).status, 401);

    // A worker that would not stop by itself (an old copy, a hostile one) is refused once its token runs out.
    const { connection } = await connectAs(old.body.temporal.token);
    await waitFor(
      async () =>
        connection.workflowService.describeNamespace({ namespace: 'default' }).then(
          () => false,
          (err) => grpcCode(err) === PERMISSION_DENIED,
        ),
      (TTL_SECONDS + 5) * 1000,
      'the old token to be refused',
    );
    assert.ok(Date.now() - at <= (TTL_SECONDS + 5) * 1000);
  });

  it('a schedule paused, re-timed or deleted outside the API is adopted or put back, and the API says so', async () => {
    const t = await tenantWithSite('drift');
    const handle = stack.temporal.client.schedule.getHandle(scheduleId(t.config.id));
    const schedule = () => stack.api('GET', `/api/v1/configs/${t.config.id}/schedule`, { token: t.token });

    await handle.pause('maintenance window'); // as an operator would in the Web UI
    const paused = await stack.api('GET', `/api/v1/configs/${t.config.id}`, { token: t.token });
    assert.equal(paused.body.paused, true, 'the API reports the pause Temporal has');
    assert.equal((await schedule()).body.paused, true);

    await handle.update((prev) => ({ ...prev, spec: { intervals: [{ every: '1 minute' }] } }));
    const retimed = await schedule();
    assert.equal(retimed.status, 200, JSON.stringify(retimed.body));
    assert.ok(retimed.body.found?.some((f: string) => /timing was changed outside the API: put back/.test(f)));
    assert.equal((await handle.describe()).spec.intervals?.length ?? 0, 0, 'the configuration’s timing is back');

    await handle.delete();
    const recreated = await schedule();
    assert.equal(recreated.status, 200);
    assert.ok(recreated.body.found.some((f: string) => /missing in Temporal: recreated/.test(f)));
    assert.equal(recreated.body.paused, true, 'recreated as the configuration says');
  });
});
