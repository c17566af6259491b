// Issue 19, part 3: a backup with a copy in Azure (Azurite) and in S3 (SeaweedFS) downloads while its site worker is
// stopped, through the central side's delegated read-only credentials (CLOUD_READ_FILE); the credentials can read and
// nothing else, proved against the real servers; a presigned S3 URL reads the copy without the API.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  BlobServiceClient,
  ContainerSASPermissions,
  StorageSharedKeyCredential,
  generateBlobSASQueryParameters,
} from '@azure/storage-blob';
import { openStorage, type DestinationSettings } from '../activities/storage/index.ts';
import { bufferSource } from '../activities/storage/sources.ts';
import { BackupError } from '../common/errors.ts';
import { startAzurite, type Azurite } from '../ops/services/azurite.ts';
import { createConfig, createShopDatabase, runNowAndWait, setUpSite } from './helpers/fixtures.ts';
import { startS3Server, type S3Server } from './helpers/s3-server.ts';
import { settleAll, signup, startStack, type Stack } from './helpers/stack.ts';

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

describe('downloads from a cloud copy with the origin site offline (Azurite, SeaweedFS)', () => {
  let stack: Stack;
  let azurite: Azurite;
  let s3: S3Server;
  let source: Awaited<ReturnType<typeof createShopDatabase>>;
  let dir: string;
  let cloudReadFile: string;

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'bp-cloud-read-'));
    cloudReadFile = path.join(dir, 'cloud-read.json');
    await writeFile(cloudReadFile, JSON.stringify({ destinations: {} }));
    await settleAll([
      startStack({ env: { CLOUD_READ_FILE: cloudReadFile } }).then((x) => (stack = x)),
      startAzurite().then((x) => (azurite = x)),
      startS3Server({ readerBucket: 'offsite-copies' }).then((x) => (s3 = x)),
      createShopDatabase({ customers: 200, events: 2000 }).then((x) => (source = x)),
    ]);
  });
  after(async () => {
    await source?.drop();
    await Promise.all([stack?.stop(), azurite?.stop(), s3?.stop()]);
    await rm(dir, { recursive: true, force: true });
  });

  it('streams each cloud copy with its SHA-256, hands out a presigned S3 URL, and the credentials only read', async () => {
    const { token } = await signup(stack);
    await s3.createBucket(s3.readerBucket);
    const s3Site: DestinationSettings = {
      type: 's3',
      endpoint: s3.endpoint,
      region: s3.region,
      bucket: s3.readerBucket,
      prefix: 'platform',
      forcePathStyle: true,
      accessKeyId: s3.admin.accessKeyId,
      secretAccessKey: s3.admin.secretAccessKey,
    };
    const { worker, destinations, server } = await setUpSite(stack, token, {
      backupsDir: path.join(stack.tmp, 'site-cloud'),
      destinations: {
        'cloud-azure': { type: 'azure', container: 'copies', connectionString: azurite.connectionString },
        'cloud-s3': s3Site,
      },
    });
    const config = await createConfig(stack, token, {
      serverId: server.id,
      databases: [source.name],
      destinations: [
        { destinationId: destinations['cloud-azure']!.id, retention: { keepLast: 3 } },
        { destinationId: destinations['cloud-s3']!.id, retention: { keepLast: 3 } },
      ],
    });
    const [backup] = (await runNowAndWait(stack, token, config.id)) as any[];
    assert.equal(backup.status, 'succeeded', backup.error);

    // The delegated credentials: a read-only SAS tied to a stored access policy, and the reader identity's key.
    const container = BlobServiceClient.fromConnectionString(azurite.connectionString).getContainerClient('copies');
    await container.setAccessPolicy(undefined, [
      { id: 'downloads', accessPolicy: { permissions: 'r', expiresOn: new Date(Date.now() + 86_400_000) } },
    ]);
    const sas = generateBlobSASQueryParameters(
      { containerName: 'copies', identifier: 'downloads', permissions: ContainerSASPermissions.parse('r') },
      new StorageSharedKeyCredential(azurite.accountName, azurite.accountKey),
    ).toString();
    await writeFile(path.join(dir, 'sas'), sas);
    await writeFile(path.join(dir, 's3-secret'), s3.reader.secretAccessKey);
    const azureRead: DestinationSettings = {
      type: 'azure',
      container: 'copies',
      accountUrl: azurite.blobUrl,
      sasTokenFile: path.join(dir, 'sas'),
    };
    const s3Read: DestinationSettings = {
      ...s3Site,
      accessKeyId: s3.reader.accessKeyId,
      secretAccessKey: undefined,
      secretAccessKeyFile: path.join(dir, 's3-secret'),
    };
    const delegate = (entries: Record<string, DestinationSettings>) =>
      writeFile(cloudReadFile, JSON.stringify({ destinations: entries }));

    await worker.stop();

    const download = async (expectCopy: string) => {
      const res = await fetch(`${stack.baseUrl}/api/v1/backups/${backup.id}/download`, {
        headers: { authorization: `Bearer ${token}` },
      });
      const body = Buffer.from(await res.arrayBuffer());
      assert.equal(res.status, 200, body.toString());
      assert.equal(res.headers.get('x-backup-copy'), expectCopy);
      assert.equal(res.headers.get('x-backup-sha256'), backup.sha256);
      assert.equal(body.length, backup.sizeBytes);
      assert.equal(sha256(body), backup.sha256);
    };
    await delegate({ [destinations['cloud-azure']!.id]: azureRead });
    await download('cloud-azure');
    await delegate({ [destinations['cloud-s3']!.id]: s3Read });
    await download('cloud-s3');

    // A presigned URL of the S3 copy: fetched without the API and without any credential of ours.
    const signed = await stack.api('GET', `/api/v1/backups/${backup.id}/download-url`, { token });
    assert.equal(signed.status, 200, JSON.stringify(signed.body));
    assert.equal(signed.body.target, 'cloud-s3');
    const ttl = Date.parse(signed.body.expiresAt) - Date.now();
    assert.ok(ttl > 240_000 && ttl <= 300_000, `expires in ${ttl} ms`);
    assert.ok(!signed.body.url.includes(s3.reader.secretAccessKey));
    const direct = await fetch(signed.body.url);
    assert.equal(direct.status, 200);
    assert.equal(sha256(Buffer.from(await direct.arrayBuffer())), backup.sha256);
    const tampered = signed.body.url.replace(/X-Amz-Expires=\d+/, 'X-Amz-Expires=86400');
    assert.equal((await fetch(tampered)).status, 403, 'a longer life cannot be signed in by the holder');

    // No S3 copy with a delegated credential: 409, and why.
    await delegate({ [destinations['cloud-azure']!.id]: azureRead });
    const none = await stack.api('GET', `/api/v1/backups/${backup.id}/download-url`, { token });
    assert.equal(none.status, 409);
    assert.match(JSON.stringify(none.body), /cloud-s3: no delegated read credential/);
    // A credential for another place than the copy's is refused, not guessed at.
    await delegate({ [destinations['cloud-s3']!.id]: { ...s3Read, prefix: 'elsewhere' } as DestinationSettings });
    const wrong = await stack.api('GET', `/api/v1/backups/${backup.id}/download-url`, { token });
    assert.equal(wrong.status, 409);
    assert.match(JSON.stringify(wrong.body), /not where the copy is/);
    // Another tenant sees nothing.
    const other = await signup(stack);
    const foreign = await stack.api('GET', `/api/v1/backups/${backup.id}/download-url`, { token: other.token });
    assert.equal(foreign.status, 404);

    // The delegated credentials read, and can neither write nor delete: asked of the real servers.
    const key = (await stack.api('GET', `/api/v1/backups/${backup.id}/copies`, { token })).body.items.find(
      (c: any) => c.target === 'cloud-s3',
    ).location as string;
    const objectKey = key.replace(`s3://${s3.readerBucket}/platform/`, '');
    for (const settings of [azureRead, s3Read]) {
      const storage = openStorage(settings);
      assert.equal((await storage.stat(objectKey))?.size, backup.sizeBytes, `${settings.type} reads`);
      const attempts = [
        () => storage.put(`${objectKey}.more`, bufferSource(Buffer.from('x'))),
        () => storage.put(objectKey, bufferSource(Buffer.from('overwritten'))),
        () => storage.delete(objectKey),
      ];
      for (const attempt of attempts) {
        const err = await attempt().then(
          () => assert.fail(`${settings.type}: the read-only credential could write or delete`),
          (e: unknown) => e,
        );
        assert.ok(err instanceof BackupError && err.kind === 'auth', `${settings.type}: ${String(err)}`);
      }
      assert.equal((await storage.stat(objectKey))?.size, backup.sizeBytes, `${settings.type}: the copy is intact`);
      await storage.close();
    }

    // The delegated secrets are in no log line.
    const signature = new URLSearchParams(sas).get('sig')!;
    for (const line of stack.logs.raw) {
      assert.ok(!line.includes(s3.reader.secretAccessKey), `a log line holds the S3 read key: ${line}`);
      assert.ok(!line.includes(signature), `a log line holds the SAS: ${line}`);
    }
  });
});
