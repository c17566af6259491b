// Cases (5) and (8), on the whole platform as the tests start it (ops/dev/stack.ts's throw-away one: metadata
// database, Temporal dev server, central worker and API in this process, the site worker as a child process).
// (5) a run-now through the API, timed until its history row says how it ended; (8) the history listing under load
// from autocannon in a process of its own, and creating 1,000 configurations, each with its Temporal Schedule.
import { writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { sql } from 'drizzle-orm';
import { bundleWorkflowCode } from '@temporalio/worker';
import pino from 'pino';
import { WORKFLOWS_PATH } from '../../workers/runtime.ts';
import { createLogger } from '../../common/logger.ts';
import { createConfig, setUpSite, signup } from '../dev/fixtures.ts';
import { startScratchPlatform, type ScratchPlatform as Stack } from '../dev/stack.ts';
import type { BenchContext } from './context.ts';
import type { BenchDatabase } from './data.ts';
import { backgroundCpu, formatBytes, memoryOf, mustRun, nextSecond } from './lib.ts';
import { CONTENTION_PERCENT, rounds } from './report.ts';

export async function startPlatform(ctx: BenchContext): Promise<{ stack: Stack; stop: () => Promise<void> }> {
  if (!process.env.WORKFLOW_BUNDLE) {
    // Without a bundle the central worker would bundle the workflows itself at start, a few seconds of no interest.
    const bundle = path.join(ctx.tmp, 'workflows.js');
    const quiet = () => {};
    const { code } = await bundleWorkflowCode({
      workflowsPath: WORKFLOWS_PATH,
      logger: { log: quiet, trace: quiet, debug: quiet, info: quiet, warn: quiet, error: quiet },
    });
    await writeFile(bundle, code);
    process.env.WORKFLOW_BUNDLE = bundle;
  }
  // The API's and central worker's log lines go to a file, as a production API's stdout does: capturing and parsing
  // every line in memory would be the bench's cost.
  const stack = await startScratchPlatform({
    logger: createLogger('backup-test', pino.destination({ dest: path.join(ctx.tmp, 'platform.log'), sync: false })),
  });
  return {
    stack,
    stop: ctx.cleanup.add('platform (Temporal dev server, workers, API, metadata database)', () => stack.stop()),
  };
}

interface BackupRow {
  id: string;
  workflowId: string;
  status: string;
  error: string | null;
  sizeBytes: number | null;
  finishedAt: string | null;
}

/**
 * One run-now: seconds from the request until the history row was written (its finishedAt, set by the central worker
 * in this very process as it writes the row), and until the workflow itself ended. The bench polls only until the
 * run's row appears (that is early), then waits on Temporal: polling all along would take CPU from the dump it times.
 */
async function runNow(
  stack: Stack,
  token: string,
  configId: string,
): Promise<{ seconds: number; workflowSeconds: number; row: BackupRow }> {
  const list = async () =>
    (await stack.api<{ items: BackupRow[] }>('GET', `/api/v1/backups?configId=${configId}&limit=5`, { token })).body
      .items;
  const seen = new Set((await list()).map((r) => r.workflowId));
  // A backup file is named by the second its run started in; two runs in one second would collide.
  await nextSecond();
  const t0 = Date.now();
  const res = await stack.api('POST', `/api/v1/configs/${configId}/run`, { token });
  if (res.status !== 202) throw new Error(`run now: HTTP ${res.status} ${JSON.stringify(res.body)}`);
  let started: BackupRow | undefined;
  for (const deadline = Date.now() + 60_000; !started; await sleep(25)) {
    started = (await list()).find((r) => !seen.has(r.workflowId));
    if (!started && Date.now() > deadline) throw new Error('the run did not start within a minute');
  }
  await stack.temporal.client.workflow
    .getHandle(started.workflowId)
    .result()
    .catch(() => undefined);
  const workflowSeconds = (Date.now() - t0) / 1000;
  const row = (await stack.api<BackupRow>('GET', `/api/v1/backups/${started.id}`, { token })).body;
  if (row.status !== 'succeeded' || !row.finishedAt) throw new Error(`the run ended ${row.status}: ${row.error}`);
  return { seconds: (Date.parse(row.finishedAt) - t0) / 1000, workflowSeconds, row };
}

export interface E2e {
  /** Runs the tiny configuration again, `runs` times, as another series (e.g. once the history is big). */
  tinyAgain(id: string, label: string): Promise<void>;
  stop(): Promise<void>;
}

export async function runE2eCases(
  ctx: BenchContext,
  stack: Stack,
  source: BenchDatabase,
  tiny: BenchDatabase,
): Promise<E2e> {
  const tenant = await signup(stack);
  const { server, worker } = await setUpSite(stack, tenant.token, { backupsDir: path.join(ctx.tmp, 'e2e-backups') });
  // keepLocal 1: each run's retention removes the previous file, so the disk holds one dump at a time.
  const big = await createConfig(stack, tenant.token, { serverId: server.id, databases: [source.name], keepLocal: 1 });
  const small = await createConfig(stack, tenant.token, { serverId: server.id, databases: [tiny.name], keepLocal: 1 });
  // The first run of a fresh platform loads code and opens connections; a platform in service has done that.
  const warm = await runNow(stack, tenant.token, small.id);
  ctx.log(`  warm-up run (tiny): ${warm.seconds.toFixed(2)} s`);
  const variant = (id: string, label: string, configId: string) => ({
    id,
    label,
    run: async () => {
      const r = await runNow(stack, tenant.token, configId);
      return {
        seconds: r.seconds,
        outputBytes: r.row.sizeBytes ?? undefined,
        detail: { workflowSeconds: r.workflowSeconds },
      };
    },
  });
  await rounds(
    ctx.results,
    ctx.runs,
    [
      variant('e2e', `(5) run-now via API until history row, ${formatBytes(source.dataBytes)} database`, big.id),
      variant('e2e-tiny', `(5) run-now via API until history row, ${formatBytes(tiny.dataBytes)} database`, small.id),
    ],
    ctx.log,
  );
  // The real site worker (Temporal worker, polling) after those runs: its peak covers every dump it did.
  if (worker.child.pid) {
    const mem = await memoryOf(worker.child.pid);
    ctx.results.figure(
      'rss-site-worker',
      `site worker process peak RSS after the (5) runs (${formatBytes(source.dataBytes)})`,
      'bytes',
      mem.peak,
    );
  }
  return {
    tinyAgain: (id, label) => rounds(ctx.results, ctx.runs, [variant(id, label, small.id)], ctx.log),
    stop: () => worker.stop(),
  };
}

const HISTORY_ROWS = 1_000_000;
const CONFIGS = 1000;
const CONFIG_CONCURRENCY = 10;
const LOAD_CONNECTIONS = 50;
const LOAD_SECONDS = 10;

export async function runApiCases(ctx: BenchContext, stack: Stack): Promise<void> {
  const tenant = await signup(stack);
  const site = await stack.api('POST', '/api/v1/sites', { token: tenant.token, body: { name: 'bench-site' } });
  if (site.status !== 201) throw new Error(`site: HTTP ${site.status} ${JSON.stringify(site.body)}`);
  const server = await stack.api('POST', '/api/v1/servers', {
    token: tenant.token,
    body: { siteId: site.body.id, name: 'main-pg', engine: 'postgresql' },
  });
  if (server.status !== 201) throw new Error(`server: HTTP ${server.status} ${JSON.stringify(server.body)}`);
  const config = await createConfig(stack, tenant.token, {
    serverId: server.body.id,
    databases: ['shop', 'crm', 'erp'],
  });

  const t0 = performance.now();
  await insertHistory(stack, {
    tenantId: tenant.tenantId,
    configId: config.id,
    siteId: site.body.id,
    serverId: server.body.id,
  });
  ctx.log(
    `  ${HISTORY_ROWS.toLocaleString('en')} history rows inserted in ${((performance.now() - t0) / 1000).toFixed(1)} s (not timed)`,
  );

  const url = `${stack.baseUrl}/api/v1/backups`;
  const first = await stack.api('GET', '/api/v1/backups', { token: tenant.token });
  if (first.status !== 200 || first.body.items.length !== 50)
    throw new Error(`history listing: HTTP ${first.status}, ${first.body.items?.length} items`);
  ctx.log(`  one page: ${formatBytes(JSON.stringify(first.body).length)} of JSON, 50 rows`);
  await load(ctx, url, tenant.token, 3); // warm-up: JIT, connection pool, the index in the buffer cache
  for (let r = 0; r < ctx.runs; r++) {
    const out = await load(ctx, url, tenant.token, LOAD_SECONDS);
    ctx.results.figure('api-list-p50', `(8) GET /backups p50, 1M rows, ${LOAD_CONNECTIONS} connections`, 'ms', out.p50);
    ctx.results.figure('api-list-p99', `(8) GET /backups p99, 1M rows, ${LOAD_CONNECTIONS} connections`, 'ms', out.p99);
    ctx.results.figure('api-list-rps', `(8) GET /backups throughput`, 'req/s', out.rps);
    ctx.results.figure('api-list-failed', `(8) GET /backups failed or timed out (10 s)`, 'count', out.failed);
    ctx.log(
      `  history listing [${r + 1}/${ctx.runs}]: p50 ${out.p50} ms, p99 ${out.p99} ms, ${out.rps.toFixed(0)} req/s${out.failed ? `, ${out.failed} failed or timed out` : ''}`,
    );
  }

  await quiet(ctx);
  await rounds(
    ctx.results,
    ctx.runs,
    [
      {
        id: 'api-configs',
        label: `(8) create ${CONFIGS.toLocaleString('en')} configurations (schedules), ${CONFIG_CONCURRENCY} at a time`,
        run: async (round) => {
          let next = 0;
          const failures: string[] = [];
          const t = performance.now();
          await Promise.all(
            Array.from({ length: CONFIG_CONCURRENCY }, async () => {
              while (next < CONFIGS) {
                const i = next++;
                const res = await stack.api('POST', '/api/v1/configs', {
                  token: tenant.token,
                  body: {
                    name: `bench ${round}-${i}`,
                    serverId: server.body.id,
                    databases: ['shop'],
                    timezone: 'Europe/Berlin',
                    schedule: {
                      kind: 'daily',
                      time: `${String(i % 24).padStart(2, '0')}:${String(i % 60).padStart(2, '0')}`,
                    },
                  },
                });
                if (res.status !== 201) failures.push(`HTTP ${res.status} ${JSON.stringify(res.body)}`);
              }
            }),
          );
          const seconds = (performance.now() - t) / 1000;
          if (failures.length) throw new Error(`${failures.length} of ${CONFIGS} failed, e.g. ${failures[0]}`);
          return { seconds };
        },
      },
    ],
    ctx.log,
  );
}

/**
 * Requests the load test gave up on may still be running in the API and the database; the next measurement waits
 * until the machine is quiet (or a minute has passed) so it does not pay for them.
 */
async function quiet(ctx: BenchContext): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const busy = await backgroundCpu(1000);
    if (busy < CONTENTION_PERCENT || Date.now() > deadline) return;
    ctx.log(`  waiting for the machine to settle (${busy}% busy)`);
  }
}

/** A tenant's history as years of runs would leave it, written straight into the table (not part of any timing). */
async function insertHistory(
  stack: Stack,
  ids: { tenantId: string; configId: string; siteId: string; serverId: string },
): Promise<void> {
  const counts = JSON.stringify([
    { table: 'public.customers', rows: 120000, exact: false },
    { table: 'public.orders', rows: 880000, exact: false },
    { table: 'public.events', rows: 9100000, exact: false },
  ]);
  await stack.db.db.transaction(async (tx) => {
    // The ids are known good: skipping the per-row foreign-key checks saves most of the load time.
    await tx.execute(sql`set local session_replication_role = replica`);
    await tx.execute(
      sql.raw(`
      insert into backups (tenant_id, config_id, site_id, server_id, database, workflow_id, run_id, file_name, size_bytes, sha256,
                           started_at, finished_at, status, error, kind, compression, encrypted, table_counts, location, available_for_download)
      select '${ids.tenantId}', '${ids.configId}', '${ids.siteId}', '${ids.serverId}', db,
             'backup-${ids.configId}-' || to_char(ts at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'), md5(g::text)::uuid::text,
             db || '_' || to_char(ts at time zone 'UTC', 'YYYYMMDD_HH24MISS') || '.pgdump.zst', 40000000 + (g % 9973) * 1000,
             encode(sha256(int8send(g)), 'hex'), ts, ts + interval '4 minutes',
             (case when g % 97 = 0 then 'failed' else 'succeeded' end)::backup_status,
             case when g % 97 = 0 then 'PostgreSQL (server 10.0.0.5:5432, user ''backup''): connection refused; will retry' end,
             'backup', 'zstd', false, '${counts}'::jsonb,
             case when g <= 21 then 'site:main-pg/' || db || '/' || db || '_' || to_char(ts at time zone 'UTC', 'YYYYMMDD_HH24MISS') || '.pgdump.zst' end,
             g <= 21
      from (select g, (array['shop', 'crm', 'erp'])[1 + g % 3] as db, now() - g * interval '2 minutes' as ts
            from generate_series(1, ${HISTORY_ROWS}) g) s`),
    );
  });
  // A table that has held its rows for years is vacuumed: without this, autovacuum's first pass over the million new
  // rows would run during the measurement.
  await stack.db.db.execute(sql`vacuum (analyze) backups`);
}

/** autocannon in a process of its own, so the load and the API do not share an event loop. */
async function load(
  ctx: BenchContext,
  url: string,
  token: string,
  seconds: number,
): Promise<{ p50: number; p99: number; rps: number; failed: number }> {
  const cli = createRequire(import.meta.url).resolve('autocannon');
  const r = await mustRun(
    ctx.cleanup,
    process.execPath,
    [cli, '-c', String(LOAD_CONNECTIONS), '-d', String(seconds), '-j', '-H', `authorization=Bearer ${token}`, url],
    { keepStdout: true },
  );
  const out = JSON.parse(r.stdout) as {
    latency: { p50: number; p99: number };
    requests: { average: number; total: number };
    non2xx: number;
    errors: number;
    timeouts: number;
  };
  // Requests that timed out (10 s) have no latency in the percentiles: they are counted, and fail the target.
  return { p50: out.latency.p50, p99: out.latency.p99, rps: out.requests.average, failed: out.non2xx + out.errors };
}
