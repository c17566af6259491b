// Case (8) on the platform the e2e cases run on: the history listing with a million rows under load from autocannon
// in a process of its own, and creating 1,000 configurations, each with its Temporal Schedule.
import { createRequire } from 'node:module';
import { sql } from 'drizzle-orm';
import { createConfig, signup } from '../dev/fixtures.ts';
import type { ScratchPlatform } from '../dev/stack.ts';
import { historyFirstPaint } from './console-paint.ts';
import type { BenchContext } from './context.ts';
import { backgroundCpu, formatBytes, mustRun } from './lib.ts';
import { CONTENTION_PERCENT, rounds, type Variant } from './report.ts';

const HISTORY_ROWS = 1_000_000;
const CONFIGS = 1000;
const CONFIG_CONCURRENCY = 10;
const LOAD_CONNECTIONS = 50;
/** Issue 17: the statistics endpoint under 20 connections. */
const STATS_CONNECTIONS = 20;
const LOAD_SECONDS = 10;

export async function runApiCases(ctx: BenchContext, stack: ScratchPlatform): Promise<void> {
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
  await statisticsLoad(ctx, stack, tenant.token, config.id);
  await historyFirstPaint(ctx, stack.baseUrl, tenant);
  await quiet(ctx);
  await rounds(ctx.results, ctx.runs, [createConfigs(stack, tenant.token, server.body.id)], ctx.log);
}

/**
 * Issue 17: GET /statistics on the same million rows (one every 2 minutes: 21,600 in the console's default 30 days,
 * 262,800 in a year), per configuration, under 20 connections.
 */
async function statisticsLoad(ctx: BenchContext, stack: ScratchPlatform, token: string, configId: string) {
  for (const days of [30, 365]) {
    const from = new Date(Date.now() - days * 86_400_000).toISOString();
    const path = `/api/v1/statistics?configId=${configId}&from=${encodeURIComponent(from)}`;
    const first = await stack.api('GET', path, { token });
    if (first.status !== 200) throw new Error(`statistics: HTTP ${first.status} ${JSON.stringify(first.body)}`);
    const url = `${stack.baseUrl}${path}`;
    await load(ctx, url, token, 3, STATS_CONNECTIONS);
    for (let r = 0; r < ctx.runs; r++) {
      const out = await load(ctx, url, token, LOAD_SECONDS, STATS_CONNECTIONS);
      const what = `(17) GET /statistics, ${days} days of 1M rows, ${STATS_CONNECTIONS} connections`;
      ctx.results.figure(`api-stats-${days}-p50`, `${what} p50`, 'ms', out.p50);
      ctx.results.figure(`api-stats-${days}-p99`, `${what} p99`, 'ms', out.p99);
      ctx.results.figure(`api-stats-${days}-failed`, `${what} failed or timed out`, 'count', out.failed);
      ctx.log(
        `  statistics, ${days} days [${r + 1}/${ctx.runs}]: p50 ${out.p50} ms, p99 ${out.p99} ms, ${out.rps.toFixed(0)} req/s`,
      );
    }
  }
}

/** Many configurations at once, as an import or a big tenant's set-up makes them: each writes its Schedule. */
function createConfigs(stack: ScratchPlatform, token: string, serverId: string): Variant {
  return {
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
              token,
              body: {
                name: `bench ${round}-${i}`,
                serverId,
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
  };
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
  stack: ScratchPlatform,
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
  // Replica mode skipped the trigger that keeps the days' totals (backup_daily): they are summed once, as the
  // migration does. A table that has held its rows for years is vacuumed: without this, autovacuum's first pass over
  // the million new rows would run during the measurement.
  await stack.db.db.execute(sql`select backup_daily_rebuild()`);
  await stack.db.db.execute(sql`vacuum (analyze) backups`);
  await stack.db.db.execute(sql`vacuum (analyze) backup_daily`);
}

/** autocannon in a process of its own, so the load and the API do not share an event loop. */
async function load(
  ctx: BenchContext,
  url: string,
  token: string,
  seconds: number,
  connections = LOAD_CONNECTIONS,
): Promise<{ p50: number; p99: number; rps: number; failed: number }> {
  const cli = createRequire(import.meta.url).resolve('autocannon');
  const r = await mustRun(
    ctx.cleanup,
    process.execPath,
    [cli, '-c', String(connections), '-d', String(seconds), '-j', '-H', `authorization=Bearer ${token}`, url],
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
