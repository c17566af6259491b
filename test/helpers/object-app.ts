// An application that keeps its files in object storage, for the object mirror's tests: its blobs in Azurite behind a
// proxy that counts (and can slow) every GET, its signed URLs real SAS URLs with an expiry, and its ObjectStorageFiles
// and ObjectStorageDeleteLog tables in a PostgreSQL database that a read-only login can read.
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  BlobSASPermissions,
  BlobServiceClient,
  generateBlobSASQueryParameters,
  StorageSharedKeyCredential,
} from '@azure/storage-blob';
import postgres from 'postgres';
import type { Azurite } from '../../ops/services/azurite.ts';
import { createTempDatabase, pgUrl, PG_PORT, uniqueName } from '../../ops/services/pg.ts';

/** A proxy in front of Azurite: GETs counted per path, each answer held `delayMs` first. */
export async function startCountingProxy(target: string) {
  const to = new URL(target);
  const gets = new Map<string, number>();
  const state = { delayMs: 0 };
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (req.method === 'GET') gets.set(url.pathname, (gets.get(url.pathname) ?? 0) + 1);
    const forward = () => {
      const up = http.request(
        { host: to.hostname, port: to.port, path: req.url, method: req.method, headers: req.headers },
        (r) => {
          res.writeHead(r.statusCode ?? 502, r.headers);
          r.pipe(res);
        },
      );
      up.on('error', () => res.destroy());
      req.pipe(up);
    };
    if (state.delayMs > 0) setTimeout(forward, state.delayMs);
    else forward();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    gets,
    state,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export type CountingProxy = Awaited<ReturnType<typeof startCountingProxy>>;

/** The application: its blobs, its tables, and the rows it writes. */
export async function startObjectApp(azurite: Azurite, proxy: CountingProxy, bucket: string) {
  const blobs = BlobServiceClient.fromConnectionString(azurite.connectionString);
  const container = blobs.getContainerClient(bucket);
  await container.createIfNotExists();
  const cred = new StorageSharedKeyCredential(azurite.accountName, azurite.accountKey);
  const db = await createTempDatabase('bp_app');
  const sql = postgres(db.url, { max: 1, onnotice: () => {} });
  await sql.unsafe(`
    create table "ObjectStorageFiles" ("Id" bigserial primary key, "Name" text, "Path" text not null,
      "Storage" text not null, "Version" int not null, "Hash" text not null, "SignedDownloadUrl" text not null,
      "CreatedAt" timestamptz not null default now());
    create table "ObjectStorageDeleteLog" ("Id" bigserial primary key, "FileId" bigint not null,
      "DeletedAt" timestamptz not null default now());`);
  // The mirror's login: it may read the two tables and nothing more.
  const reader = { user: uniqueName('bp_ro'), password: `ro-${randomUUID()}` };
  await sql.unsafe(`create role "${reader.user}" login password '${reader.password}';
    grant connect on database "${db.name}" to "${reader.user}";
    grant usage on schema public to "${reader.user}";
    grant select on "ObjectStorageFiles", "ObjectStorageDeleteLog" to "${reader.user}";`);

  /** The SAS URL of a blob, through the proxy; `expiresInMs` < 0 gives one that has already expired. */
  const signedUrl = (name: string, expiresInMs = 3_600_000) => {
    const sas = generateBlobSASQueryParameters(
      {
        containerName: bucket,
        blobName: name,
        permissions: BlobSASPermissions.parse('r'),
        startsOn: new Date(Date.now() - 3_600_000),
        expiresOn: new Date(Date.now() + expiresInMs),
      },
      cred,
    ).toString();
    return `${proxy.origin}/${azurite.accountName}/${bucket}/${name}?${sas}`;
  };

  return {
    db,
    reader,
    bucket,
    readerUrl: () => pgUrl(db.name, PG_PORT, reader.user, reader.password),
    signedUrl,
    /** Uploads `content` as the blob `name` and writes the application's row; answers the row's Id. */
    async upload(
      objectPath: string,
      version: number,
      content: Buffer,
      opts: { hash?: string; url?: string; blob?: string; storage?: string } = {},
    ): Promise<string> {
      const blob = opts.blob ?? `${objectPath.replace(/^\//, '')}@v${version}`;
      await container.getBlockBlobClient(blob).uploadData(content);
      const hash = opts.hash ?? createHash('sha256').update(content).digest('hex');
      const [row] =
        await sql`insert into "ObjectStorageFiles" ("Name", "Path", "Storage", "Version", "Hash", "SignedDownloadUrl")
        values (${objectPath.split('/').pop()!}, ${objectPath}, ${opts.storage ?? bucket}, ${version}, ${hash}, ${opts.url ?? signedUrl(blob)})
        returning "Id"::text as id`;
      return row!.id as string;
    },
    /** Writes the application's row for a URL of its choosing (no blob behind it). */
    async row(objectPath: string, version: number, url: string, storage = bucket): Promise<string> {
      const [row] =
        await sql`insert into "ObjectStorageFiles" ("Name", "Path", "Storage", "Version", "Hash", "SignedDownloadUrl")
        values (${'x'}, ${objectPath}, ${storage}, ${version}, ${'0'.repeat(64)}, ${url}) returning "Id"::text as id`;
      return row!.id as string;
    },
    async logDeletion(fileId: string, at: Date): Promise<void> {
      await sql`insert into "ObjectStorageDeleteLog" ("FileId", "DeletedAt") values (${fileId}, ${at})`;
    },
    blobPath: (name: string) => `/${azurite.accountName}/${bucket}/${name}`,
    async stop() {
      await sql.end();
      await db.drop();
      const admin = postgres(pgUrl('postgres'), { max: 1, onnotice: () => {} });
      await admin.unsafe(`drop role if exists "${reader.user}"`);
      await admin.end();
    },
  };
}

export const randomContent = (bytes: number) => randomBytes(bytes);
