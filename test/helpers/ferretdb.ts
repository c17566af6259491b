// A FerretDB server per test file (ops/services/ferretdb.ts) and the site's connection to it.
import { MongoClient } from 'mongodb';
import type { ServerConnection } from '../../activities/site-config.ts';
import { uniqueName } from '../../ops/services/pg.ts';
import type { FerretDB } from '../../ops/services/ferretdb.ts';
export { startFerretDB, type FerretDB } from '../../ops/services/ferretdb.ts';

export const mongoConn = (f: FerretDB): ServerConnection => ({
  engine: 'mongodb',
  host: f.host,
  port: f.port,
  user: '',
  password: undefined,
});

/** A client for the test's own reads and writes; close it in `after`. */
export const mongoClient = (f: FerretDB) => new MongoClient(f.uri, { maxPoolSize: 4 });

export const uniqueMongoName = (prefix = 'bp_m') => uniqueName(prefix);
