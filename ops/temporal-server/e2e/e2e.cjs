// End-to-end proof of bp-temporal with real components: the built binary, the TypeScript SDK's client and
// worker over TLS with Ed25519 tokens. Run through e2e/run.sh (builds the binary, finds node_modules).
'use strict';
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { Client } = require('@temporalio/client');
const { NativeConnection, Worker, Runtime, DefaultLogger } = require('@temporalio/worker');
const { Context } = require('@temporalio/activity');
const { ApplicationFailure } = require('@temporalio/common');
const h = require('./harness.cjs');
const denials = require('./denials.cjs');

const namespace = 'default';
const CENTRAL = `central-e2e-${crypto.randomUUID().slice(0, 8)}`;

async function main() {
  const bin = process.env.BP_TEMPORAL_BIN;
  const nodeModules = process.env.BP_NODE_MODULES;
  if (!bin || !nodeModules) throw new Error('run through e2e/run.sh (BP_TEMPORAL_BIN, BP_NODE_MODULES)');
  Runtime.install({ logger: new DefaultLogger('ERROR') });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bp-temporal-e2e-'));
  const keys = crypto.generateKeyPairSync('ed25519');
  const sign = (claims) => h.signToken(keys.privateKey, claims);
  const server = await h.startServer(bin, dir, keys);
  console.log(`bp-temporal ready at ${server.address} after ${Math.round(server.readyMs)} ms`);

  const siteA = `site-${crypto.randomUUID()}`;
  const siteB = `site-${crypto.randomUUID()}`;
  const tokens = {
    platform: sign(h.claims('platform')),
    siteAWorker: sign(h.claims('site', { tq: siteA, sub: `worker:${siteA}` })),
    siteA: sign(h.claims('site', { tq: siteA })),
    siteB: sign(h.claims('site', { tq: siteB })),
  };
  const c = new h.Checks();
  const ctx = { server, tokens, siteA, siteB, namespace, central: CENTRAL, c, sign, keys };
  let central;
  try {
    // The platform: client, search attributes, and the central worker that runs workflows.
    const platform = await c.allowed('platform: connect over TLS with its token (GetSystemInfo)', () =>
      h.connect(server, tokens.platform),
    );
    ctx.platform = platform;
    ctx.client = new Client({ connection: platform, namespace });
    await c.allowed('platform: AddSearchAttributes', () =>
      platform.operatorService.addSearchAttributes({ namespace, searchAttributes: { BpE2eSite: 2 /* KEYWORD */ } }),
    );
    const sa = await c.allowed('platform: ListSearchAttributes', () =>
      platform.operatorService.listSearchAttributes({ namespace }),
    );
    c.ok('platform: the added search attribute is listed', sa && 'BpE2eSite' in sa.customAttributes);

    const platformNative = await NativeConnection.connect({
      address: server.address,
      tls: { serverRootCACertificate: server.ca },
      metadata: h.bearer(tokens.platform),
    });
    central = await Worker.create({
      connection: platformNative,
      namespace,
      taskQueue: CENTRAL,
      workflowsPath: require.resolve('./workflows.cjs'),
      bundlerOptions: {
        webpackConfigHook: (cfg) => ({ ...cfg, resolve: { ...cfg.resolve, modules: [nodeModules, 'node_modules'] } }),
      },
    });
    const centralRun = central.run();
    central.done = centralRun.finally(() => platformNative.close());

    await siteWorkerScenario(ctx);
    await denials.run(ctx);
    await uiScenario(ctx);
    await platform.close();
  } catch (err) {
    c.ok('scenario ran to the end', false, err.stack);
  } finally {
    if (central) {
      central.shutdown();
      await central.done.catch(() => {});
    }
    const stop = await server.stop();
    c.ok(
      'SIGTERM stops the server cleanly',
      stop.code === 0,
      `exit code ${stop.code}${stop.signal ? ` signal ${stop.signal}` : ''} after ${Math.round(stop.ms)} ms`,
    );
    fs.rmSync(dir, { recursive: true, force: true });
  }
  console.log(
    `\nCalls made by the site's SDK worker (@temporalio/worker ${require('@temporalio/worker/package.json').version}), in order of first use:`,
  );
  for (const line of h.callsBy(server.decisions, `worker:${siteA}`)) console.log(`  ${line}`);
  console.log('\nCalls made with the other site tokens in this run:');
  for (const sub of [`site:${siteA}`, `site:${siteB}`]) {
    for (const line of h.callsBy(server.decisions, sub)) console.log(`  ${sub.slice(0, 14)}… ${line}`);
  }
  process.exitCode = c.summary() ? 0 : 1;
}

/** An activity-only site worker (as workers/site.ts builds it) runs the activities a platform workflow schedules. */
async function siteWorkerScenario({ server, tokens, siteA, client, c }) {
  const siteNative = await NativeConnection.connect({
    address: server.address,
    tls: { serverRootCACertificate: server.ca },
    metadata: h.bearer(tokens.siteAWorker),
  });
  const worker = await Worker.create({
    connection: siteNative,
    namespace,
    taskQueue: siteA,
    maxConcurrentActivityTaskExecutions: 4,
    activities: {
      async backupSite(job) {
        Context.current().heartbeat('started'); // RecordActivityTaskHeartbeat with the polled token
        await new Promise((r) => setTimeout(r, 300));
        return `backed up ${job} at ${siteA}`;
      },
      async failingStep() {
        throw ApplicationFailure.nonRetryable('disk full (on purpose)'); // RespondActivityTaskFailed
      },
      async slowStep() {
        // Heartbeats until the workflow cancels it; the rejection makes the worker RespondActivityTaskCanceled.
        const ctx = Context.current();
        for (;;) {
          ctx.heartbeat();
          await Promise.race([ctx.cancelled, new Promise((r) => setTimeout(r, 200))]);
        }
      },
    },
  });
  const started = performance.now();
  const out = await worker.runUntil(async () => {
    const handle = await client.workflow.start('backupOnSite', {
      taskQueue: CENTRAL,
      workflowId: `e2e-backup-${siteA}`,
      args: [siteA, 'job-1'],
    });
    const backup = await handle.result();
    const cancel = await client.workflow.execute('cancelOnSite', {
      taskQueue: CENTRAL,
      workflowId: `e2e-cancel-${siteA}`,
      args: [siteA],
    });
    return { ...backup, cancel };
  });
  await siteNative.close();
  c.ok(
    'site worker: polled, heartbeat and completed the activity a platform workflow scheduled on its queue',
    out?.result === `backed up job-1 at ${siteA}`,
    `${JSON.stringify(out?.result)} in ${Math.round(performance.now() - started)} ms`,
  );
  c.ok(
    'site worker: its activity failure reached the workflow (RespondActivityTaskFailed)',
    out?.failure === 'disk full (on purpose)',
    JSON.stringify(out?.failure),
  );
  c.ok(
    'site worker: a cancelled activity was reported cancelled (RespondActivityTaskCanceled)',
    out?.cancel === 'cancelled',
    JSON.stringify(out?.cancel),
  );
  const listed = await c.allowed('platform: ListWorkflowExecutions finds the run', async () => {
    const ids = [];
    for await (const wf of client.workflow.list({ query: `WorkflowId = "e2e-backup-${siteA}"` }))
      ids.push(wf.workflowId);
    return ids;
  });
  c.ok('platform: the listing has the run', listed?.length === 1);
}

/** The Web UI, with its own certificate, sees every run. */
async function uiScenario({ server, siteA, c }) {
  const url = `http://127.0.0.1:${server.uiPort}/api/v1/namespaces/${namespace}/workflows?query=${encodeURIComponent(`WorkflowId = "e2e-backup-${siteA}"`)}`;
  const body = await c.allowed('web UI: lists workflows through its client certificate', async () => {
    const res = await fetch(url);
    if (!res.ok) throw new Error(`HTTP ${res.status}: ${await res.text()}`);
    return res.json();
  });
  c.ok(
    'web UI: shows the run',
    body?.executions?.some((e) => e.execution?.workflowId === `e2e-backup-${siteA}`),
    `${body?.executions?.length ?? 0} run(s)`,
  );
}

const deadline = setTimeout(() => {
  console.log('FAIL the end-to-end run took more than 5 minutes');
  process.exit(1);
}, 300_000);
main()
  .catch((err) => {
    console.error(err);
    process.exitCode = 1;
  })
  .finally(() => clearTimeout(deadline));
