// The central worker as a child process, for the fault suite: SIGKILL takes it down as a crash would, and a new one
// picks the runs up. A platform started with `inProcessCentralWorker: false` hands its settings (`centralEnv`) and task
// queue here. Run as a script, this file is the child: the central worker on CENTRAL_TASK_QUEUE.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { centralEnv, parseEnv, type CentralEnv } from '../../common/config.ts';
import { createLogger } from '../../common/logger.ts';
import { openDb } from '../../db/client.ts';
import { createCentralWorker } from '../../workers/central.ts';
import { runUntilSignal } from '../../workers/runtime.ts';
import { LogCapture } from './log-capture.ts';
import { waitFor } from './wait.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface CentralWorkerProcess {
  child: ChildProcess;
  logs: LogCapture;
  /** SIGKILL: no shutdown, no goodbye to Temporal. */
  kill(): Promise<void>;
  stop(): Promise<void>;
}

/** Resolves once the child polls its task queue (it logs "worker started"). */
export async function startCentralProcess(opts: {
  env: CentralEnv;
  taskQueue: string;
  startTimeoutMs?: number;
}): Promise<CentralWorkerProcess> {
  const settings = Object.fromEntries(
    Object.entries(opts.env)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => [k, String(v)]),
  );
  const child = spawn(process.execPath, [fileURLToPath(import.meta.url)], {
    cwd: ROOT,
    // Its settings travel in the environment, never on the command line (ps shows that to every user).
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      LOG_LEVEL: 'info',
      ...settings,
      CENTRAL_TASK_QUEUE: opts.taskQueue,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs = new LogCapture();
  child.stdout!.pipe(logs);
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  const exited = once(child, 'exit');
  const running = () => child.exitCode === null && child.signalCode === null;
  const end = async (signal: NodeJS.Signals) => {
    if (!running()) return;
    child.kill(signal);
    await exited;
  };
  const handle = { child, logs, kill: () => end('SIGKILL'), stop: () => end('SIGTERM') };
  try {
    await waitFor(
      () => {
        if (!running()) throw new Error(`central worker exited early (${child.exitCode}): ${stderr}`);
        return logs.lines.some((l) => l.message === 'worker started');
      },
      opts.startTimeoutMs ?? 60_000,
      'central worker start',
    );
  } catch (err) {
    await handle.kill();
    throw err;
  }
  return handle;
}

if (import.meta.main) {
  const env = parseEnv(centralEnv);
  const logger = createLogger('backup-central-worker');
  const handle = await openDb(env);
  const worker = await createCentralWorker({ env, db: handle.db, logger, taskQueue: process.env.CENTRAL_TASK_QUEUE });
  await runUntilSignal(worker, logger, () => handle.close());
}
