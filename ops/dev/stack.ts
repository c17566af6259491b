// The platform's processes in one place, for `npm start`, the tests and the bench: Temporal (a dev server unless
// TEMPORAL_ADDRESS names one), the metadata database (migrated), central worker and API here, site workers as children.
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { serve } from '@hono/node-server';
import type { Worker } from '@temporalio/worker';
import type { SiteConfigInput } from '../../activities/site-config.ts';
import { createApp } from '../../api/app.ts';
import { DEPENDENCY_TIMEOUT_MS } from '../../api/lib/middleware.ts';
import { SiteTokens } from '../../api/agent/site-tokens.ts';
import type { TxtResolver } from '../../api/domains/service.ts';
import { SITE_TOKEN_TTL_SECONDS } from '../../common/temporal-token.ts';
import { Schedules } from '../../api/temporal/schedules.ts';
import { channelSecretKey } from '../../common/channel-secrets.ts';
import { centralEnv, parseEnv, type CentralEnv } from '../../common/config.ts';
import { devErasureKey, erasurePublicKey } from '../../common/erasure.ts';
import type { Logger } from '../../common/logger.ts';
import { connectTemporal, ensureSearchAttributes, type TemporalHandles } from '../../common/temporal.ts';
import { openDb, type DbHandle } from '../../db/client.ts';
import { createCentralWorker } from '../../workers/central.ts';
import { createTempDatabase, startPrivatePostgres, type PrivatePostgres } from '../services/pg.ts';
import { apiClient, type Api } from './api-client.ts';
import { spawnSiteWorker, type SiteWorkerOptions, type SiteWorkerProcess } from './site-worker.ts';
import { startDevServer, type DevServer, type DevServerOptions } from './temporal-dev.ts';

// DEPENDENCY_TIMEOUT_MS; PGlite is one handle shared with the central worker (the API queues behind it): 10 s there.
const dependencyTimeoutMs = (opts: PlatformOptions, shared = false) =>
  Number(opts.env.DEPENDENCY_TIMEOUT_MS ?? (shared ? 10_000 : DEPENDENCY_TIMEOUT_MS));

export interface PlatformOptions {
  /** An existing folder: PGlite's files when there is no DATABASE_URL; site worker configurations given as objects. */
  dataDir: string;
  /** The central worker's settings (common/config.ts); without TEMPORAL_ADDRESS a dev server is started. */
  env: NodeJS.ProcessEnv;
  /** The dev server's state (TLS files, signing key) lives in `dataDir/temporal`. */
  devServer?: Omit<DevServerOptions, 'stateDir'>;
  logger: Logger;
  centralTaskQueue: string;
  http: { port: number; host: string; jwtSecret: string; jwtTtlSeconds: number };
  /** Keeps the schedule that reads back every copy (`npm start`); a test asks the API for a sync when it needs one. */
  syncIntervalMs?: number;
  /** A failure while stopping does not stop the rest from stopping; it is reported here. */
  onStopError?: (err: unknown) => void;
  /** Calls the start off (Ctrl-C during it): what has started is stopped after the step under way. */
  signal?: AbortSignal;
  /** How the API looks up the TXT records that prove tenants' domains (the system's resolver unless given). */
  resolveTxt?: TxtResolver;
  /** false: no central worker in this process; the caller runs one elsewhere (ops/dev/central-process.ts). */
  inProcessCentralWorker?: boolean;
}

export interface Platform {
  baseUrl: string;
  api: Api;
  temporal: TemporalHandles;
  /** Started for this platform; undefined when TEMPORAL_ADDRESS named a server. */
  devServer: DevServer | undefined;
  db: DbHandle;
  centralTaskQueue: string;
  /** The central worker's settings (secrets included): what a central worker in another process needs. */
  centralEnv: CentralEnv;
  /** A configuration object is written into the data folder; a string is the path of one already written. */
  startSiteWorker(
    config: SiteConfigInput | string,
    opts?: Pick<SiteWorkerOptions, 'env' | 'console'>,
  ): Promise<SiteWorkerProcess>;
  /** Site workers first (killed, or stopped when they run on the console), then the rest newest first. */
  stop(): Promise<void>;
}

export async function startPlatform(opts: PlatformOptions): Promise<Platform> {
  const undo: (() => Promise<unknown>)[] = [];
  const stop = async () => {
    for (const fn of undo.reverse().splice(0)) await fn().catch(opts.onStopError ?? reportStopError);
  };
  const goOn = () => opts.signal?.throwIfAborted();
  try {
    let devServer: DevServer | undefined;
    if (!opts.env.TEMPORAL_ADDRESS) {
      const dev = await startDevServer({ stateDir: path.join(opts.dataDir, 'temporal'), ...opts.devServer });
      undo.push(() => dev.stop());
      devServer = dev;
    }
    const env = parseEnv(centralEnv, {
      ERASURE_SIGNING_KEY_FILE: opts.env.ERASURE_SIGNING_KEY_FILE ?? (await devErasureKey(opts.dataDir)),
      ...opts.env,
      ...(devServer && {
        TEMPORAL_ADDRESS: devServer.address,
        TEMPORAL_TLS_CA_FILE: devServer.tlsCaFile,
        TEMPORAL_SIGNING_KEY_FILE: devServer.signingKeyFile,
      }),
      DATA_DIR: opts.dataDir,
    });
    const temporal = await connectTemporal(env);
    undo.push(() => temporal.connection.close());
    await ensureSearchAttributes(temporal);
    goOn();
    const db = await openDb(env, { migrate: true });
    undo.push(() => db.close());
    goOn();
    if (opts.syncIntervalMs)
      await new Schedules(temporal.client, opts.centralTaskQueue).ensureSync(opts.syncIntervalMs);
    if (opts.inProcessCentralWorker ?? true) await runCentralWorker(opts, env, db, undo);
    goOn();
    // The API's own pool, as in a process of its own: a hung server ends its connections after DEPENDENCY_TIMEOUT_MS,
    // and the central worker's long queries keep theirs. PGlite has one handle only.
    const apiDb = db.kind === 'postgres' ? await openDb(env, { answerTimeoutMs: dependencyTimeoutMs(opts) }) : db;
    if (apiDb !== db) undo.push(() => apiDb.close());
    const baseUrl = await serveApi(opts, env, apiDb, temporal, undo, devServer?.uiUrl);
    const siteWorkers = trackSiteWorkers(opts.dataDir, env, undo);
    goOn();
    return {
      baseUrl,
      api: apiClient(baseUrl),
      temporal,
      devServer,
      db,
      centralTaskQueue: opts.centralTaskQueue,
      centralEnv: env,
      ...siteWorkers,
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

async function runCentralWorker(
  opts: PlatformOptions,
  env: CentralEnv,
  db: DbHandle,
  undo: (() => Promise<unknown>)[],
): Promise<void> {
  const worker: Worker = await createCentralWorker({
    env,
    db: db.db,
    logger: opts.logger,
    taskQueue: opts.centralTaskQueue,
  });
  const running = worker.run();
  undo.push(async () => {
    worker.shutdown();
    await running;
    await worker.connection?.close();
  });
}
const reportStopError = (err: unknown) => console.error('cleanup failed:', err);

async function serveApi(
  opts: PlatformOptions,
  env: CentralEnv,
  db: DbHandle,
  temporal: TemporalHandles,
  undo: (() => Promise<unknown>)[],
  temporalUiUrl: string | undefined,
): Promise<string> {
  const app = createApp({
    db: db.db,
    temporal,
    logger: opts.logger,
    jwtSecret: opts.http.jwtSecret,
    jwtTtlSeconds: opts.http.jwtTtlSeconds,
    centralTaskQueue: opts.centralTaskQueue,
    siteTokens: await SiteTokens.fromEnv(env, Number(opts.env.SITE_TOKEN_TTL_SECONDS ?? SITE_TOKEN_TTL_SECONDS)),
    signupsPerHour: Number(opts.env.SIGNUP_PER_HOUR ?? 10), // tests and the bench sign up a tenant per case
    dependencyTimeoutMs: dependencyTimeoutMs(opts, db.kind !== 'postgres'),
    temporalUiUrl: temporalUiUrl ?? opts.env.TEMPORAL_UI_URL,
    baseDomain: opts.env.BASE_DOMAIN,
    resolveTxt: opts.resolveTxt,
    metricsToken: opts.env.METRICS_TOKEN,
    erasurePublicKey: await erasurePublicKey(env.ERASURE_SIGNING_KEY_FILE),
    cloudReadFile: opts.env.CLOUD_READ_FILE,
    channelKey: channelSecretKey(env),
  });
  const server = serve({ fetch: app.fetch, port: opts.http.port, hostname: opts.http.host });
  await once(server, 'listening');
  undo.push(
    () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        (server as unknown as { closeAllConnections?: () => void }).closeAllConnections?.();
      }),
  );
  return `http://${opts.http.host}:${(server.address() as AddressInfo).port}`;
}

/** Site workers are stopped before anything they talk to, whenever they were started. */
function trackSiteWorkers(
  dataDir: string,
  env: { TEMPORAL_ADDRESS: string; TEMPORAL_NAMESPACE: string; TEMPORAL_TLS_CA_FILE?: string | undefined },
  undo: (() => Promise<unknown>)[],
): Pick<Platform, 'startSiteWorker'> {
  const live = new Map<SiteWorkerProcess, () => Promise<void>>();
  const stopAll = async () => {
    for (const end of [...live.values()]) await end();
  };
  undo.push(stopAll);
  return {
    async startSiteWorker(config, workerOpts = {}) {
      const configFile = typeof config === 'string' ? config : path.join(dataDir, `site-${randomUUID()}.json`);
      if (typeof config !== 'string') await writeFile(configFile, JSON.stringify(config, null, 2));
      const { worker, started } = spawnSiteWorker(
        {
          configFile,
          temporalAddress: env.TEMPORAL_ADDRESS,
          temporalNamespace: env.TEMPORAL_NAMESPACE,
          temporalCaFile: env.TEMPORAL_TLS_CA_FILE,
          ...workerOpts,
        },
        () => live.delete(worker),
      );
      live.set(worker, workerOpts.console ? worker.stop : worker.kill);
      await started;
      return worker;
    },
  };
}

export interface ScratchPlatform extends Platform {
  /** Removed at stop: the data folder, for a test's or the bench's files too. */
  tmp: string;
  /** The metadata database's own server, when asked for one: a test can halt and start it (an outage). */
  metadataServer?: PrivatePostgres;
}

/**
 * A platform to throw away, as the tests and the bench use it: a temp folder, a metadata database of its own on the
 * machine's PostgreSQL, a headless dev server on free ports, its own central task queue, and short timeouts so a
 * lost site worker or a retry shows within seconds. `env` adds to (or overrides) the central worker's settings.
 */
export async function startScratchPlatform(opts: {
  logger: Logger;
  env?: Record<string, string>;
  /** The metadata database on a PostgreSQL server of its own, which the caller may halt and start again. */
  privateMetadataServer?: boolean;
  /** Temporal keeps its state in a file, so a test may stop `devServer` and start it again (an outage). */
  temporalStateFile?: boolean;
  /** false: the caller runs the central worker (e.g. as a child process it can kill). */
  inProcessCentralWorker?: boolean;
  /** A stand-in for DNS TXT look-ups, so a test can prove a domain it does not own. */
  resolveTxt?: TxtResolver;
}): Promise<ScratchPlatform> {
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'bp-test-'));
  const removeTmp = () => rm(tmp, { recursive: true, force: true }).catch(reportStopError);
  let metadataServer: PrivatePostgres | undefined;
  const metaDb = await (async () => {
    if (!opts.privateMetadataServer) return createTempDatabase('bp_meta');
    metadataServer = await startPrivatePostgres();
    const { port, user, password } = metadataServer;
    return createTempDatabase('bp_meta', port, user, password);
  })().catch(async (err: unknown) => {
    await metadataServer?.stop();
    await removeTmp();
    throw err;
  });
  const dropMetaDb = async () => {
    // A private server goes whole; on the machine's server only this platform's database is dropped.
    if (metadataServer) await metadataServer.stop().catch(reportStopError);
    else await metaDb.drop().catch(reportStopError);
  };
  try {
    const platform = await startPlatform({
      dataDir: tmp,
      env: {
        DATABASE_URL: metaDb.url,
        DUMP_HEARTBEAT_TIMEOUT_SECONDS: '3',
        RETRY_INITIAL_SECONDS: '0.2',
        SITE_PICKUP_TIMEOUT_SECONDS: '120',
        ...(process.env.WORKFLOW_BUNDLE && { WORKFLOW_BUNDLE: process.env.WORKFLOW_BUNDLE }),
        // The tests' webhook receivers listen on loopback: allowed here as an operator allows an on-premise one.
        OUTBOUND_ALLOW: '127.0.0.1',
        SIGNUP_PER_HOUR: '100000',
        // Two test files share two cores: a call may take seconds with nothing away (outage tests set 1500).
        DEPENDENCY_TIMEOUT_MS: '15000',
        ...opts.env,
      },
      ...(opts.temporalStateFile && { devServer: { dbFile: path.join(tmp, 'temporal-state.db') } }),
      logger: opts.logger,
      ...(opts.inProcessCentralWorker === false && { inProcessCentralWorker: false }),
      ...(opts.resolveTxt && { resolveTxt: opts.resolveTxt }),
      centralTaskQueue: `backup-central-${randomUUID()}`,
      http: { port: 0, host: '127.0.0.1', jwtSecret: randomUUID() + randomUUID(), jwtTtlSeconds: 3600 },
    });
    const stop = async () => {
      await platform.stop();
      await dropMetaDb();
      await removeTmp();
    };
    return { ...platform, tmp, stop, ...(metadataServer && { metadataServer }) };
  } catch (err) {
    await dropMetaDb();
    await removeTmp();
    throw err;
  }
}
