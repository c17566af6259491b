// MongoDB through the `mongodb` driver: no dump tool at the site. The dump is a mongodump archive (mongodb-archive.ts)
// written from the driver's cursors; the restore reads it back with the driver. A "table" is a collection.
import type { Db } from 'mongodb';
import { createRequire } from 'node:module';
import { BackupError } from '../../common/errors.ts';
import type { TableCount } from '../../common/model.ts';
import { checkDays, DEFAULT_EXACT_BELOW_ROWS, type DatabaseEngine, type DumpStream } from './engine.ts';
import { producedDump } from './dump-stream.ts';
import { collectionNotFound, SYSTEM_DATABASES, userCollections, withDb, withMongo } from './mongodb-client.ts';
import { dumpDatabase } from './mongodb-dump.ts';
import { restoreDatabase } from './mongodb-restore.ts';

const driverVersion = (): string => {
  const pkg = createRequire(import.meta.url)('mongodb/package.json') as { version: string };
  return pkg.version;
};

/** The collections named, as the database spells them (exactly: MongoDB's names are case-sensitive). */
async function existingCollections(db: Db, names: string[]) {
  const all = new Set((await userCollections(db)).map((c) => c.name));
  for (const n of names) if (!all.has(n)) throw collectionNotFound(n, db.databaseName);
  return names;
}

/** One aggregation: on FerretDB about twice as fast as the count command, which fetches every document. */
async function exactCount(db: Db, name: string): Promise<number> {
  const [r] = await db
    .collection(name)
    .aggregate<{ n: number }>([{ $count: 'n' }])
    .toArray();
  return Number(r?.n ?? 0);
}

export const mongodbEngine: DatabaseEngine = {
  name: 'mongodb',
  format: 'mongoarchive',

  resolveTables: (conn, database, tables) => withDb(conn, database, (db) => existingCollections(db, tables)),

  dump(conn, database, { excludeTableData, filter }): DumpStream {
    return producedDump((out, signal) => dumpDatabase(conn, database, excludeTableData, out, signal), filter);
  },

  async restore(conn, database, input, opts) {
    await restoreDatabase(conn, database, input, opts);
  },

  listDatabases: (conn) =>
    withMongo(conn, async (client) =>
      (await client.db('admin').admin().listDatabases({ nameOnly: true })).databases
        .map((d) => d.name)
        .filter((n) => !SYSTEM_DATABASES.includes(n))
        .sort(),
    ),

  /** MongoDB makes a database when its first collection is; one with none is not listed, and is "not there". */
  databaseExists: (conn, database) =>
    withMongo(conn, async (client) =>
      (await client.db('admin').admin().listDatabases({ nameOnly: true })).databases.some((d) => d.name === database),
    ),

  hasTables: (conn, database) => withDb(conn, database, async (db) => (await userCollections(db)).length > 0),

  async dropDatabase(conn, database) {
    if (SYSTEM_DATABASES.includes(database))
      throw new BackupError('invalid', `'${database}' is MongoDB's own database and is never dropped`);
    await withDb(conn, database, (db) => db.dropDatabase());
  },

  estimateSize: (conn, database) =>
    withDb(conn, database, async (db) => {
      const s = await db.command({ dbStats: 1 });
      return Number(s.totalSize ?? 0) || Number(s.storageSize ?? 0) + Number(s.indexSize ?? 0);
    }),

  serverVersion: (conn) =>
    withMongo(conn, async (client) => {
      const info = await client.db('admin').command({ buildInfo: 1 });
      return info.ferretdbVersion
        ? `MongoDB ${info.version} (FerretDB ${info.ferretdbVersion})`
        : `MongoDB ${info.version}`;
    }),

  async dumpToolVersion() {
    return `mongodb driver ${driverVersion()} (Node ${process.version})`;
  },

  tableRowCounts: (conn, database, opts = {}) =>
    withDb(conn, database, async (db) => {
      const limit = opts.exactBelowRows ?? DEFAULT_EXACT_BELOW_ROWS;
      const result: TableCount[] = [];
      for (const { name } of await userCollections(db)) {
        // collStats' count is the catalogue's (cheap on MongoDB and FerretDB alike); counting scans the collection.
        const stats = await db.command({ collStats: name }).catch(() => undefined);
        const estimate = Number(stats?.count ?? (await db.collection(name).estimatedDocumentCount()));
        result.push(
          estimate >= limit
            ? { table: name, rows: estimate, exact: false }
            : { table: name, rows: await exactCount(db, name), exact: true },
        );
      }
      return result;
    }),

  truncateTables: (conn, database, tables) =>
    withDb(conn, database, async (db) => {
      let removed = 0;
      for (const name of await existingCollections(db, [...new Set(tables)]))
        removed += (await db.collection(name).deleteMany({})).deletedCount;
      return removed;
    }),

  /** Documents whose `column` holds a BSON date older than `days` days; any other value there is kept, not guessed at. */
  deleteOlderThan: (conn, database, table, column, days) =>
    withDb(conn, database, async (db) => {
      checkDays(days);
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(column))
        throw new BackupError('invalid', `'${column}' is not a plain field name`, { field: 'column' });
      const [name] = await existingCollections(db, [table]);
      const before = new Date(Date.now() - days * 86_400_000);
      return (await db.collection(name!).deleteMany({ [column]: { $lt: before } })).deletedCount;
    }),
};
