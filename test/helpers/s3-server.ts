// An S3-compatible server for tests: SeaweedFS (`weed server -s3`: master, volume server, filer and S3 gateway in one
// process, built by ops/seaweedfs/build.sh) on free loopback ports, data in a temp folder. Two identities: an admin
// that may do anything, and a reader that may only read and list one bucket (the delegated credential of offline
// downloads).
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { CreateBucketCommand, PutObjectCommand, DeleteObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { s3Client, type S3Credential } from '../../activities/storage/s3.ts';
import { freePort } from '../../ops/services/ports.ts';

export interface S3Server {
  endpoint: string;
  region: string;
  admin: S3Credential;
  /** May only read and list `readerBucket`. */
  reader: S3Credential;
  readerBucket: string;
  /** A client with the admin's credential. */
  client: S3Client;
  createBucket(name: string, opts?: { objectLock?: boolean }): Promise<void>;
  stop(): Promise<void>;
}

const key = (n: number) => randomBytes(n).toString('hex').toUpperCase().slice(0, n);

export async function startS3Server(opts: { readerBucket?: string } = {}): Promise<S3Server> {
  const weed = process.env.SEAWEEDFS;
  if (!weed || !existsSync(weed))
    throw new Error('SEAWEEDFS is not set to a weed binary: run the tests with ops/setup/test.sh (it builds one)');
  const readerBucket = opts.readerBucket ?? `reader-${randomBytes(4).toString('hex')}`;
  const admin = { accessKeyId: `ADMIN${key(15)}`, secretAccessKey: randomBytes(30).toString('base64') };
  const reader = { accessKeyId: `READ${key(16)}`, secretAccessKey: randomBytes(30).toString('base64') };

  const dir = await mkdtemp(path.join(os.tmpdir(), 'bp-seaweedfs-'));
  await mkdir(path.join(dir, 'data'));
  const config = path.join(dir, 's3.json');
  await writeFile(
    config,
    JSON.stringify({
      identities: [
        {
          name: 'admin',
          credentials: [{ accessKey: admin.accessKeyId, secretKey: admin.secretAccessKey }],
          actions: ['Admin', 'Read', 'List', 'Tagging', 'Write'],
        },
        {
          name: 'reader',
          credentials: [{ accessKey: reader.accessKeyId, secretKey: reader.secretAccessKey }],
          actions: [`Read:${readerBucket}`, `List:${readerBucket}`],
        },
      ],
    }),
    { mode: 0o600 },
  );

  const ports: number[] = [];
  for (let i = 0; i < 8; i++) {
    let p = await freePort();
    while (ports.includes(p)) p = await freePort();
    ports.push(p);
  }
  const [master, masterGrpc, volume, volumeGrpc, filer, filerGrpc, s3, s3Grpc] = ports as [
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const args = [
    'server',
    `-dir=${path.join(dir, 'data')}`,
    '-ip=127.0.0.1',
    '-ip.bind=127.0.0.1',
    `-master.port=${master}`,
    `-master.port.grpc=${masterGrpc}`,
    '-master.volumeSizeLimitMB=64',
    '-master.telemetry=false',
    `-volume.port=${volume}`,
    `-volume.port.grpc=${volumeGrpc}`,
    '-volume.max=0',
    `-filer.port=${filer}`,
    `-filer.port.grpc=${filerGrpc}`,
    `-filer.localSocket=${path.join(dir, 'filer.sock')}`,
    '-s3',
    `-s3.port=${s3}`,
    `-s3.port.grpc=${s3Grpc}`,
    '-s3.port.iceberg=0',
    '-s3.port.lance=0',
    `-s3.localSocket=${path.join(dir, 's3.sock')}`,
    `-s3.config=${config}`,
    '-s3.autoCreateBucket=false',
  ];
  const child = spawn(weed, args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-8000)));
  const exited = once(child, 'exit');
  const alive = () => child.exitCode === null && child.signalCode === null;
  const endpoint = `http://127.0.0.1:${s3}`;
  const region = 'us-east-1';
  const client = s3Client({ endpoint, region, forcePathStyle: true, credential: admin, maxTries: 1 });
  const stop = async () => {
    client.destroy();
    if (alive()) {
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(killer);
    }
    await rm(dir, { recursive: true, force: true });
  };

  // Up when a bucket can be made and an object written: the volume server has registered and a volume is grown.
  const probe = `probe-${randomBytes(4).toString('hex')}`;
  const deadline = Date.now() + 90_000;
  for (let delay = 50; ; delay = Math.min(delay * 2, 500)) {
    try {
      await client.send(new CreateBucketCommand({ Bucket: probe })).catch((err: unknown) => {
        if ((err as Error).name !== 'BucketAlreadyOwnedByYou' && (err as Error).name !== 'BucketAlreadyExists')
          throw err;
      });
      await client.send(new PutObjectCommand({ Bucket: probe, Key: 'up', Body: 'up' }));
      await client.send(new DeleteObjectCommand({ Bucket: probe, Key: 'up' }));
      break;
    } catch (err) {
      if (!alive() || Date.now() > deadline) {
        await stop();
        throw new Error(`SeaweedFS did not start on port ${s3}: ${(err as Error).message}\n${stderr}`);
      }
      await new Promise((r) => setTimeout(r, delay));
    }
  }

  return {
    endpoint,
    region,
    admin,
    reader,
    readerBucket,
    client,
    async createBucket(name, bucket = {}) {
      await client.send(
        new CreateBucketCommand({ Bucket: name, ...(bucket.objectLock && { ObjectLockEnabledForBucket: true }) }),
      );
    },
    stop,
  };
}
