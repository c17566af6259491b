// The storage interface against real services: a temp folder, Azurite, and an OpenSSH server on loopback.
// The same contract runs on each backend; then what only one backend does (resumable blocks, host-key pinning).
import assert from 'node:assert/strict';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import {
  AccountSASPermissions,
  StorageSharedKeyCredential,
  generateAccountSASQueryParameters,
} from '@azure/storage-blob';
import { BackupError } from '../common/errors.ts';
import { openStorage, type DestinationSettings } from '../activities/storage/index.ts';
import { blockId } from '../activities/storage/azure-blocks.ts';
import { hashObject } from '../activities/storage/read-back.ts';
import { DeleteObjectCommand, GetObjectRetentionCommand, ListObjectVersionsCommand } from '@aws-sdk/client-s3';
import { bufferSource, fileSource, storageSource, throttled } from '../activities/storage/sources.ts';
import type { PutSource, Storage } from '../activities/storage/storage.ts';
import { startAzurite, type Azurite } from '../ops/services/azurite.ts';
import { startSshd, type Sshd } from './helpers/sshd.ts';
import { startS3Server, type S3Server } from './helpers/s3-server.ts';
import { countingProxy } from './helpers/counting-proxy.ts';

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');
const BLOCK = 64 * 1024;
/** S3's smallest part but the last (AWS and SeaweedFS refuse smaller ones when the upload completes). */
const PART = 5 * 1024 * 1024;

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** A source that gives its first `failAt` bytes, then fails, as a disk error or a killed worker would. */
function failingSource(data: Buffer, failAt: number): PutSource {
  return {
    size: data.length,
    open(start) {
      let sent = false;
      return new Readable({
        read() {
          if (sent) return this.destroy(new Error('disk read error (simulated)'));
          sent = true;
          this.push(data.subarray(start, Math.max(start, failAt)));
        },
      });
    },
  };
}

async function rejectsWith(p: Promise<unknown>, kind: string, pattern?: RegExp): Promise<BackupError> {
  const err = await p.then(
    () => assert.fail(`expected a '${kind}' error`),
    (e: unknown) => e,
  );
  assert.ok(err instanceof BackupError, `expected a BackupError, got ${String(err)}`);
  assert.equal(err.kind, kind, err.message);
  if (pattern) assert.match(err.message, pattern);
  return err;
}

interface Backend {
  storage: Storage;
  /** Strings that must never show in a location or an error message. */
  secrets: string[];
  locationPattern: RegExp;
  /** Bytes of the main test object: enough for several of the backend's pieces (17 Azure blocks by default). */
  dataSize?: number;
}

/** What every backend promises; `setup` runs once for the describe block. */
function contract(name: string, setup: () => Promise<Backend>) {
  describe(`storage contract: ${name}`, () => {
    let b: Backend;
    let data: Buffer;
    const run = randomUUID().slice(0, 8);
    before(async () => {
      b = await setup();
      data = randomBytes(b.dataSize ?? 17 * BLOCK + 1234); // several blocks or parts, the last one short
    });

    it('put, stat, get and get from an offset give back the same bytes', async () => {
      const key = `${run}/t/s/srv/db/db_20240101_000000.pgdump.zst`;
      const progress: number[] = [];
      const report = await b.storage.put(key, bufferSource(data), { onProgress: (n) => progress.push(n) });
      assert.deepEqual(report, { bytesSent: data.length, resumedFrom: 0 });
      assert.equal(progress.at(-1), data.length);
      assert.ok(
        progress.every((n, i) => i === 0 || n >= progress[i - 1]!),
        'progress only grows',
      );

      const st = await b.storage.stat(key);
      assert.equal(st?.key, key);
      assert.equal(st?.size, data.length);
      assert.ok(st?.modifiedAt instanceof Date && Math.abs(st.modifiedAt.getTime() - Date.now()) < 5 * 60_000);

      assert.ok((await readAll(await b.storage.get(key))).equals(data));
      const start = 3 * BLOCK + 17;
      assert.ok((await readAll(await b.storage.get(key, { start }))).equals(data.subarray(start)));
      assert.equal((await readAll(await b.storage.get(key, { start: data.length }))).length, 0);
      assert.deepEqual(await hashObject(b.storage, key), { size: data.length, sha256: sha256(data) });
    });

    it('put is idempotent: an object already stored whole is not sent again', async () => {
      const key = `${run}/idem/file.bin`;
      await b.storage.put(key, bufferSource(data));
      const again = await b.storage.put(key, bufferSource(data));
      assert.deepEqual(again, { bytesSent: 0, resumedFrom: data.length });
      assert.equal((await hashObject(b.storage, key)).sha256, sha256(data));
    });

    it('an empty object and a file source', async () => {
      await b.storage.put(`${run}/empty/none.bin`, bufferSource(Buffer.alloc(0)));
      assert.equal((await b.storage.stat(`${run}/empty/none.bin`))?.size, 0);
      assert.equal((await readAll(await b.storage.get(`${run}/empty/none.bin`))).length, 0);

      const dir = await mkdtemp(path.join(os.tmpdir(), 'bp-src-'));
      try {
        const file = path.join(dir, 'dump.bin');
        await writeFile(file, data);
        const report = await b.storage.put(`${run}/file/dump.bin`, fileSource(file, data.length));
        assert.equal(report.bytesSent, data.length);
        assert.equal((await hashObject(b.storage, `${run}/file/dump.bin`)).sha256, sha256(data));
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });

    it('a file shorter than the size it was declared with is refused, and nothing is stored', async () => {
      const dir = await mkdtemp(path.join(os.tmpdir(), 'bp-src-'));
      try {
        const file = path.join(dir, 'cut.bin');
        await writeFile(file, data.subarray(0, 5 * BLOCK + 99)); // ends inside the sixth block
        const key = `${run}/cut/dump.bin`;
        await rejectsWith(b.storage.put(key, fileSource(file, data.length)), 'invalid', /did the file change/);
        assert.equal(await b.storage.stat(key), undefined);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });

    it('storageSource copies one stored object to another key', async () => {
      const from = `${run}/copy/from.bin`;
      await b.storage.put(from, bufferSource(data));
      const report = await b.storage.put(`${run}/copy/to.bin`, storageSource(b.storage, from, data.length));
      assert.equal(report.bytesSent, data.length);
      assert.equal((await hashObject(b.storage, `${run}/copy/to.bin`)).sha256, sha256(data));
    });

    it('a source that fails under a bandwidth limit fails the put with its own error, and nothing is stored', async () => {
      // A sync repair copies from another storage through the destination's limit; its read failing must reach the
      // put (before, the limit's plain pipe left the error unheard and it ended the worker process as uncaught).
      const key = `${run}/paced/copy.bin`;
      const gone = storageSource(b.storage, `${run}/paced/never-stored.bin`, 1024);
      await rejectsWith(b.storage.put(key, throttled(gone, 1 << 30)), 'not_found');
      assert.equal(await b.storage.stat(key), undefined);
    });

    it('list is recursive under a folder prefix and sorted', async () => {
      const small = bufferSource(Buffer.from('x'));
      for (const k of ['l/b/2.bin', 'l/a/1.bin', 'l/a/deep/3.bin', 'lx/4.bin'])
        await b.storage.put(`${run}/${k}`, small);
      const keys = (p: string) => b.storage.list(p).then((objs) => objs.map((o) => o.key));
      assert.deepEqual(await keys(`${run}/l`), [`${run}/l/a/1.bin`, `${run}/l/a/deep/3.bin`, `${run}/l/b/2.bin`]);
      assert.deepEqual(await keys(`${run}/l/`), await keys(`${run}/l`));
      assert.deepEqual(await keys(`${run}/l/a/deep`), [`${run}/l/a/deep/3.bin`]);
      assert.deepEqual(await keys(`${run}/nothing-here`), []);
      assert.ok((await keys('')).includes(`${run}/lx/4.bin`));
      const [one] = await b.storage.list(`${run}/l/a/deep`);
      assert.equal(one?.size, 1);
    });

    it('delete removes an object and is quiet when it is absent', async () => {
      const key = `${run}/del/gone.bin`;
      await b.storage.put(key, bufferSource(Buffer.from('bye')));
      await b.storage.delete(key);
      assert.equal(await b.storage.stat(key), undefined);
      await b.storage.delete(key);
      await b.storage.delete(`${run}/never/was.bin`);
      await rejectsWith(b.storage.get(key), 'not_found');
    });

    it('probeWritable writes, reads back and removes its probe', async () => {
      await b.storage.probeWritable(`${run}/probe`);
      await b.storage.probeWritable(`${run}/probe/`);
      assert.deepEqual(await b.storage.list(`${run}/probe`), []);
    });

    it('refuses keys that could leave the storage root', async () => {
      for (const bad of ['../escape', '/abs/key', 'a//b', 'a/./b', 'a/../b', 'trailing/', '']) {
        await rejectsWith(b.storage.put(bad, bufferSource(Buffer.from('x'))), 'invalid');
        assert.throws(() => b.storage.locationOf(bad), BackupError);
      }
    });

    it('locationOf names the place without a secret', () => {
      const location = b.storage.locationOf(`${run}/a/b.bin`);
      assert.match(location, b.locationPattern);
      for (const s of b.secrets) assert.ok(!location.includes(s), `location ${location} shows a secret`);
    });

    after(async () => {
      await b?.storage.close();
    });
  });
}

describe('storage', () => {
  let azurite: Azurite;
  let sshd: Sshd;
  let s3: S3Server;
  let tmp: string;
  before(async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), 'bp-storage-'));
    // Each is kept as soon as it is up, so `after` stops it even when the other failed to start.
    const started = await Promise.allSettled([
      startAzurite().then((a) => (azurite = a)),
      startSshd().then((s) => (sshd = s)),
      startS3Server().then((s) => (s3 = s)),
    ]);
    for (const s of started) if (s.status === 'rejected') throw s.reason;
  });
  after(async () => {
    await Promise.all([azurite?.stop(), sshd?.stop(), s3?.stop(), tmp && rm(tmp, { recursive: true, force: true })]);
  });

  const azureSettings = (
    extra: Partial<Extract<DestinationSettings, { type: 'azure' }>> = {},
  ): DestinationSettings => ({
    type: 'azure',
    container: `c-${randomUUID().slice(0, 8)}`,
    connectionString: azurite.connectionString,
    blockSize: BLOCK,
    ...extra,
  });
  const sftpSettings = async (
    extra: Partial<Extract<DestinationSettings, { type: 'sftp' }>> = {},
  ): Promise<DestinationSettings> => ({
    type: 'sftp',
    host: sshd.host,
    port: sshd.port,
    user: sshd.user,
    privateKey: await readFile(sshd.privateKeyPath, 'utf8'),
    hostKey: sshd.hostKeyFingerprint,
    path: path.join(sshd.root, 'backups'),
    ...extra,
  });

  const s3Settings = async (
    extra: Partial<Extract<DestinationSettings, { type: 's3' }>> = {},
  ): Promise<DestinationSettings> => {
    const bucket = `b-${randomUUID().slice(0, 8)}`;
    await s3.createBucket(bucket);
    return {
      type: 's3',
      endpoint: s3.endpoint,
      region: s3.region,
      bucket,
      forcePathStyle: true,
      accessKeyId: s3.admin.accessKeyId,
      secretAccessKey: s3.admin.secretAccessKey,
      partSize: PART,
      maxTries: 1,
      ...extra,
    };
  };

  contract('local folder', async () => ({
    storage: openStorage({ type: 'local', path: path.join(tmp, 'local') }),
    secrets: [],
    locationPattern: /^file:\/\/\/.+\/local\/[^/]+\/a\/b\.bin$/,
  }));

  contract('azure (Azurite)', async () => ({
    storage: openStorage(azureSettings({ prefix: 'offsite/copies' })),
    secrets: [azurite.accountKey, 'AccountKey'],
    locationPattern: /^azure:\/\/devstoreaccount1\/c-[0-9a-f]{8}\/offsite\/copies\/[^/]+\/a\/b\.bin$/,
  }));

  contract('sftp (OpenSSH)', async () => {
    const settings = await sftpSettings();
    return {
      storage: openStorage(settings),
      secrets: [(settings as { privateKey: string }).privateKey.split('\n')[1]!],
      locationPattern: new RegExp(
        `^sftp://${sshd.user}@127\\.0\\.0\\.1:${sshd.port}${sshd.root}/backups/[^/]+/a/b\\.bin$`,
      ),
    };
  });

  contract('s3 (SeaweedFS)', async () => ({
    storage: openStorage(await s3Settings({ prefix: 'offsite/copies' })),
    secrets: [s3.admin.secretAccessKey],
    locationPattern: /^s3:\/\/b-[0-9a-f]{8}\/offsite\/copies\/[^/]+\/a\/b\.bin$/,
    dataSize: 2 * PART + 1234, // three parts, the last one short
  }));

  describe('local folder', () => {
    it('a failed put leaves neither the final name nor a partial file', async () => {
      const root = path.join(tmp, 'local-fail');
      const storage = openStorage({ type: 'local', path: root });
      const data = randomBytes(300_000);
      await assert.rejects(storage.put('x/y/file.bin', failingSource(data, 100_000)), /simulated/);
      assert.equal(await storage.stat('x/y/file.bin'), undefined);
      assert.deepEqual(await readdir(path.join(root, 'x/y')), []);
    });
  });

  describe('azure', () => {
    it('a put that failed midway resumes: only the missing blocks are sent', async () => {
      const storage = openStorage(azureSettings());
      const blocks = 21;
      const data = randomBytes((blocks - 1) * BLOCK + 100);
      const failAt = Math.floor(10.5 * BLOCK);
      await assert.rejects(storage.put('t/s/srv/db/resume.bin', failingSource(data, failAt)), /simulated/);
      assert.equal(await storage.stat('t/s/srv/db/resume.bin'), undefined, 'nothing is visible before the commit');

      const second = await storage.put('t/s/srv/db/resume.bin', bufferSource(data));
      const missing = blocks - Math.floor(failAt / BLOCK);
      assert.ok(
        second.bytesSent <= (missing + 1) * BLOCK,
        `sent ${second.bytesSent} bytes for ${missing} missing blocks`,
      );
      assert.ok(second.resumedFrom >= (blocks - missing - 1) * BLOCK, `resumed from ${second.resumedFrom}`);
      assert.equal(second.bytesSent + second.resumedFrom, data.length);
      assert.deepEqual(await hashObject(storage, 't/s/srv/db/resume.bin'), { size: data.length, sha256: sha256(data) });
      await storage.close();
    });

    it('a put cancelled through its signal resumes from the blocks already staged', async () => {
      const storage = openStorage(azureSettings({ concurrency: 2 }));
      const data = randomBytes(30 * BLOCK);
      const ac = new AbortController();
      const reason = new Error('cancelled by the workflow');
      const first = storage.put('t/abort.bin', bufferSource(data), {
        signal: ac.signal,
        onProgress: (n) => n >= 6 * BLOCK && ac.abort(reason),
      });
      await assert.rejects(first, (err) => err === reason);
      const second = await storage.put('t/abort.bin', bufferSource(data));
      assert.ok(second.resumedFrom >= 6 * BLOCK, `resumed from ${second.resumedFrom}`);
      assert.equal(second.bytesSent + second.resumedFrom, data.length);
      assert.equal((await hashObject(storage, 't/abort.bin')).sha256, sha256(data));
      await storage.close();
    });

    it('block ids all have the same length', () => {
      assert.equal(new Set([0, 9, 10, 49_999].map((i) => blockId(i).length)).size, 1);
    });

    it('an account key by accountUrl works; a wrong one is refused as auth, without the key in the message', async () => {
      const good = openStorage({
        type: 'azure',
        container: 'keyed',
        accountUrl: azurite.blobUrl,
        accountKey: azurite.accountKey,
        blockSize: BLOCK,
      });
      await good.probeWritable('p');
      const wrongKey = Buffer.from('not the key of this account, not at all').toString('base64');
      const bad = openStorage({
        type: 'azure',
        container: 'keyed',
        accountUrl: azurite.blobUrl,
        accountKey: wrongKey,
        maxTries: 1,
      });
      const err = await rejectsWith(bad.put('k/x.bin', bufferSource(Buffer.from('x'))), 'auth', /account key/);
      assert.ok(!err.message.includes(wrongKey));
    });

    it('a SAS token works and never shows in a location or an error', async () => {
      const sas = generateAccountSASQueryParameters(
        {
          permissions: AccountSASPermissions.parse('rwdlac'),
          services: 'b',
          resourceTypes: 'sco',
          expiresOn: new Date(Date.now() + 3600_000),
        },
        new StorageSharedKeyCredential(azurite.accountName, azurite.accountKey),
      ).toString();
      const storage = openStorage({
        type: 'azure',
        container: 'sas',
        accountUrl: azurite.blobUrl,
        sasToken: `?${sas}`,
        blockSize: BLOCK,
      });
      await storage.probeWritable('p');
      const signature = new URLSearchParams(sas).get('sig')!;
      assert.ok(!storage.locationOf('a/b.bin').includes(signature));

      const readOnly = generateAccountSASQueryParameters(
        {
          permissions: AccountSASPermissions.parse('rl'),
          services: 'b',
          resourceTypes: 'sco',
          expiresOn: new Date(Date.now() + 3600_000),
        },
        new StorageSharedKeyCredential(azurite.accountName, azurite.accountKey),
      ).toString();
      const denied = openStorage({
        type: 'azure',
        container: 'sas',
        accountUrl: azurite.blobUrl,
        sasToken: readOnly,
        maxTries: 1,
      });
      const err = await rejectsWith(denied.probeWritable('p'), 'auth', /SAS token/);
      assert.ok(!err.message.includes(new URLSearchParams(readOnly).get('sig')!));
    });

    it('secrets from an environment variable or a file; settings with two sources are invalid', async () => {
      const env = `BP_TEST_AZURE_${randomUUID().replaceAll('-', '')}`;
      process.env[env] = azurite.connectionString;
      try {
        await openStorage({ type: 'azure', container: 'from-env', connectionStringEnv: env }).probeWritable('');
      } finally {
        delete process.env[env];
      }
      const file = path.join(tmp, 'azure-key');
      await writeFile(file, `${azurite.accountKey}\n`);
      await openStorage({
        type: 'azure',
        container: 'from-file',
        accountUrl: azurite.blobUrl,
        accountKeyFile: file,
      }).probeWritable('');

      assert.throws(
        () => openStorage({ type: 'azure', container: 'x-y', connectionStringEnv: env }),
        (e: BackupError) => e.kind === 'invalid' && e.message.includes(env),
      );
      assert.throws(
        () =>
          openStorage({
            type: 'azure',
            container: 'two',
            connectionString: azurite.connectionString,
            accountUrl: azurite.blobUrl,
            accountKey: azurite.accountKey,
          }),
        (e: BackupError) =>
          e.kind === 'invalid' && /exactly one/.test(e.message) && !e.message.includes(azurite.accountKey),
      );
      assert.throws(
        () => openStorage({ type: 'azure', container: 'Bad_Name', connectionString: azurite.connectionString }),
        (e: BackupError) => e.kind === 'invalid',
      );
    });

    it('a stopped Azurite gives unavailable', async () => {
      const own = await startAzurite();
      try {
        const storage = openStorage({
          type: 'azure',
          container: 'gone',
          connectionString: own.connectionString,
          maxTries: 1,
        });
        await storage.put('a/b.bin', bufferSource(Buffer.from('here')));
        await own.stop();
        await rejectsWith(storage.stat('a/b.bin'), 'unavailable');
        await rejectsWith(storage.put('a/c.bin', bufferSource(Buffer.from('later'))), 'unavailable');
      } finally {
        await own.stop();
      }
    });
  });

  describe('s3', () => {
    it('a put that failed midway resumes: only the missing parts are sent (counted on the wire)', async () => {
      const proxy = await countingProxy(s3.endpoint);
      try {
        const settings = await s3Settings({ endpoint: proxy.endpoint });
        const storage = openStorage(settings);
        const parts = 6;
        const data = randomBytes((parts - 1) * PART + 100);
        const failAt = Math.floor(3.5 * PART);
        await assert.rejects(storage.put('t/s/srv/db/resume.bin', failingSource(data, failAt)), /simulated/);
        assert.equal(await storage.stat('t/s/srv/db/resume.bin'), undefined, 'nothing is visible before completion');
        const sentBefore = proxy.partsSent();
        assert.equal(sentBefore, Math.floor(failAt / PART), 'every whole part read before the failure was sent');

        // A new storage, as a retried activity on a restarted worker would open: the upload is found by its key.
        const again = openStorage(settings);
        const second = await again.put('t/s/srv/db/resume.bin', bufferSource(data));
        const missing = parts - sentBefore;
        assert.equal(proxy.partsSent() - sentBefore, missing, 'only the missing parts went over the wire');
        assert.equal(second.resumedFrom, sentBefore * PART);
        assert.equal(second.bytesSent, data.length - sentBefore * PART);
        assert.deepEqual(await hashObject(again, 't/s/srv/db/resume.bin'), { size: data.length, sha256: sha256(data) });
        await Promise.all([storage.close(), again.close()]);
      } finally {
        await proxy.close();
      }
    });

    it('a put cancelled through its signal resumes from the parts already sent', async () => {
      const storage = openStorage(await s3Settings({ concurrency: 2 }));
      const data = randomBytes(8 * PART);
      const ac = new AbortController();
      const reason = new Error('cancelled by the workflow');
      const first = storage.put('t/abort.bin', bufferSource(data), {
        signal: ac.signal,
        onProgress: (n) => n >= 2 * PART && ac.abort(reason),
      });
      await assert.rejects(first, (err) => err === reason);
      const second = await storage.put('t/abort.bin', bufferSource(data));
      assert.ok(
        second.resumedFrom >= 2 * PART && second.resumedFrom < data.length,
        `resumed from ${second.resumedFrom}`,
      );
      assert.equal(second.bytesSent + second.resumedFrom, data.length);
      assert.equal((await hashObject(storage, 't/abort.bin')).sha256, sha256(data));
      await storage.close();
    });

    it('a wrong secret is refused as auth without the secret in the message; a missing bucket is invalid', async () => {
      const settings = await s3Settings();
      const wrong = randomBytes(30).toString('base64');
      const bad = openStorage({ ...settings, secretAccessKey: wrong } as DestinationSettings);
      const err = await rejectsWith(bad.put('k/x.bin', bufferSource(Buffer.from('x'))), 'auth', /access key/);
      assert.ok(!err.message.includes(wrong));
      const none = openStorage({ ...settings, bucket: 'no-such-bucket-here' } as DestinationSettings);
      await rejectsWith(none.put('k/x.bin', bufferSource(Buffer.from('x'))), 'invalid', /does not exist/);
      await Promise.all([bad.close(), none.close()]);
    });

    it('the read-only identity can read but neither write nor delete', async () => {
      const bucket = s3.readerBucket;
      await s3.createBucket(bucket);
      const base = { ...(await s3Settings()), bucket } as DestinationSettings;
      const writer = openStorage(base);
      await writer.put('r/file.bin', bufferSource(Buffer.from('kept')));
      const reader = openStorage({
        ...base,
        accessKeyId: s3.reader.accessKeyId,
        secretAccessKey: s3.reader.secretAccessKey,
      } as DestinationSettings);
      assert.equal((await readAll(await reader.get('r/file.bin'))).toString(), 'kept');
      await rejectsWith(reader.put('r/other.bin', bufferSource(Buffer.from('no'))), 'auth');
      await rejectsWith(reader.delete('r/file.bin'), 'auth');
      assert.equal((await writer.stat('r/file.bin'))?.size, 4, 'still there');
      await Promise.all([writer.close(), reader.close()]);
    });

    it('object lock: objects are retained until the set date; a bucket without lock is refused', async () => {
      const bucket = `lock-${randomUUID().slice(0, 8)}`;
      await s3.createBucket(bucket, { objectLock: true });
      const settings = { ...(await s3Settings()), bucket, objectLock: { mode: 'GOVERNANCE', days: 1 } } as const;
      const storage = openStorage(settings as DestinationSettings);
      const retainUntil = new Date(Date.now() + 3600_000);
      await storage.put('w/one.bin', bufferSource(randomBytes(1000)), { retainUntil });
      await storage.put('w/two.bin', bufferSource(randomBytes(PART + 1))); // a multipart upload
      const one = await s3.client.send(new GetObjectRetentionCommand({ Bucket: bucket, Key: 'w/one.bin' }));
      assert.equal(one.Retention?.Mode, 'GOVERNANCE');
      assert.equal(one.Retention?.RetainUntilDate?.getTime(), Math.floor(retainUntil.getTime() / 1000) * 1000);
      const two = await s3.client.send(new GetObjectRetentionCommand({ Bucket: bucket, Key: 'w/two.bin' }));
      const day = Date.now() + 86_400_000;
      assert.ok(Math.abs(two.Retention!.RetainUntilDate!.getTime() - day) < 5 * 60_000, 'a day from now');
      // A plain delete only hides a locked object behind a delete marker; its version stays until the date.
      await storage.delete('w/one.bin');
      const versions = await s3.client.send(new ListObjectVersionsCommand({ Bucket: bucket, Prefix: 'w/one.bin' }));
      const kept = versions.Versions?.find((v) => v.Key === 'w/one.bin');
      assert.ok(kept?.VersionId, 'the locked version is still there');
      await assert.rejects(
        s3.client.send(new DeleteObjectCommand({ Bucket: bucket, Key: 'w/one.bin', VersionId: kept.VersionId })),
        'the locked version cannot be deleted',
      );

      const unlocked = openStorage({
        ...(await s3Settings()),
        objectLock: { mode: 'COMPLIANCE', days: 1 },
      } as DestinationSettings);
      await rejectsWith(unlocked.put('w/x.bin', bufferSource(Buffer.from('x'))), 'invalid', /no object lock/);
      await Promise.all([storage.close(), unlocked.close()]);
    });
  });

  describe('sftp', () => {
    it('stores files under the remote path, through the pure-JS ssh2', async () => {
      const storage = openStorage(await sftpSettings({ path: path.join(sshd.root, 'plain') }));
      await storage.put('t/s/one.bin', bufferSource(Buffer.from('one')));
      assert.equal(await readFile(path.join(sshd.root, 'plain/t/s/one.bin'), 'utf8'), 'one');
      await storage.close();
      // ssh2's native add-on is not built here (install scripts are off): this ran on its JavaScript fallback.
      assert.ok(!existsSync(new URL('../node_modules/ssh2/lib/protocol/crypto/build', import.meta.url)));
    });

    it('a put that failed midway is never visible under its final name, and resumes from the partial file', async () => {
      const storage = openStorage(await sftpSettings({ path: path.join(sshd.root, 'resume') }));
      const data = randomBytes(3 * 1024 * 1024 + 77);
      const failAt = 2 * 1024 * 1024;
      await assert.rejects(storage.put('t/s/db/big.bin', failingSource(data, failAt)), /simulated/);
      assert.equal(await storage.stat('t/s/db/big.bin'), undefined);
      assert.deepEqual(await storage.list('t'), []);
      assert.deepEqual(await readdir(path.join(sshd.root, 'resume/t/s/db')), ['.big.bin.partial']);

      const second = await storage.put('t/s/db/big.bin', bufferSource(data));
      assert.ok(second.resumedFrom > 0 && second.resumedFrom <= failAt, `resumed from ${second.resumedFrom}`);
      assert.equal(second.bytesSent, data.length - second.resumedFrom);
      assert.deepEqual(await readdir(path.join(sshd.root, 'resume/t/s/db')), ['big.bin']);
      assert.equal((await hashObject(storage, 't/s/db/big.bin')).sha256, sha256(data));
      await storage.close();
    });

    it('a wrong host key is refused as auth, naming both fingerprints', async () => {
      const wrong = `SHA256:${createHash('sha256').update('another host').digest('base64').replace(/=+$/, '')}`;
      const storage = openStorage(await sftpSettings({ hostKey: wrong }));
      const err = await rejectsWith(storage.stat('x'), 'auth');
      assert.ok(err.message.includes(sshd.hostKeyFingerprint) && err.message.includes(wrong), err.message);
      await storage.close();
    });

    it('a key the server does not know is refused as auth', async () => {
      const dir = await mkdtemp(path.join(os.tmpdir(), 'bp-key-'));
      try {
        execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', path.join(dir, 'k')]);
        const storage = openStorage(await sftpSettings({ privateKey: undefined, privateKeyFile: path.join(dir, 'k') }));
        await rejectsWith(storage.stat('x'), 'auth', /refused the private key/);
        await storage.close();
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });

    it('settings: the host key is mandatory and a bad private key is invalid', async () => {
      const settings = await sftpSettings();
      assert.throws(
        () => openStorage({ ...settings, hostKey: undefined } as unknown as DestinationSettings),
        (e: BackupError) => e.kind === 'invalid' && /hostKey/.test(e.message),
      );
      assert.throws(
        () => openStorage({ ...settings, privateKey: 'not a key' } as DestinationSettings),
        (e: BackupError) => e.kind === 'invalid' && !e.message.includes('not a key'),
      );
    });

    it('a stopped sshd gives unavailable', async () => {
      const own = await startSshd();
      try {
        const settings = {
          ...(await sftpSettings()),
          port: own.port,
          hostKey: own.hostKeyFingerprint,
          privateKey: await readFile(own.privateKeyPath, 'utf8'),
          path: own.root,
        } as DestinationSettings;
        const connected = openStorage(settings);
        await connected.put('a.bin', bufferSource(Buffer.from('a')));
        await own.stop();
        // One that was connected notices the lost connection, tries again and is refused; so is a new one.
        await rejectsWith(connected.stat('a.bin'), 'unavailable');
        await rejectsWith(openStorage(settings).stat('a.bin'), 'unavailable');
        await connected.close();
      } finally {
        await own.stop();
      }
    });
  });
});
