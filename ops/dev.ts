// `npm start`: the whole platform on one machine for a newcomer.
// - Temporal: TEMPORAL_ADDRESS when set; else a dev server (state kept in DATA_DIR/temporal.db) with its Web UI.
// - Metadata: DATABASE_URL when set; else embedded PostgreSQL (PGlite) in DATA_DIR. Migrated on every start.
// - The API and the central worker in this process (PGlite allows one process), one site worker as a child.
// - First start: a local tenant, its owner, a site "local" and its worker configuration, printed once.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { serve } from '@hono/node-server';
import { z } from 'zod';
import { apiEnv, centralEnv, parseEnv } from '../common/config.ts';
import { createLogger } from '../common/logger.ts';
import { CENTRAL_TASK_QUEUE } from '../common/names.ts';
import { connectTemporal, ensureSearchAttributes } from '../common/temporal.ts';
import { openDb } from '../db/client.ts';
import { createApp } from '../api/app.ts';
import { Schedules } from '../api/temporal/schedules.ts';
import { createCentralWorker } from '../workers/central.ts';
import { SITE_WORKER_NODE_FLAGS } from '../workers/runtime.ts';
import { startDevServer, type DevServer } from './temporal-dev.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
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
const logger = createLogger('backup-dev');
const stops: (() => Promise<unknown>)[] = [];

async function main() {
  await mkdir(dataDir, { recursive: true });
  let temporalAddress = process.env.TEMPORAL_ADDRESS;
  let uiUrl = process.env.TEMPORAL_UI_URL;
  if (!temporalAddress) {
    say('starting the Temporal dev server…');
    const dev: DevServer = await startDevServer({
      port: cfg.TEMPORAL_PORT,
      uiPort: cfg.TEMPORAL_UI_PORT,
      headless: false,
      dbFile: path.join(dataDir, 'temporal.db'),
    });
    stops.push(() => dev.stop());
    temporalAddress = dev.address;
    uiUrl = dev.uiUrl;
  }
  const env = parseEnv(centralEnv, { ...process.env, TEMPORAL_ADDRESS: temporalAddress, DATA_DIR: dataDir });
  const temporal = await connectTemporal(env);
  stops.push(() => temporal.connection.close());
  await ensureSearchAttributes(temporal);

  const db = await openDb(env, { migrate: true });
  stops.push(() => db.close());
  const jwtSecret = api.JWT_SECRET ?? (await persistentSecret(path.join(dataDir, 'jwt-secret')));

  await new Schedules(temporal.client, CENTRAL_TASK_QUEUE).ensureSync(api.SYNC_INTERVAL_HOURS * 3600_000);
  const app = createApp({
    db: db.db,
    temporal,
    logger,
    jwtSecret,
    jwtTtlSeconds: api.JWT_TTL_SECONDS,
    centralTaskQueue: CENTRAL_TASK_QUEUE,
  });
  const server = serve({ fetch: app.fetch, port: api.PORT, hostname: api.HOST });
  await once(server, 'listening');
  stops.push(() => new Promise((r) => server.close(r)));
  const apiUrl = `http://${api.HOST}:${(server.address() as { port: number }).port}`;

  const worker = await createCentralWorker({ env, db: db.db, logger });
  const running = worker.run();
  stops.push(async () => {
    worker.shutdown();
    await running;
  });

  const local = await bootstrap(apiUrl);
  const site = spawn(process.execPath, [...SITE_WORKER_NODE_FLAGS, path.join(ROOT, 'workers/site.ts')], {
    env: { ...process.env, TEMPORAL_ADDRESS: temporalAddress, SITE_CONFIG: local.siteConfigPath },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  stops.unshift(() => stopChild(site));

  say(`
Backup platform is running (${db.kind === 'pglite' ? `embedded PostgreSQL in ${path.join(dataDir, 'metadata')}` : 'metadata in DATABASE_URL'}).
  API              ${apiUrl}/api/v1
  API docs         ${apiUrl}/docs   (OpenAPI: ${apiUrl}/openapi.json)
  Temporal Web UI  ${uiUrl ?? "(your cluster's UI)"}
  Temporal gRPC    ${temporalAddress}
  Sign in          ${local.email} / password in ${local.credentialsPath}
  Local site       worker config ${local.siteConfigPath}
Ready. Ctrl-C stops everything.`);
}

/** First start only: a tenant to sign in to, and the local site with its worker configuration. */
async function bootstrap(apiUrl: string) {
  const credentialsPath = path.join(dataDir, 'local-admin.json');
  const siteConfigPath = path.join(dataDir, 'site-worker.json');
  const existing = await readFile(credentialsPath, 'utf8')
    .then((t) => JSON.parse(t) as { email: string })
    .catch(() => undefined);
  if (existing) return { email: existing.email, credentialsPath, siteConfigPath };

  const email = 'admin@localhost.test';
  const password = randomBytes(12).toString('base64url');
  const call = async (method: string, p: string, body: unknown, token?: string) => {
    const res = await fetch(apiUrl + p, {
      method,
      headers: { 'content-type': 'application/json', ...(token && { authorization: `Bearer ${token}` }) },
      body: JSON.stringify(body),
    });
    const json = (await res.json()) as any;
    if (!res.ok) throw new Error(`bootstrap ${method} ${p}: ${res.status} ${JSON.stringify(json)}`);
    return json;
  };
  const { token } = await call('POST', '/api/v1/auth/signup', { tenantName: 'Local', email, password });
  const site = await call('POST', '/api/v1/sites', { name: 'local' }, token);
  await call('POST', '/api/v1/servers', { siteId: site.id, name: 'local-postgres', engine: 'postgresql' }, token);
  const siteConfig = {
    apiUrl,
    siteKey: site.key,
    backupsDir: path.join(dataDir, 'Backups'),
    // No password: add "passwordFile" here if your server asks for one.
    servers: {
      'local-postgres': {
        engine: 'postgresql',
        host: cfg.LOCAL_PG_HOST,
        port: cfg.LOCAL_PG_PORT,
        user: cfg.LOCAL_PG_USER,
      },
    },
  };
  await writeSecretFile(siteConfigPath, JSON.stringify(siteConfig, null, 2));
  await writeSecretFile(credentialsPath, JSON.stringify({ email, password }, null, 2));
  return { email, credentialsPath, siteConfigPath };
}

async function persistentSecret(file: string): Promise<string> {
  const existing = await readFile(file, 'utf8').catch(() => undefined);
  if (existing && existing.trim().length >= 32) return existing.trim();
  const secret = randomBytes(32).toString('base64url') + randomUUID();
  await writeSecretFile(file, secret);
  return secret;
}

async function writeSecretFile(file: string, text: string) {
  await writeFile(file, text, { mode: 0o600 });
  await chmod(file, 0o600);
}

async function stopChild(child: ChildProcess) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  await once(child, 'exit');
}

let stopping = false;
async function shutdown(code: number) {
  if (stopping) return;
  stopping = true;
  say('stopping…');
  for (const stop of stops) await stop().catch((e: unknown) => say(`while stopping: ${(e as Error).message}`));
  process.exit(code);
}
process.on('SIGINT', () => void shutdown(0));
process.on('SIGTERM', () => void shutdown(0));

await main().catch(async (err: unknown) => {
  say(`could not start: ${(err as Error).stack ?? err}`);
  await shutdown(1);
});
