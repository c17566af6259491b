// `npm start`: the whole platform on one machine for a newcomer.
// - Temporal: TEMPORAL_ADDRESS when set; else a dev server (state kept in DATA_DIR/temporal.db) with its Web UI.
// - Metadata: DATABASE_URL when set; else embedded PostgreSQL (PGlite) in DATA_DIR. Migrated on every start.
// - The API and the central worker in this process (PGlite allows one process), one site worker as a child.
// - First start: a local tenant, its owner, a site "local" and its worker configuration, printed once.
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { apiEnv, parseEnv } from '../../common/config.ts';
import { createLogger } from '../../common/logger.ts';
import { CENTRAL_TASK_QUEUE } from '../../common/names.ts';
import { firstStart, persistentSecret } from './first-start.ts';
import { startPlatform, type Platform } from './stack.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const devEnv = z.object({
  TEMPORAL_PORT: z.coerce.number().int().default(7233),
  TEMPORAL_UI_PORT: z.coerce.number().int().default(8233),
  LOCAL_PG_HOST: z.string().default(process.env.PGHOST ?? '127.0.0.1'),
  LOCAL_PG_PORT: z.coerce
    .number()
    .int()
    .default(Number(process.env.PGPORT ?? 5432)),
  LOCAL_PG_USER: z.string().default(process.env.PGUSER ?? 'postgres'),
});

const say = (s: string) => process.stderr.write(`${s}\n`);
const cfg = parseEnv(devEnv);
const api = parseEnv(apiEnv, { ...process.env, DATA_DIR: process.env.DATA_DIR ?? path.join(ROOT, 'data') });
const dataDir = path.resolve(api.DATA_DIR);
const starting = new AbortController();
let platformStart: Promise<Platform> | undefined;

async function main() {
  await mkdir(dataDir, { recursive: true });
  const jwtSecret = api.JWT_SECRET ?? (await persistentSecret(path.join(dataDir, 'jwt-secret')));
  if (!process.env.TEMPORAL_ADDRESS) say('starting the Temporal dev server…');
  platformStart = startPlatform({
    dataDir,
    env: { ...process.env, DATA_DIR: dataDir },
    devServer: {
      port: cfg.TEMPORAL_PORT,
      uiPort: cfg.TEMPORAL_UI_PORT,
      headless: false,
      dbFile: path.join(dataDir, 'temporal.db'),
    },
    logger: createLogger('backup-dev'),
    centralTaskQueue: CENTRAL_TASK_QUEUE,
    http: { port: api.PORT, host: api.HOST, jwtSecret, jwtTtlSeconds: api.JWT_TTL_SECONDS },
    syncIntervalMs: api.SYNC_INTERVAL_HOURS * 3600_000,
    onStopError: (e: unknown) => say(`while stopping: ${(e as Error).message}`),
    signal: starting.signal,
  });
  const platform = await platformStart;
  const apiUrl = platform.baseUrl;
  const local = await firstStart(platform.api, apiUrl, dataDir, {
    host: cfg.LOCAL_PG_HOST,
    port: cfg.LOCAL_PG_PORT,
    user: cfg.LOCAL_PG_USER,
  });
  await platform.startSiteWorker(local.siteConfigPath, { console: true });

  say(`
Backup platform is running (${platform.db.kind === 'pglite' ? `embedded PostgreSQL in ${path.join(dataDir, 'metadata')}` : 'metadata in DATABASE_URL'}).
  API              ${apiUrl}/api/v1
  API docs         ${apiUrl}/docs   (OpenAPI: ${apiUrl}/openapi.json)
  Temporal Web UI  ${platform.devServer?.uiUrl ?? process.env.TEMPORAL_UI_URL ?? "(your cluster's UI)"}
  Temporal gRPC    ${platform.devServer?.address ?? process.env.TEMPORAL_ADDRESS}
  Sign in          ${local.email} / password in ${local.credentialsPath}
  Local site       worker config ${local.siteConfigPath}
Ready. Ctrl-C stops everything.`);
}

let stopping = false;
async function shutdown(code: number) {
  if (stopping) return;
  stopping = true;
  say('stopping…');
  starting.abort();
  // A start under way ends first: then it has either stopped what it began, or handed it all over.
  const started = await platformStart?.catch(() => undefined);
  await started?.stop();
  process.exit(code);
}
process.on('SIGINT', () => void shutdown(0));
process.on('SIGTERM', () => void shutdown(0));

await main().catch(async (err: unknown) => {
  if (starting.signal.aborted) return;
  say(`could not start: ${(err as Error).stack ?? err}`);
  await shutdown(1);
});
