// Talking to a PostgreSQL server through postgres.js: one connection per call, identifiers quoted, tables found the
// way SQL finds them, and what a libpq, pg_dump or pg_restore message means for the admin.
import postgres from 'postgres';
import { BackupError } from '../../common/errors.ts';
import type { ServerConnection } from '../site-config.ts';
import { tableBusy } from './engine.ts';

/** Turns a libpq/pg_dump/pg_restore message into what the admin must do, and whether retrying can help. */
export function classifyPgError(message: string, conn: ServerConnection, database: string): BackupError {
  const m = message.toLowerCase();
  const first = message.trim().split('\n')[0] ?? '';
  const where = `server ${conn.host}:${conn.port ?? 5432}, user '${conn.user}'`;
  if (m.includes('password authentication failed') || m.includes('no password supplied') || m.includes('28p01')) {
    return new BackupError(
      'auth',
      `PostgreSQL refused the login (${where}): check the password for this server in the site configuration`,
      { code: 'AuthenticationFailed' },
    );
  }
  if (/database ".*" does not exist/.test(m) || m.includes('3d000')) {
    return new BackupError(
      'invalid',
      `database '${database}' does not exist on ${where}: fix the database list of the backup configuration`,
      { code: 'DatabaseNotFound' },
    );
  }
  if (/database ".*" already exists/.test(m) || m.includes('42p04')) {
    return new BackupError(
      'conflict',
      `database '${database}' already exists on ${where}: restore into a new name or into the existing database`,
      { code: 'DatabaseExists' },
    );
  }
  if (m.includes('permission denied') || m.includes('42501')) {
    return new BackupError(
      'invalid',
      `permission denied on ${where}: ${first}. Grant the backup user the access it needs`,
      { code: 'PermissionDenied' },
    );
  }
  if (m.includes('pg_hba.conf') || (m.includes('role') && m.includes('does not exist'))) {
    return new BackupError('auth', `PostgreSQL refused the connection (${where}): ${first}`, {
      code: 'AuthenticationFailed',
    });
  }
  if (m.includes('server version mismatch')) {
    return new BackupError(
      'invalid',
      `pg_dump at the site is older than the server (${where}): install the PostgreSQL client tools of the server's version at the site (${first})`,
      { code: 'DumpToolTooOld' },
    );
  }
  if (m.includes('unsupported version')) {
    // The archive is newer than the tool reading it: the backup is fine, the tool is not.
    return new BackupError(
      'invalid',
      `pg_restore at the site is older than the pg_dump that made this backup: install newer PostgreSQL client tools at the site (${first})`,
      { code: 'RestoreToolTooOld' },
    );
  }
  if (
    m.includes('did not find magic string') ||
    m.includes('does not appear to be a valid archive') ||
    m.includes('unexpected end of file')
  ) {
    return new BackupError('invalid', `the file is not a complete pg_dump custom-format dump (${first})`, {
      code: 'BadDumpFile',
    });
  }
  if (m.includes('55p03') || m.includes('lock timeout')) {
    return tableBusy(database, where);
  }
  if (m.includes('could not execute query')) {
    // The same statement fails again on retry: an object that exists already, a missing role or extension.
    const detail = message.split('\n').find((l) => /could not execute query/i.test(l)) ?? first ?? message;
    return new BackupError('invalid', `restoring into '${database}' on ${where} failed: ${detail.trim()}`, {
      code: 'RestoreFailed',
    });
  }
  return new BackupError('unavailable', `PostgreSQL (${where}): ${message.trim().split('\n').slice(-3).join(' ')}`);
}

export const quoteIdent = (s: string) => `"${s.replaceAll('"', '""')}"`;
export const MAINTENANCE_DB = 'postgres';

export type Sql = postgres.Sql;

/** Opens one connection, runs `fn`, closes it; every failure leaves as a classified BackupError. */
export async function withSql<T>(
  conn: ServerConnection,
  database: string,
  fn: (sql: Sql) => Promise<T>,
  forDatabase = database,
): Promise<T> {
  const sql = postgres({
    host: conn.host,
    port: conn.port ?? 5432,
    user: conn.user,
    password: conn.password,
    database,
    max: 1,
    connect_timeout: 10,
    onnotice: () => {},
    connection: { application_name: 'backup-site-worker' },
  });
  try {
    return await fn(sql);
  } catch (err) {
    if (err instanceof BackupError) throw err;
    const e = err as { code?: string; message?: string };
    throw classifyPgError(`${e.code ?? ''} ${e.message ?? String(err)}`, conn, forDatabase);
  } finally {
    await sql.end({ timeout: 2 });
  }
}

const tableNotFound = (table: string, database: string) =>
  new BackupError(
    'invalid',
    `table '${table}' does not exist in database '${database}': fix the tables of the backup configuration`,
    { code: 'TableNotFound' },
  );

/** Finds a table the way SQL would (`name` on the search path or `schema.name`, quotes allowed). */
export async function findTable(
  sql: Sql | postgres.TransactionSql,
  table: string,
  database: string,
): Promise<{ oid: number; qualified: string; display: string }> {
  const rows = await sql<{ oid: number; schema: string; name: string }[]>`
    select c.oid::int8 as oid, n.nspname as schema, c.relname as name
    from pg_class c join pg_namespace n on n.oid = c.relnamespace
    where c.oid = to_regclass(${table}) and c.relkind in ('r', 'p')`.catch((e: { code?: string }) => {
    if (e.code === '42602') return []; // invalid name syntax: no table can have this name
    throw e;
  });
  const row = rows[0];
  if (!row) throw tableNotFound(table, database);
  return {
    oid: Number(row.oid),
    qualified: `${quoteIdent(row.schema)}.${quoteIdent(row.name)}`,
    display: `${row.schema}.${row.name}`,
  };
}
