// What a hostile site tries, and what a bad token gets: each must be answered PermissionDenied.
'use strict';
const crypto = require('node:crypto');
const { Connection } = require('@temporalio/client');
const h = require('./harness.cjs');

const json = (v) => ({
  payloads: [{ metadata: { encoding: Buffer.from('json/plain') }, data: Buffer.from(JSON.stringify(v)) }],
});

async function run(ctx) {
  const { server, tokens, siteA, siteB, namespace, central, client, platform, c } = ctx;
  const site = await c.allowed('site: connect with its token (GetSystemInfo)', () => h.connect(server, tokens.siteA));
  const siteBConn = await h.connect(server, tokens.siteB);
  const ws = site.workflowService;

  // Something to aim at: a schedule and a run waiting for site B.
  const sched = `e2e-sched-${crypto.randomUUID().slice(0, 8)}`;
  await c.allowed('platform: CreateSchedule', () =>
    client.schedule.create({
      scheduleId: sched,
      spec: { intervals: [{ every: '1h' }] },
      state: { paused: true },
      action: { type: 'startWorkflow', workflowType: 'oneStep', taskQueue: central, args: [siteB, 'scheduled'] },
    }),
  );
  const victim = await client.workflow.start('oneStep', {
    taskQueue: central,
    workflowId: `e2e-victim-${siteB}`,
    args: [siteB, 'victim'],
  });
  const execution = { workflowId: victim.workflowId };

  const tq = (name) => ({ name, kind: 1 /* NORMAL */ });
  const forbidden = {
    ListWorkflowExecutions: () => ws.listWorkflowExecutions({ namespace }),
    CountWorkflowExecutions: () => ws.countWorkflowExecutions({ namespace }),
    DescribeWorkflowExecution: () => ws.describeWorkflowExecution({ namespace, execution }),
    GetWorkflowExecutionHistory: () => ws.getWorkflowExecutionHistory({ namespace, execution }),
    ListSchedules: () => ws.listSchedules({ namespace }),
    DescribeSchedule: () => ws.describeSchedule({ namespace, scheduleId: sched }),
    'PatchSchedule (pause)': () => ws.patchSchedule({ namespace, scheduleId: sched, patch: { pause: 'hostile site' } }),
    DeleteSchedule: () => ws.deleteSchedule({ namespace, scheduleId: sched }),
    StartWorkflowExecution: () =>
      ws.startWorkflowExecution({
        namespace,
        workflowId: 'hostile',
        requestId: crypto.randomUUID(),
        workflowType: { name: 'oneStep' },
        taskQueue: tq(central),
      }),
    SignalWorkflowExecution: () =>
      ws.signalWorkflowExecution({ namespace, workflowExecution: execution, signalName: 'x' }),
    TerminateWorkflowExecution: () => ws.terminateWorkflowExecution({ namespace, workflowExecution: execution }),
    RequestCancelWorkflowExecution: () =>
      ws.requestCancelWorkflowExecution({ namespace, workflowExecution: execution }),
    "PollActivityTaskQueue of another site's queue": () =>
      ws.pollActivityTaskQueue({ namespace, taskQueue: tq(siteB) }),
    'PollWorkflowTaskQueue (own queue name)': () => ws.pollWorkflowTaskQueue({ namespace, taskQueue: tq(siteA) }),
    'PollWorkflowTaskQueue (central queue)': () => ws.pollWorkflowTaskQueue({ namespace, taskQueue: tq(central) }),
    DescribeTaskQueue: () => ws.describeTaskQueue({ namespace, taskQueue: tq(siteA) }),
    RespondActivityTaskCompletedById: () =>
      ws.respondActivityTaskCompletedById({
        namespace,
        workflowId: victim.workflowId,
        activityId: '1',
        result: json('forged'),
      }),
    'DescribeNamespace of temporal-system': () => ws.describeNamespace({ namespace: 'temporal-system' }),
    ListNamespaces: () => ws.listNamespaces({}),
    'operator ListSearchAttributes': () => site.operatorService.listSearchAttributes({ namespace }),
    'operator AddSearchAttributes': () =>
      site.operatorService.addSearchAttributes({ namespace, searchAttributes: { Evil: 2 } }),
  };
  for (const [name, call] of Object.entries(forbidden)) await c.denied(`site: ${name}`, call);
  await c.allowed('site: DescribeNamespace of its own namespace', () => ws.describeNamespace({ namespace }));

  // A task token the site did not receive: the platform takes site B's task, site A (and B) try to answer it.
  const polled = await c.allowed("platform: PollActivityTaskQueue of site B's queue", () =>
    platform.withDeadline(Date.now() + 30_000, () =>
      platform.workflowService.pollActivityTaskQueue({ namespace, taskQueue: tq(siteB), identity: 'e2e-platform' }),
    ),
  );
  const taskToken = polled?.taskToken;
  c.ok("platform: got site B's task", taskToken?.length > 0);
  await c.denied('site A: RespondActivityTaskCompleted with a token it did not receive', () =>
    ws.respondActivityTaskCompleted({ namespace, taskToken, result: json('forged by site A') }),
  );
  await c.denied('site A: RespondActivityTaskFailed with that token', () =>
    ws.respondActivityTaskFailed({ namespace, taskToken, failure: { message: 'forged' } }),
  );
  await c.denied('site A: RecordActivityTaskHeartbeat with that token', () =>
    ws.recordActivityTaskHeartbeat({ namespace, taskToken }),
  );
  await c.denied('site B: RespondActivityTaskCompleted with a token of its queue that it did not poll', () =>
    siteBConn.workflowService.respondActivityTaskCompleted({ namespace, taskToken, result: json('site B') }),
  );
  await c.denied('site A: RespondActivityTaskCompleted with a made-up token', () =>
    ws.respondActivityTaskCompleted({ namespace, taskToken: crypto.randomBytes(120), result: json('forged') }),
  );
  await c.allowed('platform: answers the task itself', () =>
    platform.workflowService.respondActivityTaskCompleted({
      namespace,
      taskToken,
      result: json('answered by platform'),
    }),
  );
  c.ok(
    "platform: the run got the platform's answer, not a forged one",
    (await victim.result()) === 'answered by platform',
  );

  // The same by hand on site A's own queue: poll, heartbeat, complete once; a replay is refused.
  const own = await client.workflow.start('oneStep', {
    taskQueue: central,
    workflowId: `e2e-manual-${siteA}`,
    args: [siteA, 'manual'],
  });
  const task = await c.allowed('site A: PollActivityTaskQueue of its own queue', () =>
    site.withDeadline(Date.now() + 30_000, () =>
      ws.pollActivityTaskQueue({ namespace, taskQueue: tq(siteA), identity: 'e2e-site-a' }),
    ),
  );
  await c.allowed('site A: RecordActivityTaskHeartbeat with its token', () =>
    ws.recordActivityTaskHeartbeat({ namespace, taskToken: task?.taskToken }),
  );
  await c.denied("site B: RespondActivityTaskCompleted with site A's token", () =>
    siteBConn.workflowService.respondActivityTaskCompleted({
      namespace,
      taskToken: task?.taskToken,
      result: json('B'),
    }),
  );
  await c.allowed('site A: RespondActivityTaskCompleted with its token', () =>
    ws.respondActivityTaskCompleted({ namespace, taskToken: task?.taskToken, result: json('done by hand') }),
  );
  await c.denied('site A: answering the same task again', () =>
    ws.respondActivityTaskCompleted({ namespace, taskToken: task?.taskToken, result: json('again') }),
  );
  c.ok('site A: the run got its answer', (await own.result()) === 'done by hand');

  // Schedules and runs are untouched by all of the above; the platform may still terminate.
  const desc = await c.allowed('platform: DescribeSchedule', () => client.schedule.getHandle(sched).describe());
  c.ok(
    'platform: the schedule is still there, paused by nobody but its creator',
    desc?.state?.paused === true && desc?.state?.note !== 'hostile site',
  );
  const running = await client.workflow.start('oneStep', {
    taskQueue: central,
    workflowId: `e2e-term-${siteB}`,
    args: [siteB, 'x'],
  });
  await c.denied('site A: TerminateWorkflowExecution of a running run', () =>
    ws.terminateWorkflowExecution({ namespace, workflowExecution: { workflowId: running.workflowId } }),
  );
  await c.allowed('platform: TerminateWorkflowExecution', () => running.terminate('e2e'));
  await c.allowed('platform: DeleteSchedule', () => client.schedule.getHandle(sched).delete());
  await siteBConn.close();
  await site.close();
  await badCredentials(ctx);
}

/** Missing, expired, forged, wrong-audience, wrong-namespace tokens; no TLS; the health check. */
async function badCredentials({ server, sign, siteA, namespace, c }) {
  const now = Math.floor(Date.now() / 1000);
  const otherKey = crypto.generateKeyPairSync('ed25519').privateKey;
  const cases = {
    'no token': undefined,
    'expired token': sign(h.claims('platform', { iat: now - 7200, exp: now - 3600 })),
    'token signed by another key': h.signToken(otherKey, h.claims('platform')),
    'token with aud "api"': sign(h.claims('platform', { aud: 'api' })),
    'token with alg "none"': h.signToken(otherKey, h.claims('platform'), { alg: 'none' }).replace(/[^.]*$/, ''),
    'site token without tq': sign(h.claims('site')),
  };
  for (const [name, token] of Object.entries(cases)) {
    await c.denied(`${name}: connect (GetSystemInfo)`, async () => (await h.connect(server, token)).close());
  }
  const otherNs = await h.connect(server, sign(h.claims('site', { tq: siteA, ns: 'other' })));
  await c.denied('site token for namespace "other": DescribeNamespace default', () =>
    otherNs.workflowService.describeNamespace({ namespace }),
  );
  await c.denied('site token for namespace "other": PollActivityTaskQueue in default', () =>
    otherNs.workflowService.pollActivityTaskQueue({ namespace, taskQueue: { name: siteA } }),
  );
  await otherNs.close();

  const lazy = Connection.lazy({ address: server.address, tls: { serverRootCACertificate: server.ca } });
  const health = await c.allowed('health check without a token', () => lazy.healthService.check({}));
  c.ok('health check answers SERVING', health?.status === 1);
  await lazy.close();
  try {
    const plain = await Connection.connect({ address: server.address, connectTimeout: '3s' });
    await plain.close();
    c.ok('plain-text (no TLS) connection refused', false, 'connected');
  } catch (err) {
    c.ok('plain-text (no TLS) connection refused', true, (err.cause?.details ?? err.message).slice(0, 80));
  }
}

module.exports = { run };
