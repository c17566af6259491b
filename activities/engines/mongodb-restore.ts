// A mongodump archive into a MongoDB database, streamed: the collections are created with their options from the
// prelude, documents go in ordered batches as they arrive, and each collection's indexes are built once its documents
// are in (one pass over the data instead of index upkeep per insert).
import { BSON, type Db } from 'mongodb';
import type { Readable } from 'node:stream';
import { BackupError } from '../../common/errors.ts';
import type { ServerConnection } from '../site-config.ts';
import type { RestoreInto } from './engine.ts';
import { readArchive, type CollectionMetadata } from './mongodb-archive.ts';
import { SYSTEM_DATABASES, userCollections, withMongo } from './mongodb-client.ts';

const BATCH_DOCUMENTS = 1000;
const BATCH_BYTES = 8 * 1024 * 1024;
/** Types kept as they were: an int32 stays an int32, a double a double, a regular expression keeps its flags. */
const EXACT = { promoteValues: false, bsonRegExp: true } as const;

interface Metadata {
  options?: Record<string, unknown>;
  indexes?: Record<string, unknown>[];
}

export async function restoreDatabase(
  conn: ServerConnection,
  database: string,
  input: Readable,
  { into, signal }: { into: RestoreInto; signal?: AbortSignal },
): Promise<void> {
  // The server's own databases are never a restore's target: replacing one would drop it.
  if (SYSTEM_DATABASES.includes(database))
    throw new BackupError('invalid', `'${database}' is MongoDB's own database: restore into another name`);
  await withMongo(conn, async (client) => {
    const names = (await client.db('admin').admin().listDatabases({ nameOnly: true })).databases.map((d) => d.name);
    if (into === 'new' && names.includes(database))
      throw new BackupError(
        'conflict',
        `MongoDB database '${database}' already exists: restore into a new name or into the existing database`,
        { code: 'DatabaseExists' },
      );
    const db = client.db(database);
    // MongoDB cannot swap a database in whole: replacing drops the old one first (the activity asked to overwrite).
    if (into === 'replace') await db.dropDatabase();
    else if ((await userCollections(db)).length > 0)
      throw new BackupError('conflict', `MongoDB database '${database}' has collections: restore into a new name`, {
        code: 'DatabaseNotEmpty',
      });
    const archive = await readArchive(input);
    const metadata = new Map<string, Metadata>();
    for (const c of archive.collections) {
      checkName(c.collection);
      const m = parseMetadata(c);
      metadata.set(c.collection, m);
      // The archive's options never name the collection: `create` is the checked name, whatever the metadata says.
      await db.command({ ...withoutKeys(m.options ?? {}, ['uuid', 'create']), create: c.collection });
    }
    const batches = new Map<string, { docs: BSON.Document[]; bytes: number }>();
    const flush = async (collection: string) => {
      const b = batches.get(collection);
      if (!b || b.docs.length === 0) return;
      batches.delete(collection);
      if (signal?.aborted) throw signal.reason;
      await db.collection(collection).insertMany(b.docs, { ordered: true });
    };
    for await (const ev of archive.events) {
      if (!metadata.has(ev.collection))
        throw new BackupError('invalid', `the archive has documents of a collection its prelude does not list`, {
          code: 'ArchiveDamaged',
        });
      if (ev.kind === 'end') {
        await flush(ev.collection);
        await createIndexes(db, ev.collection, metadata.get(ev.collection)!.indexes ?? []);
        continue;
      }
      const b = batches.get(ev.collection) ?? { docs: [], bytes: 0 };
      batches.set(ev.collection, b);
      b.docs.push(BSON.deserialize(ev.bytes, EXACT));
      b.bytes += ev.bytes.length;
      if (b.docs.length >= BATCH_DOCUMENTS || b.bytes >= BATCH_BYTES) await flush(ev.collection);
    }
    for (const c of batches.keys()) await flush(c);
  });
}

/** The collection names a dump of a user database can hold; anything else is not this platform's archive. */
function checkName(name: string): void {
  if (!name || name.startsWith('system.') || /[\0$]/.test(name) || Buffer.byteLength(name) > 255)
    throw new BackupError('invalid', `the archive names a collection MongoDB would not take: '${name}'`, {
      code: 'ArchiveDamaged',
    });
}

function parseMetadata(c: CollectionMetadata): Metadata {
  if (!c.metadata) return {};
  try {
    return BSON.EJSON.parse(c.metadata, { relaxed: false }) as Metadata;
  } catch {
    throw new BackupError('invalid', `the archive's metadata of collection '${c.collection}' is not Extended JSON`, {
      code: 'ArchiveDamaged',
    });
  }
}

const withoutKeys = (o: Record<string, unknown>, keys: string[]) =>
  Object.fromEntries(Object.entries(o).filter(([k]) => !keys.includes(k)));

/** The indexes as listIndexes gave them, but `_id_` (every collection has it) and the fields only the server sets. */
async function createIndexes(db: Db, collection: string, indexes: Record<string, unknown>[]): Promise<void> {
  const specs = indexes.filter((i) => i.name !== '_id_').map((i) => withoutKeys(i, ['v', 'ns', 'background']));
  if (specs.length > 0) await db.command({ createIndexes: collection, indexes: specs });
}
