// The central worker: every workflow, and the activities that use the metadata database.
import { Worker } from '@temporalio/worker';
import { channelSecretKey } from '../common/channel-secrets.ts';
import { centralEnv, parseEnv, type CentralEnv } from '../common/config.ts';
import { createLogger, type Logger } from '../common/logger.ts';
import { CENTRAL_TASK_QUEUE } from '../common/names.ts';
import { OutboundPolicy } from '../common/outbound.ts';
import { connectTemporal, ensureSearchAttributes, temporalConnectionOptions } from '../common/temporal.ts';
import { createCentralActivities } from '../activities/central/index.ts';
import type { RunTuning } from '../activities/contracts.ts';
import { openDb, type Db } from '../db/client.ts';
import { serveMetrics } from '../common/metrics.ts';
import {
  connectWorker,
  countActivities,
  installTemporalRuntime,
  runUntilSignal,
  workflowCodeOption,
} from './runtime.ts';

export function tuningFrom(env: CentralEnv): RunTuning {
  return {
    dumpHeartbeatTimeoutMs: env.DUMP_HEARTBEAT_TIMEOUT_SECONDS * 1000,
    dumpTimeoutMs: env.DUMP_TIMEOUT_SECONDS * 1000,
    sitePickupTimeoutMs: env.SITE_PICKUP_TIMEOUT_SECONDS * 1000,
    retryInitialMs: env.RETRY_INITIAL_SECONDS * 1000,
    bookkeepingTimeoutMs: env.BOOKKEEPING_TIMEOUT_SECONDS * 1000,
  };
}

export async function createCentralWorker(opts: {
  env: CentralEnv;
  db: Db;
  logger: Logger;
  taskQueue?: string;
}): Promise<Worker> {
  installTemporalRuntime(opts.logger);
  const connection = await connectWorker(await temporalConnectionOptions(opts.env, { sub: 'central-worker' }));
  return Worker.create({
    connection,
    namespace: opts.env.TEMPORAL_NAMESPACE,
    taskQueue: opts.taskQueue ?? CENTRAL_TASK_QUEUE,
    interceptors: { activity: [countActivities] },
    ...workflowCodeOption(opts.env.WORKFLOW_BUNDLE),
    activities: createCentralActivities({
      db: opts.db,
      logger: opts.logger,
      tuning: tuningFrom(opts.env),
      outbound: OutboundPolicy.fromEnv(opts.env.OUTBOUND_ALLOW),
      openTemporal: () => connectTemporal(opts.env, 'central-worker'),
      erasureSigningKeyFile: opts.env.ERASURE_SIGNING_KEY_FILE,
      notify: {
        channelKey: channelSecretKey(opts.env),
        outbound: OutboundPolicy.fromEnv(opts.env.OUTBOUND_ALLOW),
        telegramApiUrl: opts.env.TELEGRAM_API_URL,
        offlineAfterMinutes: opts.env.SITE_OFFLINE_AFTER_MINUTES,
      },
    }),
  });
}

if (import.meta.main) {
  const env = parseEnv(centralEnv);
  const logger = createLogger('backup-central-worker');
  const temporal = await connectTemporal(env);
  await ensureSearchAttributes(temporal);
  await temporal.connection.close();
  const handle = await openDb(env);
  const metrics =
    env.METRICS_PORT === undefined ? undefined : await serveMetrics(env.METRICS_PORT, env.METRICS_HOST, logger);
  const worker = await createCentralWorker({ env, db: handle.db, logger });
  await runUntilSignal(worker, logger, async () => {
    metrics?.close();
    await handle.close();
  });
}
