// What a PostgreSQL restore leaves for a later attempt to find: the mark on the database (its comment), the
// sessions of pg_restore (by application name), and a staging database that takes the target's name once complete.
import { setTimeout as sleep } from 'node:timers/promises';
import { BackupError } from '../../common/errors.ts';
import type { ServerConnection } from '../site-config.ts';
import type { OwnRestore } from './engine.ts';
import { MAINTENANCE_DB, quoteIdent, withSql } from './postgres-sql.ts';
import { parseMark, sessionName, type RestoreMark } from './restore-mark.ts';

const literal = (s: string) => `'${s.replaceAll("'", "''")}'`;

export async function markPgDatabase(conn: ServerConnection, database: string, mark: string): Promise<void> {
  await withSql(
    conn,
    MAINTENANCE_DB,
    (sql) => sql.unsafe(`comment on database ${quoteIdent(database)} is ${literal(mark)}`),
    database,
  );
}

export async function readPgMark(conn: ServerConnection, database: string): Promise<RestoreMark | undefined> {
  return withSql(
    conn,
    MAINTENANCE_DB,
    async (sql) => {
      const [row] = await sql<{ c: string | null }[]>`
        select shobj_description(oid, 'pg_database') as c from pg_database where datname = ${database}`;
      return parseMark(row?.c);
    },
    database,
  );
}

/**
 * pg_restore runs in one transaction: a marked database that has tables holds everything the restore wrote, and
 * one without tables holds nothing of it.
 */
export async function ownPgRestore(
  conn: ServerConnection,
  database: string,
  restoreId: string,
  hasTables: () => Promise<boolean>,
): Promise<OwnRestore> {
  const mark = await readPgMark(conn, database);
  if (mark?.restoreId !== restoreId) return undefined;
  return (await hasTables()) ? 'finished' : 'unfinished';
}

/**
 * Waits for an earlier attempt's pg_restore to end: one that read all its input commits on its own, and its work
 * is then kept. After `graceMs` (or on cancellation) its sessions are terminated, which rolls its transaction back.
 */
export async function endPgRestoreSessions(
  conn: ServerConnection,
  tag: string,
  { graceMs, signal }: { graceMs: number; signal?: AbortSignal },
): Promise<void> {
  const name = sessionName(tag);
  await withSql(conn, MAINTENANCE_DB, async (sql) => {
    const stopAt = Date.now() + graceMs;
    let terminatedAt: number | undefined;
    for (;;) {
      const left = await sql<{ pid: number }[]>`
        select pid from pg_stat_activity where application_name = ${name} and pid <> pg_backend_pid()`;
      if (left.length === 0) return;
      if (terminatedAt === undefined && (Date.now() >= stopAt || signal?.aborted)) {
        await sql`select pg_terminate_backend(pid) from pg_stat_activity where application_name = ${name}`;
        terminatedAt = Date.now();
      }
      if (terminatedAt !== undefined && Date.now() - terminatedAt > 30_000) {
        throw new BackupError(
          'unavailable',
          `an earlier attempt's pg_restore (server process ${left.map((r) => r.pid).join(', ')}) is still running and could not be stopped: grant the backup user pg_signal_backend or end it by hand`,
          { code: 'EarlierRestoreRunning' },
        );
      }
      await sleep(500);
    }
  });
}

/** Drops a database; sessions left open by a crashed restore or drill must not keep it alive (FORCE from 13 on). */
export async function dropPgDatabase(conn: ServerConnection, database: string): Promise<void> {
  await withSql(
    conn,
    MAINTENANCE_DB,
    async (sql) => {
      const [v] = await sql<{ num: number }[]>`select current_setting('server_version_num')::int as num`;
      await sql.unsafe(`drop database if exists ${quoteIdent(database)}${v!.num >= 130000 ? ' with (force)' : ''}`);
    },
    database,
  );
}

/** The old target goes and the staging database takes its name. */
export async function swapPgStaging(conn: ServerConnection, staging: string, database: string): Promise<void> {
  await dropPgDatabase(conn, database);
  await withSql(
    conn,
    MAINTENANCE_DB,
    (sql) => sql.unsafe(`alter database ${quoteIdent(staging)} rename to ${quoteIdent(database)}`),
    database,
  ).catch((err: unknown) => {
    // Not retried: a retry would find no database by the name, restore again and leave this complete one aside.
    throw new BackupError(
      'invalid',
      `the restored database is complete as '${staging}' but could not be renamed to '${database}' (${err instanceof Error ? err.message : String(err)}): rename it by hand`,
      { code: 'RenameFailed' },
    );
  });
}
