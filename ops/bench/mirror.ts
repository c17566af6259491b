// Object mirror throughput (issue 19): N objects of 100 KiB in Azurite, fetched through SAS URLs by the
// `mirrorObjects` activity (SHA-256, gzip, fsync, rename; batches of 200 as the workflow sends them) against plain
// parallel GETs into files with the same concurrency (what `aws s3 sync` does). The process's RSS is sampled during
// each to show the memory stays flat. Alone, not part of `npm run bench`:
//   node ops/bench/mirror.ts [objects=2000] [concurrency=8] [rounds=2]
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import {
  BlobSASPermissions,
  BlobServiceClient,
  generateBlobSASQueryParameters,
  StorageSharedKeyCredential,
} from '@azure/storage-blob';
import { MockActivityEnvironment } from '@temporalio/testing';
import postgres from 'postgres';
import { createSiteActivities } from '../../activities/site/index.ts';
import { SiteConfig, siteConfigSchema } from '../../activities/site-config.ts';
import { createLogger } from '../../common/logger.ts';
import { DEFAULT_MIRROR_LAYOUT, type MirrorBatchResult } from '../../common/mirror.ts';
import { startAzurite, type Azurite } from '../services/azurite.ts';
import { createTempDatabase, PG_HOST, PG_PORT, PG_USER } from '../services/pg.ts';

const SIZE = 100 * 1024;
const BUCKET = 'bench';

async function seed(azurite: Azurite, objects: number, url: string) {
  const container = BlobServiceClient.fromConnectionString(azurite.connectionString).getContainerClient(BUCKET);
  await container.createIfNotExists();
  const cred = new StorageSharedKeyCredential(azurite.accountName, azurite.accountKey);
  const expiresOn = new Date(Date.now() + 6 * 3600_000);
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  await sql.unsafe(`create table "ObjectStorageFiles" ("Id" bigserial primary key, "Name" text, "Path" text not null,
    "Storage" text not null, "Version" int not null, "Hash" text not null, "SignedDownloadUrl" text not null);
    create table "ObjectStorageDeleteLog" ("FileId" bigint not null, "DeletedAt" timestamptz not null);`);
  const urls: string[] = [];
  for (let at = 0; at < objects; at += 100) {
    const rows = await Promise.all(
      Array.from({ length: Math.min(100, objects - at) }, async (_, j) => {
        const name = `objects/${at + j}/file.bin`;
        const data = randomBytes(SIZE); // like photos and PDFs: incompressible
        await container.getBlockBlobClient(name).uploadData(data);
        const sas = generateBlobSASQueryParameters(
          { containerName: BUCKET, blobName: name, permissions: BlobSASPermissions.parse('r'), expiresOn },
          cred,
        ).toString();
        const signed = `${azurite.blobUrl}/${BUCKET}/${name}?${sas}`;
        urls.push(signed);
        const hash = createHash('sha256').update(data).digest('hex');
        return {
          Name: 'file.bin',
          Path: `/${name}`,
          Storage: BUCKET,
          Version: 1,
          Hash: hash,
          SignedDownloadUrl: signed,
        };
      }),
    );
    await sql`insert into "ObjectStorageFiles" ${sql(rows)}`;
  }
  await sql.end();
  return urls;
}

/** Peak RSS while `fn` runs, sampled every 50 ms. */
async function withRss<T>(
  fn: () => Promise<T>,
): Promise<{ value: T; seconds: number; startMiB: number; peakMiB: number }> {
  const start = process.memoryUsage.rss();
  let peak = start;
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss())), 50);
  const t0 = performance.now();
  try {
    const value = await fn();
    return { value, seconds: (performance.now() - t0) / 1000, startMiB: start / 2 ** 20, peakMiB: peak / 2 ** 20 };
  } finally {
    clearInterval(timer);
  }
}

/** Plain GETs, `concurrency` at once, each into its own file (fsynced when `flush`, as the mirror's are). */
async function plainGets(urls: string[], dir: string, concurrency: number, flush = false): Promise<number> {
  let next = 0;
  let bytes = 0;
  const agent = new http.Agent({ keepAlive: false });
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < urls.length) {
        const i = next++;
        const res = await new Promise<http.IncomingMessage>((resolve, reject) =>
          http.get(urls[i]!, { agent }, resolve).on('error', reject),
        );
        if (res.statusCode !== 200) throw new Error(`GET ${res.statusCode}`);
        res.on('data', (c: Buffer) => (bytes += c.length));
        const file = path.join(dir, String(i));
        await pipeline(res, createWriteStream(file, { flush }));
      }
    }),
  );
  return bytes;
}

async function mirrorAll(config: SiteConfig, database: string, concurrency: number): Promise<number> {
  const activities = createSiteActivities({
    config,
    identity: { tenantId: 'bench', siteId: 'bench' },
    logger: createLogger('bench-mirror', { write: () => true }),
  });
  let cursor: string | null = null;
  let bytes = 0;
  for (let more = true; more;) {
    const batch: MirrorBatchResult = await new MockActivityEnvironment().run(activities.mirrorObjects, {
      serverName: 'app',
      database,
      layout: DEFAULT_MIRROR_LAYOUT,
      cursor,
      limit: 200,
      keepVersions: null,
      concurrency,
      maxBytesPerSecond: null,
    });
    const failed = batch.versions.filter((v) => v.state !== 'stored');
    if (failed.length > 0) throw new Error(`not stored: ${JSON.stringify(failed[0])}`);
    bytes += batch.fetchedBytes;
    cursor = batch.cursor;
    more = batch.more;
  }
  return bytes;
}

async function main() {
  const [objects = 2000, concurrency = 8, rounds = 2] = process.argv.slice(2).map(Number);
  const work = await mkdtemp(path.join(os.tmpdir(), 'bp-bench-mirror-'));
  const azurite = await startAzurite();
  const db = await createTempDatabase('bp_bench_app');
  try {
    const urls = await seed(azurite, objects, db.url);
    const file = siteConfigSchema.parse({
      apiUrl: 'http://127.0.0.1:1',
      siteKey: 'bench-site-key-0123456789',
      backupsDir: path.join(work, 'backups'),
      mirrorAllow: ['127.0.0.1'],
      servers: { app: { engine: 'postgresql', host: PG_HOST, port: PG_PORT, user: PG_USER } },
    });
    const config = new SiteConfig(file, path.join(work, 'site.json'));
    const mb = (objects * SIZE) / 2 ** 20;
    console.log(
      `${objects} objects × 100 KiB (${mb.toFixed(0)} MiB), concurrency ${concurrency}, ${os.cpus().length} cores`,
    );
    for (let r = 1; r <= rounds; r++) {
      const dir = path.join(work, `plain-${r}`);
      await mkdir(dir, { recursive: true });
      const plain = await withRss(() => plainGets(urls, dir, concurrency));
      await rm(dir, { recursive: true });
      await mkdir(dir, { recursive: true });
      const synced = await withRss(() => plainGets(urls, dir, concurrency, true));
      await rm(dir, { recursive: true });
      await rm(file.backupsDir, { recursive: true, force: true });
      const ours = await withRss(() => mirrorAll(config, db.name, concurrency));
      const line = (n: string, x: typeof plain) =>
        `  ${n}: ${x.seconds.toFixed(2)} s, ${(objects / x.seconds).toFixed(0)} objects/s, ${(mb / x.seconds).toFixed(1)} MiB/s, RSS ${x.startMiB.toFixed(0)} → peak ${x.peakMiB.toFixed(0)} MiB`;
      console.log(`round ${r}\n${line('plain parallel GETs        ', plain)}`);
      console.log(`${line('plain GETs, fsync per file ', synced)}\n${line('mirrorObjects              ', ours)}`);
      console.log(
        `  ratio mirror/plain ${(plain.seconds / ours.seconds).toFixed(2)}, mirror/plain+fsync ${(synced.seconds / ours.seconds).toFixed(2)}`,
      );
    }
  } finally {
    await db.drop();
    await azurite.stop();
    await rm(work, { recursive: true, force: true });
  }
}

await main();
