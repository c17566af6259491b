// One MongoDB client per operation, from the site's server settings. The password goes to the driver as an option,
// never into a connection string, so no string that could reach a log or an error message carries it.
import { MongoClient, MongoServerError, type Db } from 'mongodb';
import { BackupError } from '../../common/errors.ts';
import type { ServerConnection } from '../site-config.ts';
import { MONGODB_SYSTEM_DATABASES } from '../../common/model.ts';

export const DEFAULT_MONGODB_PORT = 27017;
/** MongoDB's own databases: never backed up as a tenant's database, never a restore's target. */
export const SYSTEM_DATABASES: readonly string[] = MONGODB_SYSTEM_DATABASES;

const where = (conn: ServerConnection) => `${conn.host}:${conn.port ?? DEFAULT_MONGODB_PORT}`;

/** A host name or an address; brackets for IPv6. Anything else would change the meaning of the URI. */
function hostPart(host: string): string {
  if (/^[A-Za-z0-9._-]+$/.test(host)) return host;
  if (/^[0-9A-Fa-f:.]+$/.test(host)) return `[${host}]`;
  throw new BackupError('invalid', `'${host}' is not a host name or address: fix the server's host at the site`, {
    code: 'BadHost',
  });
}

export async function withMongo<T>(conn: ServerConnection, fn: (client: MongoClient) => Promise<T>): Promise<T> {
  const client = new MongoClient(`mongodb://${hostPart(conn.host)}:${conn.port ?? DEFAULT_MONGODB_PORT}/`, {
    ...(conn.user ? { auth: { username: conn.user, password: conn.password ?? '' }, authSource: 'admin' } : {}),
    serverSelectionTimeoutMS: 15_000,
    connectTimeoutMS: 15_000,
    appName: 'backup-platform',
    maxPoolSize: 4,
  });
  try {
    await client.connect().catch((err: unknown) => {
      throw classify(err, conn);
    });
    return await fn(client).catch((err: unknown) => {
      throw classify(err, conn);
    });
  } finally {
    await client.close().catch(() => {});
  }
}

export const withDb = <T>(conn: ServerConnection, database: string, fn: (db: Db) => Promise<T>) =>
  withMongo(conn, (client) => fn(client.db(database)));

/**
 * A driver error as the platform's: a refused login is the configuration's fault; an unreachable server or a lost
 * connection is worth a retry. Server messages are kept (they name commands and collections, not credentials).
 */
export function classify(err: unknown, conn: ServerConnection): unknown {
  if (err instanceof BackupError) return err;
  const e = err as { name?: string; code?: number; codeName?: string; message?: string };
  if (e.code === 18 || e.codeName === 'AuthenticationFailed')
    return new BackupError(
      'auth',
      `MongoDB at ${where(conn)} refused the login of '${conn.user}': fix the user or password in the site configuration`,
      { code: 'AuthenticationFailed' },
    );
  if (e.code === 13 || e.codeName === 'Unauthorized')
    return new BackupError('invalid', `MongoDB at ${where(conn)}: the login may not do this (${e.message})`, {
      code: 'PermissionDenied',
    });
  if (err instanceof MongoServerError)
    return new BackupError('unavailable', `MongoDB at ${where(conn)}: ${e.message} (${e.codeName ?? e.code})`, {
      code: 'ServerError',
    });
  if (e.name?.startsWith('Mongo'))
    return new BackupError('unavailable', `cannot reach MongoDB at ${where(conn)}: ${e.message}`, {
      code: 'Unreachable',
    });
  return err;
}

/** User collections of a database, by name, with their listCollections entries (views and system.* left out). */
export async function userCollections(db: Db) {
  const all = await db.listCollections({}, { nameOnly: false }).toArray();
  return all
    .filter((c) => (c.type ?? 'collection') === 'collection' && !c.name.startsWith('system.'))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

export function collectionNotFound(name: string, database: string): BackupError {
  return new BackupError('invalid', `collection '${name}' does not exist in MongoDB database '${database}'`, {
    code: 'TableNotFound',
  });
}
