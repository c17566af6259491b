// A restore drill's SQL assertions: each runs read-only in the restored scratch database and must return true.
import postgres from 'postgres';
import { BackupError } from '../../common/errors.ts';
import type { ServerConnection } from '../site-config.ts';
import { lit, mariadbQuery } from './mariadb-sql.ts';
import { classifyPgError } from './postgres-sql.ts';
import { dbPath, readDb } from './sqlite-db.ts';

/** True, 't', 1, '1', 'true', 'yes' count as true; anything else (including no row) is false. */
const truthy = (v: unknown) =>
  v === true ||
  v === 1 ||
  v === 1n ||
  (typeof v === 'string' && ['t', 'true', '1', 'yes'].includes(v.trim().toLowerCase()));

/**
 * The first column of the first row of `sql`, run in a read-only transaction; whether it is true. One statement only:
 * a second one could end the read-only transaction and write. The value is reported only when it reads as a yes/no
 * or a number; any other text stays at the site (an assertion is not a way to read the server's data out).
 */
export async function assertionHolds(
  conn: ServerConnection,
  database: string,
  sql: string,
): Promise<{ ok: boolean; value: string }> {
  let value: unknown;
  if (conn.engine === 'postgresql') {
    const client = postgres({
      host: conn.host,
      port: conn.port ?? 5432,
      user: conn.user,
      password: conn.password,
      database,
      max: 1,
      connect_timeout: 10,
      onnotice: () => {},
    });
    try {
      // The extended protocol takes one statement (the simple one, postgres.js's default without parameters, takes many).
      const rows = await client.begin('read only', (tx) =>
        tx.unsafe(sql, [], { simple: false } as { prepare?: boolean }),
      );
      value = rows[0] ? Object.values(rows[0] as Record<string, unknown>)[0] : undefined;
    } catch (err) {
      const e = err as { code?: string; message?: string };
      if (e.code === '42601' || e.code?.startsWith('42'))
        throw new BackupError('invalid', `the assertion is not valid SQL here: ${e.message}`, {
          code: 'AssertionInvalid',
        });
      throw classifyPgError(`${e.code ?? ''} ${e.message ?? String(err)}`, conn, database);
    } finally {
      await client.end({ timeout: 2 });
    }
  } else if (conn.engine === 'mariadb') {
    // Sent as a prepared statement from a hex literal: the server takes exactly one statement, and the client, which
    // reads its input for commands of its own (`\g` ends a statement, `\!` runs a shell), never sees the text.
    const statement = sql.trim().replace(/;$/, '');
    const script = [
      `START TRANSACTION READ ONLY;`,
      `SET @bp_assertion = ${lit(statement)};`,
      'PREPARE bp_assertion FROM @bp_assertion;',
      'EXECUTE bp_assertion;',
      'ROLLBACK;',
    ];
    const rows = await mariadbQuery(conn, database, script.join('\n')).catch((err: unknown) => {
      if (err instanceof BackupError && err.kind === 'invalid')
        throw new BackupError('invalid', `the assertion is not valid SQL here: ${err.message}`, {
          code: 'AssertionInvalid',
        });
      throw err;
    });
    value = rows[0]?.[0];
  } else {
    value = readDb(dbPath(conn, database), database, (db) => {
      const row = db.prepare(sql).get() as Record<string, unknown> | undefined;
      return row ? Object.values(row)[0] : undefined;
    });
  }
  return { ok: truthy(value), value: shown(value) };
}

/** A yes/no or a number as it came; other text only by its length. */
function shown(value: unknown): string {
  if (value === undefined) return 'no row';
  if (value === null || typeof value === 'boolean' || typeof value === 'number' || typeof value === 'bigint')
    return String(value);
  const text = String(value).trim();
  if (/^(t|f|true|false|yes|no|-?\d+(\.\d+)?)$/i.test(text)) return text;
  return `a value of ${text.length} characters (not shown)`;
}
