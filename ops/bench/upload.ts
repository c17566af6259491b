// Case (7): a backup-sized file to Azurite, through our storage's resumable block upload against the Azure SDK's own
// `uploadFile`, and (for the record) the whole `upload` activity, which also reads the object back to prove it.
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, open, rm } from 'node:fs/promises';
import path from 'node:path';
import { BlobServiceClient, type ContainerClient } from '@azure/storage-blob';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createSiteActivities } from '../../activities/site/index.ts';
import { SiteConfig } from '../../activities/site-config.ts';
import { openStorage, type AzureDestinationSettings } from '../../activities/storage/index.ts';
import { bufferSource, fileSource } from '../../activities/storage/sources.ts';
import type { Storage } from '../../activities/storage/storage.ts';
import { createLogger } from '../../common/logger.ts';
import { backupFileName } from '../../common/names.ts';
import { startAzurite, type Azurite } from '../services/azurite.ts';
import type { BenchContext } from './context.ts';
import { formatBytes, MiB, timed } from './lib.ts';
import { rounds } from './report.ts';

const CONTAINER = 'bench';
const DESTINATION = 'azurite';

/** Bytes that look like a compressed backup to the network: they do not compress further. */
async function writeBackupLikeFile(file: string, size: number): Promise<string> {
  const hash = createHash('sha256');
  const fh = await open(file, 'w');
  try {
    for (let done = 0; done < size;) {
      const chunk = randomBytes(Math.min(8 * MiB, size - done));
      hash.update(chunk);
      await fh.write(chunk);
      done += chunk.length;
    }
  } finally {
    await fh.close();
  }
  return hash.digest('hex');
}

/**
 * Azurite in memory, fresh for every round: it frees a deleted blob's memory only on its own schedule, and a few
 * rounds of 1 GiB uploads would otherwise reach its memory limit. Restarting is not part of any timing.
 */
class AzuriteSession {
  readonly #ctx: BenchContext;
  #stop: (() => Promise<void>) | undefined;
  #round = -1;
  storage!: Storage;
  container!: ContainerClient;
  settings!: AzureDestinationSettings;
  constructor(ctx: BenchContext) {
    this.#ctx = ctx;
  }

  async forRound(round: number): Promise<void> {
    if (round === this.#round) return;
    this.#round = round;
    await this.stop();
    const azurite: Azurite = await startAzurite();
    this.#stop = this.#ctx.cleanup.add('Azurite', () => azurite.stop());
    this.settings = { type: 'azure', container: CONTAINER, connectionString: azurite.connectionString };
    await this.#ctx.writeSiteConfig({ destinations: { [DESTINATION]: this.settings } });
    this.storage = openStorage(this.settings);
    this.container = BlobServiceClient.fromConnectionString(azurite.connectionString).getContainerClient(CONTAINER);
    // The container exists before any timed run, so no variant pays for creating it.
    await this.storage.put('warm-up/probe', bufferSource(Buffer.from('warm-up')));
  }

  async stop(): Promise<void> {
    await this.#stop?.();
    this.#stop = undefined;
  }
}

export async function runUploadCases(ctx: BenchContext): Promise<void> {
  const azurite = new AzuriteSession(ctx);
  const fileName = backupFileName('bench', new Date(), 'pgdump', 'zst');
  const file = path.join(ctx.backupsDir, fileName);
  const removeFile = ctx.cleanup.add('upload source file', () => rm(file, { force: true }));
  try {
    await mkdir(ctx.backupsDir, { recursive: true });
    const size = ctx.size;
    const sha256 = await writeBackupLikeFile(file, size);
    ctx.log(`  source file ${formatBytes(size)}`);
    // Loaded for each run: Azurite listens on a new port every round.
    const activities = async () => {
      const config = await SiteConfig.load(ctx.siteConfigPath);
      return createSiteActivities({
        config,
        identity: { tenantId: 'bench', siteId: 'bench' },
        logger: createLogger('bench-upload', { write: () => true }),
      });
    };

    let seq = 0;
    const stored = async (key: string) => {
      const blob = azurite.container.getBlockBlobClient(key);
      const props = await blob.getProperties();
      if (props.contentLength !== size) throw new Error(`stored ${props.contentLength} bytes of ${size}`);
      await blob.delete();
      return props.contentLength;
    };
    await rounds(
      ctx.results,
      ctx.runs,
      [
        {
          id: 'upload',
          label: '(7) our storage put (azure: 8 MiB blocks ×4)',
          run: async (round) => {
            await azurite.forRound(round);
            const key = `ours/${seq++}/${fileName}`;
            const t = await timed(() => azurite.storage.put(key, fileSource(file, size)));
            return { seconds: t.seconds, outputBytes: await stored(key), workBytes: size };
          },
        },
        {
          id: 'upload-sdk',
          label: "(7) Azure SDK's BlockBlobClient.uploadFile (defaults)",
          run: async (round) => {
            await azurite.forRound(round);
            const key = `sdk/${seq++}/${fileName}`;
            const t = await timed(() => azurite.container.getBlockBlobClient(key).uploadFile(file));
            return { seconds: t.seconds, outputBytes: await stored(key), workBytes: size };
          },
        },
        {
          id: 'upload-activity',
          label: '(7) our upload activity: put + read back SHA-256',
          run: async (round) => {
            await azurite.forRound(round);
            const acts = await activities();
            const key = `activity/${seq++}/${fileName}`;
            const env = new MockActivityEnvironment({ attempt: 1, heartbeatTimeoutMs: 30_000 });
            const t = await timed(() =>
              env.run(acts.upload, {
                source: { target: 'site', key: fileName },
                target: DESTINATION,
                key,
                sizeBytes: size,
                sha256,
              }),
            );
            return { seconds: t.seconds, outputBytes: await stored(key), workBytes: size };
          },
        },
      ],
      ctx.log,
    );
  } finally {
    await removeFile();
    await azurite.stop();
  }
}
