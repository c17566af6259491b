// The whole platform for one test file, on real parts: a throw-away metadata database on the machine's
// PostgreSQL, a Temporal dev server of its own, the central worker in this process, the API on a loopback port,
// and site workers as child processes (so a test can kill one).
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { serve } from '@hono/node-server';
import type { DestinationStream } from 'pino';
import type { Worker } from '@temporalio/worker';
import { centralEnv, parseEnv } from '../../common/config.ts';
import { createLogger, type Logger } from '../../common/logger.ts';
import { connectTemporal, ensureSearchAttributes, type TemporalHandles } from '../../common/temporal.ts';
import { openDb, type DbHandle } from '../../db/client.ts';
import { createApp } from '../../api/app.ts';
import { startDevServer, type DevServer } from '../../ops/dev/temporal-dev.ts';
import { createCentralWorker } from '../../workers/central.ts';
import { SITE_WORKER_NODE_FLAGS } from '../../workers/runtime.ts';
import type { SiteConfigInput } from '../../activities/site-config.ts';
import { createTempDatabase } from '../../ops/services/pg.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** Collects log lines (parsed ECS JSON) so tests can assert on them. */
export class LogCapture extends Writable {
  readonly lines: Record<string, unknown>[] = [];
  readonly raw: string[] = [];
  private partial = '';
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: () => void) {
    const text = this.partial + chunk.toString();
    const parts = text.split('\n');
    this.partial = parts.pop() ?? '';
    for (const line of parts.filter(Boolean)) {
      this.raw.push(line);
      try {
        this.lines.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        this.lines.push({ message: line, unparsed: true });
      }
    }
    cb();
  }
}

export interface ApiResponse<T = any> {
  status: number;
  body: T;
  headers: Headers;
}

export interface SiteWorkerProcess {
  child: ChildProcess;
  logs: LogCapture;
  /** SIGKILL: the process dies at once, as a crashed machine would. */
  kill(): Promise<void>;
  stop(): Promise<void>;
}

export interface Stack {
  baseUrl: string;
  temporal: TemporalHandles;
  db: DbHandle;
  logs: LogCapture;
  logger: Logger;
  centralTaskQueue: string;
  tmp: string;
  api<T = any>(method: string, path: string, opts?: { token?: string; body?: unknown }): Promise<ApiResponse<T>>;
  /** `opts.env` adds to (or overrides) the worker's environment, e.g. a PATH without some dump tools. */
  startSiteWorker(config: SiteConfigInput, opts?: { env?: Record<string, string> }): Promise<SiteWorkerProcess>;
  stop(): Promise<void>;
}

/**
 * `opts.logTo`: where the API's and central worker's log lines go instead of `stack.logs` (the benchmark writes them
 * to a file as the API does in production: capturing and parsing every line in memory would be the bench's cost).
 */
export async function startStack(
  opts: { env?: Record<string, string>; logTo?: DestinationStream } = {},
): Promise<Stack> {
  const cleanups: (() => Promise<void>)[] = [];
  const stop = async () => {
    for (const fn of cleanups.reverse()) await fn().catch((e: unknown) => console.error('cleanup failed:', e));
  };
  try {
    const tmp = await mkdtemp(path.join(os.tmpdir(), 'bp-test-'));
    cleanups.push(() => rm(tmp, { recursive: true, force: true }));

    const metaDb = await createTempDatabase('bp_meta');
    cleanups.push(() => metaDb.drop());
    const db = await openDb({ DATABASE_URL: metaDb.url, DATA_DIR: tmp }, { migrate: true });
    cleanups.push(() => db.close());

    const dev: DevServer = await startDevServer();
    cleanups.push(() => dev.stop());
    const env = parseEnv(centralEnv, {
      TEMPORAL_ADDRESS: dev.address,
      DATABASE_URL: metaDb.url,
      DUMP_HEARTBEAT_TIMEOUT_SECONDS: '3',
      RETRY_INITIAL_SECONDS: '0.2',
      SITE_PICKUP_TIMEOUT_SECONDS: '120',
      ...(process.env.WORKFLOW_BUNDLE && { WORKFLOW_BUNDLE: process.env.WORKFLOW_BUNDLE }),
      ...opts.env,
    });
    const temporal = await connectTemporal(env);
    cleanups.push(() => temporal.connection.close());
    await ensureSearchAttributes(temporal);

    const logs = new LogCapture();
    const logger = createLogger('backup-test', opts.logTo ?? logs);
    const centralTaskQueue = `backup-central-${randomUUID()}`;
    const worker: Worker = await createCentralWorker({ env, db: db.db, logger, taskQueue: centralTaskQueue });
    const running = worker.run();
    cleanups.push(async () => {
      worker.shutdown();
      await running;
      await worker.connection?.close();
    });

    const app = createApp({
      db: db.db,
      temporal,
      logger,
      jwtSecret: randomUUID() + randomUUID(),
      jwtTtlSeconds: 3600,
      centralTaskQueue,
    });
    const server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' });
    await once(server, 'listening');
    const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    cleanups.push(
      () =>
        new Promise<void>((resolve) => {
          server.close(() => resolve());
          (server as unknown as { closeAllConnections?: () => void }).closeAllConnections?.();
        }),
    );

    const siteWorkers = new Set<SiteWorkerProcess>();
    cleanups.push(async () => {
      for (const w of siteWorkers) await w.kill();
    });

    return {
      baseUrl,
      temporal,
      db,
      logs,
      logger,
      centralTaskQueue,
      tmp,
      stop,
      async api(method, urlPath, { token, body } = {}) {
        const headers: Record<string, string> = {};
        if (token) headers.authorization = `Bearer ${token}`;
        if (body !== undefined) headers['content-type'] = 'application/json';
        const res = await fetch(baseUrl + urlPath, {
          method,
          headers,
          body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
        });
        const text = await res.text();
        let parsed: any = text;
        try {
          parsed = text ? JSON.parse(text) : null;
        } catch {
          /* not JSON */
        }
        return { status: res.status, body: parsed, headers: res.headers };
      },
      async startSiteWorker(config, workerOpts = {}) {
        const file = path.join(tmp, `site-${randomUUID()}.json`);
        await writeFile(file, JSON.stringify(config, null, 2));
        const child = spawn(process.execPath, [...SITE_WORKER_NODE_FLAGS, path.join(ROOT, 'workers/site.ts')], {
          cwd: ROOT,
          env: {
            PATH: process.env.PATH,
            HOME: process.env.HOME,
            TEMPORAL_ADDRESS: dev.address,
            TEMPORAL_NAMESPACE: 'default',
            SITE_CONFIG: file,
            LOG_LEVEL: 'info',
            ...workerOpts.env,
          },
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        const wlogs = new LogCapture();
        child.stdout!.pipe(wlogs);
        let stderr = '';
        child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
        const exited = once(child, 'exit');
        const alive = () => child.exitCode === null && child.signalCode === null;
        const handle: SiteWorkerProcess = {
          child,
          logs: wlogs,
          async kill() {
            if (alive()) {
              child.kill('SIGKILL');
              await exited;
            }
            siteWorkers.delete(handle);
          },
          async stop() {
            if (alive()) {
              child.kill('SIGTERM');
              await exited;
            }
            siteWorkers.delete(handle);
          },
        };
        siteWorkers.add(handle);
        // Started means: it checked in and its worker is polling (it logs "worker started").
        await waitFor(
          () => {
            if (!alive()) throw new Error(`site worker exited early (${child.exitCode}): ${stderr}`);
            return wlogs.lines.some((l) => l.message === 'worker started');
          },
          60_000,
          'site worker start',
        );
        return handle;
      },
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** Waits for every start-up to settle, then throws the first failure: nothing is left running unseen. */
export async function settleAll(starts: Promise<unknown>[]): Promise<void> {
  const failed = (await Promise.allSettled(starts)).find((r) => r.status === 'rejected');
  if (failed) throw (failed as PromiseRejectedResult).reason;
}

/** Polls a condition until it holds (returns truthy) or the time runs out. */
export async function waitFor<T>(
  check: () => T | Promise<T>,
  timeoutMs = 60_000,
  what = 'condition',
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let delay = 10;
  for (;;) {
    const v = await check();
    if (v) return v as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 2, 200);
  }
}

/** signup → token; a fresh tenant per call. */
export async function signup(stack: Stack, name = `t-${randomUUID().slice(0, 8)}`) {
  const email = `${name}@example.test`;
  const res = await stack.api('POST', '/api/v1/auth/signup', {
    body: { tenantName: name, email, password: 'correct horse battery staple' },
  });
  if (res.status !== 201) throw new Error(`signup failed: ${res.status} ${JSON.stringify(res.body)}`);
  return { token: res.body.token as string, tenantId: res.body.tenant.id as string, email };
}

/** A run's Temporal history as text with every payload decoded, so a search for a secret looks inside the payloads. */
export async function historyText(stack: Stack, workflowId: string): Promise<string> {
  const json = JSON.stringify(await stack.temporal.client.workflow.getHandle(workflowId).fetchHistory());
  return json.replace(
    /"data":"([A-Za-z0-9+/]*={0,2})"/g,
    (_m, b64: string) => `"data":${JSON.stringify(Buffer.from(b64, 'base64').toString('utf8'))}`,
  );
}
