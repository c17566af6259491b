// What a MariaDB restore leaves for a later attempt to find: the mark on the database (its comment, "done" once the
// client ran the whole dump), and a named lock the client's session holds while it restores.
import { setTimeout as sleep } from 'node:timers/promises';
import { BackupError } from '../../common/errors.ts';
import type { ServerConnection } from '../site-config.ts';
import type { OwnRestore } from './engine.ts';
import { lit, mariadbQuery, quoteIdent } from './mariadb-sql.ts';
import { parseMark, sessionName, type RestoreMark } from './restore-mark.ts';

/** A mark is made of letters, digits, '-', ':', '.' and spaces (restore-mark.ts): it needs no escaping. */
export async function markMariadbDatabase(conn: ServerConnection, database: string, mark: string): Promise<void> {
  await mariadbQuery(conn, undefined, `ALTER DATABASE ${quoteIdent(database)} COMMENT '${mark}';`, database);
}

/** No mark where the server cannot read one (MySQL has no SCHEMA_COMMENT): the database then counts as not ours. */
export async function readMariadbMark(conn: ServerConnection, database: string): Promise<RestoreMark | undefined> {
  const rows = await mariadbQuery(
    conn,
    undefined,
    `SELECT SCHEMA_COMMENT FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ${lit(database)};`,
    database,
  ).catch(() => [] as string[][]);
  return parseMark(rows[0]?.[0]);
}

/** The client's statements commit one by one: only the "done" mark, written after the last, says it is complete. */
export async function ownMariadbRestore(
  conn: ServerConnection,
  database: string,
  restoreId: string,
): Promise<OwnRestore> {
  const mark = await readMariadbMark(conn, database);
  if (mark?.restoreId !== restoreId) return undefined;
  return mark.done ? 'finished' : 'unfinished';
}

/** The client's arguments that make its session hold the restore's lock, and end it if the server drops it. */
export const lockArgs = (tag: string) => [
  `--init-command=SELECT GET_LOCK('${sessionName(tag)}', 0)`,
  '--skip-reconnect',
];

/**
 * Kills the session of an earlier attempt's client at once: without its worker nobody writes the "done" mark, so
 * its work is redone anyway, and it must not write into the database the retry makes.
 */
export async function endMariadbRestoreSessions(conn: ServerConnection, tag: string): Promise<void> {
  const lock = `'${sessionName(tag)}'`;
  const started = Date.now();
  for (;;) {
    const holder = (await mariadbQuery(conn, undefined, `SELECT IS_USED_LOCK(${lock});`))[0]?.[0];
    if (!holder || holder === 'NULL') return;
    if (Date.now() - started > 30_000)
      throw new BackupError(
        'unavailable',
        `an earlier attempt's client (connection ${holder}) is still restoring and could not be stopped: grant the backup user CONNECTION ADMIN or end it by hand`,
        { code: 'EarlierRestoreRunning' },
      );
    await mariadbQuery(conn, undefined, `KILL CONNECTION ${Number(holder)};`).catch(() => {});
    await sleep(300);
  }
}
