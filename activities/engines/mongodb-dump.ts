// A MongoDB database as a mongodump archive, streamed: the prelude (each collection's options and indexes) first,
// then each collection's documents as raw BSON straight from the driver's cursor (never decoded, never held).
import { BSON, type Db } from 'mongodb';
import type { Writable } from 'node:stream';
import { BackupError } from '../../common/errors.ts';
import type { ServerConnection } from '../site-config.ts';
import { ArchiveWriter, type CollectionMetadata } from './mongodb-archive.ts';
import { userCollections, withMongo } from './mongodb-client.ts';

/** What the archive's header names as its maker (mongorestore only shows it). */
export const TOOL_VERSION = 'backup-platform mongodb engine 1';
/** Documents per cursor batch: big enough to keep the wire busy, small enough to keep memory flat. */
const BATCH = 1000;

export async function dumpDatabase(
  conn: ServerConnection,
  database: string,
  excludeTableData: string[],
  out: Writable,
  signal: AbortSignal,
): Promise<void> {
  await withMongo(conn, async (client) => {
    const names = (await client.db('admin').admin().listDatabases({ nameOnly: true })).databases.map((d) => d.name);
    if (!names.includes(database))
      throw new BackupError('invalid', `MongoDB database '${database}' does not exist: fix the database list`, {
        code: 'DatabaseNotFound',
      });
    const db = client.db(database);
    const { version } = await client.db('admin').command({ buildInfo: 1 });
    const collections = await collectionMetadata(db, database);
    const writer = new ArchiveWriter(out, signal);
    await writer.prelude({ serverVersion: String(version), toolVersion: TOOL_VERSION }, collections);
    for (const { collection } of collections) {
      if (signal.aborted) throw signal.reason;
      if (excludeTableData.includes(collection)) {
        await writer.collection(database, collection, (async function* () {})());
        continue;
      }
      const cursor = db.collection(collection).find({}, { raw: true, batchSize: BATCH });
      try {
        await writer.collection(database, collection, rawDocuments(cursor, signal));
      } finally {
        await cursor.close().catch(() => {});
      }
    }
  });
}

async function* rawDocuments(cursor: AsyncIterable<unknown>, signal: AbortSignal): AsyncGenerator<Uint8Array> {
  for await (const doc of cursor) {
    if (signal.aborted) throw signal.reason;
    yield doc as Uint8Array;
  }
}

/** Each collection's `metadata.json` as mongodump writes it: options, indexes, uuid, name and type. */
async function collectionMetadata(db: Db, database: string): Promise<CollectionMetadata[]> {
  const result: CollectionMetadata[] = [];
  for (const c of await userCollections(db)) {
    const indexes = await db.collection(c.name).listIndexes().toArray();
    const info = (c as { info?: { uuid?: BSON.Binary } }).info;
    const metadata = {
      indexes,
      ...(info?.uuid && { uuid: Buffer.from(info.uuid.buffer).toString('hex') }),
      collectionName: c.name,
      type: 'collection',
      options: (c as { options?: object }).options ?? {},
    };
    const stats = await db.command({ collStats: c.name }).catch(() => undefined);
    result.push({
      db: database,
      collection: c.name,
      metadata: BSON.EJSON.stringify(metadata, { relaxed: false }),
      size: Number(stats?.size ?? 0),
      type: 'collection',
    });
  }
  return result;
}
