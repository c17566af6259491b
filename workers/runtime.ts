// Process-wide Temporal set-up shared by both workers: the SDK logs through our ECS logger, and the workflow code
// is either bundled now or loaded from a bundle made ahead of time (WORKFLOW_BUNDLE), which starts much faster.
import { fileURLToPath } from 'node:url';
import type { LogLevel, LogMetadata } from '@temporalio/common';
import { CancelledFailure } from '@temporalio/common';
import {
  bundleWorkflowCode,
  NativeConnection,
  Runtime,
  type ActivityInterceptorsFactory,
  type Worker,
  type WorkerOptions,
} from '@temporalio/worker';
import { activitiesTotal } from '../common/metrics.ts';
import type { Logger } from '../common/logger.ts';
import type { TemporalConnectionOptions } from '../common/temporal.ts';

/**
 * Node flags for the site worker: a small young generation, so V8 collects a dump's short-lived buffers soon and the
 * worker's memory stays near its baseline whatever the database size.
 */
export const SITE_WORKER_NODE_FLAGS = ['--max-semi-space-size=1'];

export const WORKFLOWS_PATH = fileURLToPath(new URL('../workflows/index.ts', import.meta.url));

let installed = false;

/** Routes the SDK's own logs (and activity context logs) to pino. Call once, before any connection. */
export function installTemporalRuntime(logger: Logger): void {
  if (installed) return;
  installed = true;
  const sdk = logger.child({ log: { logger: 'temporal-sdk' } });
  const levels: Record<LogLevel, 'trace' | 'debug' | 'info' | 'warn' | 'error'> = {
    TRACE: 'trace',
    DEBUG: 'debug',
    INFO: 'info',
    WARN: 'warn',
    ERROR: 'error',
  };
  const log = (level: LogLevel, message: string, meta?: LogMetadata) => sdk[levels[level]](sdkFields(meta), message);
  Runtime.install({
    logger: {
      log,
      trace: (m, meta) => log('TRACE', m, meta),
      debug: (m, meta) => log('DEBUG', m, meta),
      info: (m, meta) => log('INFO', m, meta),
      warn: (m, meta) => log('WARN', m, meta),
      error: (m, meta) => log('ERROR', m, meta),
    },
  });
}

/** The SDK's metadata as ECS: an error as `error.*`, a duration as `event.duration`, the rest as labels. */
function sdkFields(meta: LogMetadata | undefined): Record<string, unknown> {
  const { error, durationMs, ...rest } = meta ?? {};
  const labels = Object.fromEntries(
    Object.entries(rest)
      // The task token identifies a task to the server only; it is noise in a log.
      .filter(([k]) => k !== 'taskToken')
      .map(([k, v]) => [SDK_LABELS[k] ?? snakeCase(k), v]),
  );
  return {
    labels,
    ...(error instanceof Error && { err: error }),
    ...(error !== undefined && !(error instanceof Error) && { error: { message: String(error) } }),
    ...(typeof durationMs === 'number' && { event: { duration: Math.round(durationMs * 1e6) } }),
  };
}

/** The SDK's names for what our own lines call otherwise (see RunLabels). */
const SDK_LABELS: Record<string, string> = { workflowRunId: 'run_id', runId: 'run_id', activityType: 'activity' };

const snakeCase = (k: string) => k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

export function workflowCodeOption(
  bundlePath: string | undefined,
): Pick<WorkerOptions, 'workflowBundle' | 'workflowsPath'> {
  return bundlePath ? { workflowBundle: { codePath: bundlePath } } : { workflowsPath: WORKFLOWS_PATH };
}

export async function bundleWorkflows(): Promise<string> {
  const { code } = await bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: undefined });
  return code;
}

/** Runs until SIGINT/SIGTERM, then lets in-flight tasks finish and closes its connections. */
export async function runUntilSignal(
  worker: Worker,
  logger: Logger,
  cleanup: () => Promise<void> = async () => {},
): Promise<void> {
  const stop = () => worker.shutdown();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  logger.info({ labels: { task_queue: worker.options.taskQueue } }, 'worker started');
  try {
    await worker.run();
  } finally {
    await worker.connection?.close();
    await cleanup();
    logger.info('worker stopped');
  }
}

/**
 * A worker's connection to Temporal. A credential that changes (a self-signed token, a site's token renewed at
 * check-in) is handed to the connection within a second of changing (asking costs only a comparison).
 */
export async function connectWorker(options: TemporalConnectionOptions): Promise<NativeConnection> {
  const { apiKey, ...rest } = options;
  const current = () => (typeof apiKey === 'function' ? apiKey() : apiKey);
  const connection = await NativeConnection.connect({ ...rest, ...(apiKey && { apiKey: current()! }) });
  if (typeof apiKey === 'function') {
    let last = current();
    const timer = setInterval(() => {
      const next = current();
      if (next === last || !next) return;
      last = next;
      connection.setApiKey(next).catch(() => clearInterval(timer));
    }, 1000);
    timer.unref();
  }
  return connection;
}

/** Counts each activity execution on this worker by type and outcome (backup_platform_activities_total). */
export const countActivities: ActivityInterceptorsFactory = (ctx) => ({
  inbound: {
    async execute(input, next) {
      const activity = ctx.info.activityType;
      try {
        const result: unknown = await next(input);
        activitiesTotal.inc({ activity, outcome: 'success' });
        return result;
      } catch (err) {
        activitiesTotal.inc({ activity, outcome: err instanceof CancelledFailure ? 'cancelled' : 'failure' });
        throw err;
      }
    },
  },
});
