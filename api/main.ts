// The API process: migrates the metadata database, registers search attributes, serves HTTP.
import { readFile } from 'node:fs/promises';
import https from 'node:https';
import { serve } from '@hono/node-server';
import { channelSecretKey } from '../common/channel-secrets.ts';
import { apiEnv, parseEnv } from '../common/config.ts';
import { erasurePublicKey } from '../common/erasure.ts';
import { createLogger } from '../common/logger.ts';
import { CENTRAL_TASK_QUEUE } from '../common/names.ts';
import { connectTemporal, ensureSearchAttributes } from '../common/temporal.ts';
import { openDb } from '../db/client.ts';
import { createApp } from './app.ts';
import { SiteTokens } from './agent/site-tokens.ts';
import { Schedules } from './temporal/schedules.ts';

const env = parseEnv(apiEnv);
if (!env.JWT_SECRET) throw new Error('JWT_SECRET is not set: give the API a random secret of at least 32 characters');
const logger = createLogger('backup-api');
const handle = await openDb(env, { migrate: true, answerTimeoutMs: env.DEPENDENCY_TIMEOUT_MS });
const temporal = await connectTemporal(env);
await ensureSearchAttributes(temporal);
await new Schedules(temporal.client, CENTRAL_TASK_QUEUE).ensureSync(env.SYNC_INTERVAL_HOURS * 3600_000);
const app = createApp({
  db: handle.db,
  temporal,
  logger,
  jwtSecret: env.JWT_SECRET,
  jwtTtlSeconds: env.JWT_TTL_SECONDS,
  centralTaskQueue: CENTRAL_TASK_QUEUE,
  siteTokens: await SiteTokens.fromEnv(env, env.SITE_TOKEN_TTL_SECONDS),
  https: Boolean(env.TLS_CERT_FILE),
  signupOpen: env.SIGNUP === 'open',
  signupsPerHour: env.SIGNUP_PER_HOUR,
  dependencyTimeoutMs: env.DEPENDENCY_TIMEOUT_MS,
  temporalUiUrl: env.TEMPORAL_UI_URL,
  baseDomain: env.BASE_DOMAIN,
  metricsToken: env.METRICS_TOKEN,
  erasurePublicKey: await erasurePublicKey(env.ERASURE_SIGNING_KEY_FILE),
  cloudReadFile: env.CLOUD_READ_FILE,
  channelKey: channelSecretKey(env),
});
if (Boolean(env.TLS_CERT_FILE) !== Boolean(env.TLS_KEY_FILE))
  throw new Error('TLS_CERT_FILE and TLS_KEY_FILE go together: set both for HTTPS, or neither');
const tls = env.TLS_CERT_FILE
  ? {
      createServer: https.createServer,
      serverOptions: { cert: await readFile(env.TLS_CERT_FILE), key: await readFile(env.TLS_KEY_FILE!) },
    }
  : {};
const server = serve({ fetch: app.fetch, port: env.PORT, hostname: env.HOST, ...tls }, (info) =>
  logger.info(`API listening on ${env.TLS_CERT_FILE ? 'https' : 'http'}://${info.address}:${info.port}`),
);

for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    server.close();
    void Promise.all([handle.close(), temporal.connection.close()]).then(() => process.exit(0));
  });
}
