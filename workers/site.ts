// The site worker: one per location. It checks in with the API using its site key, then polls its own queue.
import { NativeConnection, Worker } from '@temporalio/worker';
import { parseEnv, siteEnv, type TemporalEnv } from '../common/config.ts';
import { createLogger, type Logger } from '../common/logger.ts';
import type { SiteIdentity } from '../activities/site/context.ts';
import { createSiteActivities } from '../activities/site/index.ts';
import { SiteConfig } from '../activities/site-config.ts';
import { engineFor } from '../activities/engines/index.ts';
import { ENGINES, type Engine } from '../common/model.ts';
import { installTemporalRuntime, runUntilSignal } from './runtime.ts';

export interface CheckIn extends SiteIdentity {
  taskQueue: string;
  siteName: string;
}

/** Asks the API who this site is; a wrong key stops the worker with a clear message rather than polling nothing. */
export async function checkIn(config: SiteConfig): Promise<CheckIn> {
  const url = new URL('/api/v1/agent/check-in', config.file.apiUrl);
  const engines = await servableEngines();
  const res = await fetch(url, {
    method: 'POST',
    headers: { authorization: `Bearer ${config.file.siteKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({ engines }),
    signal: AbortSignal.timeout(15_000),
  });
  if (res.status === 401)
    throw new Error(
      `the API at ${config.file.apiUrl} refused this site's key: copy the key shown when the site was created into ${config.sourcePath}`,
    );
  if (!res.ok) throw new Error(`check-in with ${url} failed: HTTP ${res.status} ${await res.text()}`);
  return (await res.json()) as CheckIn;
}

/** The engines whose tools this machine has: the API refuses a server this site could not back up. */
export async function servableEngines(): Promise<Engine[]> {
  const found = await Promise.all(
    ENGINES.map(async (name) =>
      (await engineFor(name)
        .dumpToolVersion()
        .then(
          () => true,
          () => false,
        ))
        ? name
        : undefined,
    ),
  );
  return found.filter((e): e is Engine => e !== undefined);
}

export async function createSiteWorker(opts: {
  env: TemporalEnv;
  config: SiteConfig;
  identity: CheckIn;
  logger: Logger;
}): Promise<Worker> {
  installTemporalRuntime(opts.logger);
  const connection = await NativeConnection.connect({ address: opts.env.TEMPORAL_ADDRESS });
  return Worker.create({
    connection,
    namespace: opts.env.TEMPORAL_NAMESPACE,
    taskQueue: opts.identity.taskQueue,
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
  const siteLogger = logger.child({ labels: { tenant_id: identity.tenantId, site_id: identity.siteId } });
  const worker = await createSiteWorker({ env, config, identity, logger: siteLogger });
  await runUntilSignal(worker, siteLogger);
}
