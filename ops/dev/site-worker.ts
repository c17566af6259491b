// A site worker as a child process, as a site runs one: a test can kill it the way a crash would, and the bench reads
// its memory from the kernel.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { SITE_WORKER_NODE_FLAGS } from '../../workers/runtime.ts';
import { LogCapture } from './log-capture.ts';
import { waitFor } from './wait.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface SiteWorkerProcess {
  child: ChildProcess;
  /** Its log lines; empty for a worker that writes to the terminal. */
  logs: LogCapture;
  /** SIGKILL: the process dies at once, as a crashed machine would. */
  kill(): Promise<void>;
  stop(): Promise<void>;
}

export interface SiteWorkerOptions {
  configFile: string;
  temporalAddress: string;
  temporalNamespace: string;
  /** The CA of the platform's Temporal server, when it is the dev server. */
  temporalCaFile?: string | undefined;
  /** Adds to (or overrides) the worker's environment, e.g. a PATH without some dump tools. */
  env?: Record<string, string>;
  /**
   * `npm start`'s worker: it shares this process's environment and terminal, and is not waited for. Otherwise it gets
   * a minimal environment, its log lines are kept, and it counts as started once it polls its task queue.
   */
  console?: boolean;
}

/** `started` settles once the worker polls (at once for a console worker); the process counts as running before. */
export function spawnSiteWorker(
  opts: SiteWorkerOptions,
  onEnd: () => void,
): { worker: SiteWorkerProcess; started: Promise<void> } {
  const args = [...SITE_WORKER_NODE_FLAGS, path.join(ROOT, 'workers/site.ts')];
  const logs = new LogCapture();
  if (opts.console) {
    const env = { ...process.env, ...temporalEnvOf(opts), SITE_CONFIG: opts.configFile, ...opts.env };
    const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'inherit', 'inherit'] });
    return { worker: handle(child, logs, onEnd), started: Promise.resolve() };
  }
  const child = spawn(process.execPath, args, {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      ...temporalEnvOf(opts),
      SITE_CONFIG: opts.configFile,
      LOG_LEVEL: 'info',
      ...opts.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.pipe(logs);
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  // Started means: it checked in and its worker is polling (it logs "worker started").
  const started = waitFor(
    () => {
      if (!running(child)) throw new Error(`site worker exited early (${child.exitCode}): ${stderr}`);
      return logs.lines.some((l) => l.message === 'worker started');
    },
    60_000,
    'site worker start',
  ).then(() => undefined);
  return { worker: handle(child, logs, onEnd), started };
}

/** Where the site reaches Temporal and the CA it trusts: never the platform's signing key. */
const temporalEnvOf = (opts: SiteWorkerOptions) => ({
  TEMPORAL_ADDRESS: opts.temporalAddress,
  TEMPORAL_NAMESPACE: opts.temporalNamespace,
  ...(opts.temporalCaFile && { TEMPORAL_TLS_CA_FILE: opts.temporalCaFile }),
});

const running = (child: ChildProcess) => child.exitCode === null && child.signalCode === null;

function handle(child: ChildProcess, logs: LogCapture, onEnd: () => void): SiteWorkerProcess {
  const exited = once(child, 'exit');
  const end = async (signal: NodeJS.Signals) => {
    if (running(child)) {
      child.kill(signal);
      await exited;
    }
    onEnd();
  };
  return { child, logs, kill: () => end('SIGKILL'), stop: () => end('SIGTERM') };
}
