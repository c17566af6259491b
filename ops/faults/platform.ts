// The platform the fault suite breaks: ops/dev/stack.ts's scratch platform, but with every part the suite stops
// under its own control: a Temporal dev server of its own whose state lives in a file (stopped and started again on
// the same port), the metadata database on a private PostgreSQL server (halted and started), and the central worker
// as a child process (SIGKILLed and started again).
// First: the API's modules extend zod with .openapi(), which schemas made before that lack (the central worker's
// modules make some).
import { startScratchPlatform, type ScratchPlatform } from '../dev/stack.ts';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';
import pino from 'pino';
import { createLogger } from '../../common/logger.ts';
import { WORKFLOWS_PATH } from '../../workers/runtime.ts';
import { startCentralProcess, type CentralWorkerProcess } from '../dev/central-process.ts';
import { startDevServer, type DevServer } from '../dev/temporal-dev.ts';
import { freePort } from '../services/ports.ts';

export interface FaultPlatform {
  stack: ScratchPlatform;
  /** Removed at stop; each scenario makes its folders in it. */
  tmp: string;
  central(): CentralWorkerProcess;
  /** SIGKILL the central worker (runs stall until `startCentral`). */
  killCentral(): Promise<void>;
  startCentral(): Promise<void>;
  /** Stops the Temporal server; its state stays in its SQLite file. */
  stopTemporal(): Promise<void>;
  startTemporal(): Promise<void>;
  stop(): Promise<void>;
}

/** Without WORKFLOW_BUNDLE every central worker start would bundle the workflows again (seconds each). */
async function ensureBundle(tmp: string): Promise<void> {
  if (process.env.WORKFLOW_BUNDLE) return;
  const quiet = () => {};
  const { code } = await bundleWorkflowCode({
    workflowsPath: WORKFLOWS_PATH,
    logger: { log: quiet, trace: quiet, debug: quiet, info: quiet, warn: quiet, error: quiet },
  });
  const bundle = path.join(tmp, 'workflows.js');
  await writeFile(bundle, code);
  process.env.WORKFLOW_BUNDLE = bundle;
}

export async function startFaultPlatform(): Promise<FaultPlatform> {
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'bp-faults-'));
  const undo: (() => Promise<unknown>)[] = [() => rm(tmp, { recursive: true, force: true })];
  const stop = async () => {
    for (const fn of undo.reverse().splice(0)) await fn().catch((e: unknown) => console.error('cleanup failed:', e));
  };
  try {
    await ensureBundle(tmp);
    const temporalOpts = {
      port: await freePort(),
      stateDir: path.join(tmp, 'temporal'),
      dbFile: path.join(tmp, 'temporal.sqlite'),
    };
    let temporal: DevServer | undefined = await startDevServer(temporalOpts);
    undo.push(() => temporal?.stop() ?? Promise.resolve());
    // The API's and the central worker's lines go to a file: the suite reads the real state, not the logs.
    const logger = createLogger(
      'backup-faults',
      pino.destination({ dest: path.join(tmp, 'platform.log'), sync: false }),
    );
    const stack = await startScratchPlatform({
      logger,
      privateMetadataServer: true,
      inProcessCentralWorker: false,
      env: {
        TEMPORAL_ADDRESS: temporal.address,
        TEMPORAL_TLS_CA_FILE: temporal.tlsCaFile,
        TEMPORAL_SIGNING_KEY_FILE: temporal.signingKeyFile,
      },
    });
    undo.push(() => stack.stop());
    let central: CentralWorkerProcess | undefined;
    const startCentral = async () => {
      await central?.kill();
      central = await startCentralProcess({ env: stack.centralEnv, taskQueue: stack.centralTaskQueue });
    };
    await startCentral();
    // Stopped before the platform: its activities need the metadata database and Temporal.
    undo.push(() => central?.stop() ?? Promise.resolve());
    return {
      stack,
      tmp,
      central: () => central!,
      killCentral: () => central?.kill() ?? Promise.resolve(),
      startCentral,
      stopTemporal: async () => {
        await temporal?.stop();
        temporal = undefined;
      },
      startTemporal: async () => {
        if (!temporal) temporal = await startDevServer(temporalOpts);
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
