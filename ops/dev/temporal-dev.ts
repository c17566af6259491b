// Starts the platform's own Temporal server (ops/temporal-server, built by ops/setup/env.sh) on loopback and waits
// until it serves. Its frontend speaks TLS only, with a CA it makes in `stateDir/tls`, and lets in only tokens signed
// by the platform's key in `stateDir` (made on first start): the API and central worker sign their own, a site worker
// gets one at check-in that allows its own task queue and nothing else. Used by `npm start`, the tests and the bench.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { loadOrCreateSigningKey } from '../../common/temporal-token.ts';
import { freePort } from '../services/ports.ts';

export interface DevServer {
  address: string;
  uiUrl: string | undefined;
  /** The CA every client trusts (public). */
  tlsCaFile: string;
  /** The platform's signing key: for the API and the central worker only. */
  signingKeyFile: string;
  /** The server's current process (a new one after `start()`). */
  process: ChildProcess;
  stop(): Promise<void>;
  /**
   * Starts a stopped server again on the same port with the same TLS files and key, as after an outage; it keeps its
   * namespace, schedules and runs only with `dbFile`. A server that is running is left as it is.
   */
  start(): Promise<void>;
}

export interface DevServerOptions {
  binary?: string;
  port?: number;
  uiPort?: number;
  /** Keep state across restarts in this SQLite file; in memory when unset. */
  dbFile?: string;
  /** Where the TLS files and the signing key live (kept across restarts). */
  stateDir: string;
  headless?: boolean;
  readyTimeoutMs?: number;
}

export async function startDevServer(opts: DevServerOptions): Promise<DevServer> {
  let current = await startWithRetries(opts);
  const port = Number(current.address.slice(current.address.lastIndexOf(':') + 1));
  const uiPort = current.uiUrl ? Number(new URL(current.uiUrl).port) : undefined;
  const server: DevServer = {
    ...current,
    stop: () => current.stop(),
    async start() {
      if (current.process.exitCode === null && current.process.signalCode === null) return;
      current = await startWithRetries({ ...opts, port, ...(uiPort && { uiPort }) });
      server.process = current.process;
    },
  };
  return server;
}

/**
 * The server's internal services bind ports it draws at start; one drawn just as another process took it fails the
 * start with "address already in use", and a fresh draw is all it takes. Any other failure is final.
 */
async function startWithRetries(opts: DevServerOptions): Promise<Omit<DevServer, 'start'>> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(opts);
    } catch (err) {
      if (attempt >= 3 || !/address already in use/.test(String(err))) throw err;
    }
  }
}

async function startOnce(opts: DevServerOptions): Promise<Omit<DevServer, 'start'>> {
  const binary = opts.binary ?? process.env.BP_TEMPORAL ?? 'bp-temporal';
  const port = opts.port ?? (await freePort());
  const uiPort = (opts.headless ?? true) ? undefined : (opts.uiPort ?? (await freePort()));
  const tlsDir = path.join(opts.stateDir, 'tls');
  const key = await loadOrCreateSigningKey(opts.stateDir);
  const args = ['--ip', '127.0.0.1', '--port', String(port), '--log-level', 'error'];
  args.push('--tls-dir', tlsDir, '--jwt-public-key', key.publicKeyFile);
  if (uiPort) args.push('--ui-port', String(uiPort));
  if (opts.dbFile) args.push('--db-filename', opts.dbFile);

  const child = spawn(binary, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  const ready = new Promise<void>((resolve, reject) => {
    child.stderr!.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-8000);
      if (stderr.includes('bp-temporal ready')) resolve();
    });
    child.once('error', (e) => reject(new Error(`cannot start the Temporal server (${binary}): ${e.message}`)));
    child.once('exit', (code) => reject(new Error(`the Temporal server exited with code ${code}: ${stderr.trim()}`)));
  });
  const exited = once(child, 'exit');
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  };
  const timeoutMs = opts.readyTimeoutMs ?? 60_000;
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      ready,
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`the Temporal server did not start in ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
  } catch (err) {
    await stop();
    throw err;
  } finally {
    clearTimeout(timer);
  }
  return {
    address: `127.0.0.1:${port}`,
    uiUrl: uiPort ? `http://127.0.0.1:${uiPort}` : undefined,
    tlsCaFile: path.join(tlsDir, 'ca.pem'),
    signingKeyFile: path.join(opts.stateDir, 'signing-key.pem'),
    process: child,
    stop,
  };
}
