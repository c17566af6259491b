// Azure Blob for the tests and the bench: Azurite (from node_modules) on a free loopback port, blobs in memory, run
// in a temp folder.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { freePort } from './ports.ts';

/** The emulator's published development account; no secret. */
export const AZURITE_ACCOUNT = 'devstoreaccount1';
export const AZURITE_KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

export interface Azurite {
  connectionString: string;
  accountName: string;
  accountKey: string;
  /** The blob endpoint, path-style: http://127.0.0.1:<port>/devstoreaccount1 */
  blobUrl: string;
  stop(): Promise<void>;
}

export async function startAzurite(): Promise<Azurite> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'bp-azurite-'));
  const main = createRequire(import.meta.url).resolve('azurite/dist/src/blob/main.js');
  const port = await freePort();
  // Blobs in memory; the temp folder is the working directory for anything else it writes.
  const args = [
    main,
    '--blobHost',
    '127.0.0.1',
    '--blobPort',
    String(port),
    '--inMemoryPersistence',
    '--skipApiVersionCheck',
    '--loose',
    '--silent',
    '--disableTelemetry',
  ];
  const child = spawn(process.execPath, args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  const exited = once(child, 'exit');
  const alive = () => child.exitCode === null && child.signalCode === null;
  const stop = async () => {
    if (alive()) {
      child.kill('SIGTERM');
      await exited;
    }
    await rm(dir, { recursive: true, force: true });
  };

  const blobUrl = `http://127.0.0.1:${port}/${AZURITE_ACCOUNT}`;
  // Any HTTP answer (even an authorization error) means it is listening.
  const deadline = Date.now() + 30_000;
  for (let delay = 20; ; delay = Math.min(delay * 2, 250)) {
    try {
      await fetch(`${blobUrl}?comp=list`, { signal: AbortSignal.timeout(2000) });
      break;
    } catch (err) {
      if (!alive() || Date.now() > deadline) {
        await stop();
        throw new Error(`Azurite did not start on port ${port}: ${(err as Error).message}\n${stderr}`);
      }
      await new Promise((r) => setTimeout(r, delay));
    }
  }

  return {
    connectionString: `DefaultEndpointsProtocol=http;AccountName=${AZURITE_ACCOUNT};AccountKey=${AZURITE_KEY};BlobEndpoint=${blobUrl};`,
    accountName: AZURITE_ACCOUNT,
    accountKey: AZURITE_KEY,
    blobUrl,
    stop,
  };
}
