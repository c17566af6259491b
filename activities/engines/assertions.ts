// A restore drill's SQL assertions: each runs read-only in the restored scratch database, under a login that can read
// only that database (drill-sandbox.ts), and must return true.
import { BackupError } from '../../common/errors.ts';
import type { ServerConnection } from '../site-config.ts';
import { ASSERTION_TIMEOUT_SECONDS, withMariadbDrillLogin, withPgDrillLogin } from './drill-sandbox.ts';
import { lit, mariadbQuery } from './mariadb-sql.ts';
import { mongoAssertionValue } from './mongodb-assertions.ts';
import { withSql } from './postgres-sql.ts';
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
  if (conn.engine === 'mongodb') {
    // A JSON query rather than SQL (common/mongo-assertion.ts), with its own idea of true.
    const r = await mongoAssertionValue(conn, database, sql);
    return { ok: r.ok, value: shown(r.value) };
  }
  if (conn.engine === 'postgresql') {
    value = await withPgDrillLogin(conn, database, (login) =>
      withSql(login, database, async (client) => {
        // The extended protocol takes one statement (the simple one, postgres.js's default without parameters, takes
        // many); the server's error text can hold row values, so only its SQLSTATE leaves.
        const rows = await client
          .begin('read only', (tx) => tx.unsafe(sql, [], { simple: false } as { prepare?: boolean }))
          .catch((err: { code?: string }) => {
            throw assertionFailed(err.code);
          });
        return rows[0] ? Object.values(rows[0] as Record<string, unknown>)[0] : undefined;
      }),
    );
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
    const rows = await withMariadbDrillLogin(conn, database, (login) =>
      mariadbQuery(login, database, script.join('\n')).catch((err: unknown) => {
        const m = /ERROR (\d+) \((\w+)\)/.exec(err instanceof Error ? err.message : '');
        throw assertionFailed(m ? m[2] : undefined, m ? `MariaDB error ${m[1]}` : undefined);
      }),
    );
    value = rows[0]?.[0];
  } else {
    value = readDb(dbPath(conn, database), database, (db) => {
      const row = db.prepare(sql).get() as Record<string, unknown> | undefined;
      return row ? Object.values(row)[0] : undefined;
    });
  }
  return { ok: truthy(value), value: shown(value) };
}

const SQLSTATE_MEANING: Record<string, string> = {
  '42501': 'not allowed: an assertion may only read the restored database',
  '28000': 'not allowed: an assertion may only read the restored database',
  '42000': 'not valid SQL here, or not allowed',
  '42601': 'not valid SQL',
  '25006': 'it tried to write: an assertion only reads',
  '57014': `it ran longer than ${ASSERTION_TIMEOUT_SECONDS} s`,
  '70100': `it ran longer than ${ASSERTION_TIMEOUT_SECONDS} s`,
};

/** An assertion that could not run, by its SQLSTATE only: the server's message can quote file contents or values. */
function assertionFailed(sqlstate: string | undefined, detail?: string): BackupError {
  const meaning =
    (sqlstate && SQLSTATE_MEANING[sqlstate]) ??
    (sqlstate?.startsWith('22') ? 'a data error (a cast or a value out of range)' : 'it failed');
  const parts = [sqlstate && `SQLSTATE ${sqlstate}`, detail].filter(Boolean).join(', ');
  return new BackupError('invalid', `the assertion did not run: ${meaning}${parts ? ` (${parts})` : ''}`, {
    code: 'AssertionInvalid',
  });
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
