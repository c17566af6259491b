// Case (5) on the whole platform as the tests start it (ops/dev/stack.ts's throw-away one: metadata database,
// Temporal dev server, central worker and API in this process, the site worker as a child process): a run-now
// through the API, timed until its history row says how it ended.
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { bundleWorkflowCode } from '@temporalio/worker';
import pino from 'pino';
import { createLogger } from '../../common/logger.ts';
import { WORKFLOWS_PATH } from '../../workers/runtime.ts';
import { createConfig, setUpSite, signup } from '../dev/fixtures.ts';
import { startScratchPlatform, type ScratchPlatform } from '../dev/stack.ts';
import type { BenchContext } from './context.ts';
import type { BenchDatabase } from './data.ts';
import { formatBytes, memoryOf, nextSecond } from './lib.ts';
import { rounds } from './report.ts';

export async function startBenchPlatform(
  ctx: BenchContext,
): Promise<{ stack: ScratchPlatform; stop: () => Promise<void> }> {
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
  stack: ScratchPlatform,
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
  stack: ScratchPlatform,
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
