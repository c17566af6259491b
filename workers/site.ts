// The site worker: one per location. It checks in with the API using its site key, then polls its own queue.
import { Worker } from '@temporalio/worker';
import { temporalConnectionOptions } from '../common/temporal.ts';
import { parseEnv, siteEnv, type TemporalEnv } from '../common/config.ts';
import { createLogger, withRunLabels, type Logger } from '../common/logger.ts';
import { createSiteActivities } from '../activities/site/index.ts';
import { SiteConfig } from '../activities/site-config.ts';
import { checkIn, type CheckIn } from './check-in.ts';
import { serveMetrics } from '../common/metrics.ts';
import { connectWorker, countActivities, installTemporalRuntime, runUntilSignal } from './runtime.ts';
import { TokenRenewal } from './token-renewal.ts';

export async function createSiteWorker(opts: {
  env: TemporalEnv;
  config: SiteConfig;
  identity: CheckIn;
  logger: Logger;
  /** The site's current Temporal token (renewed by checking in again); by default the one from check-in. */
  token?: () => string;
}): Promise<Worker> {
  installTemporalRuntime(opts.logger);
  const first = opts.identity.temporal?.token;
  const token = opts.token ?? (first ? () => first : undefined);
  const connection = await connectWorker(await temporalConnectionOptions(opts.env, token ? { token } : {}));
  return Worker.create({
    connection,
    namespace: opts.env.TEMPORAL_NAMESPACE,
    taskQueue: opts.identity.taskQueue,
    interceptors: { activity: [countActivities] },
    activities: createSiteActivities({ config: opts.config, identity: opts.identity, logger: opts.logger }),
    // A site does few, long, disk- and network-bound tasks; a handful at once is plenty.
    maxConcurrentActivityTaskExecutions: 4,
  });
}

if (import.meta.main) {
  const env = parseEnv(siteEnv);
  const logger = createLogger('backup-site-worker');
  const config = await SiteConfig.load(env.SITE_CONFIG);
  const identity = await checkIn(config);
  const siteLogger = withRunLabels(logger, { tenant_id: identity.tenantId, site_id: identity.siteId });
  const renewal = new TokenRenewal(config, identity, siteLogger);
  const worker = await createSiteWorker({ env, config, identity, logger: siteLogger, token: renewal.token });
  renewal.start(worker);
  const metrics =
    env.METRICS_PORT === undefined ? undefined : await serveMetrics(env.METRICS_PORT, env.METRICS_HOST, siteLogger);
  await runUntilSignal(worker, siteLogger, async () => {
    renewal.stop();
    metrics?.close();
  });
}
