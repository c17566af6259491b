// A restore drill's SQL assertions: each runs read-only in the restored scratch database and must return true.
import postgres from 'postgres';
import { BackupError } from '../../common/errors.ts';
import type { ServerConnection } from '../site-config.ts';
import { mariadbQuery } from './mariadb.ts';
import { classifyPgError } from './postgres.ts';
import { dbPath, readDb } from './sqlite.ts';

/** True, 't', 1, '1', 'true', 'yes' count as true; anything else (including no row) is false. */
const truthy = (v: unknown) => v === true || v === 1 || v === 1n || (typeof v === 'string' && ['t', 'true', '1', 'yes'].includes(v.trim().toLowerCase()));

/** The first column of the first row of `sql`, run in a read-only transaction; whether it is true. */
export async function assertionHolds(conn: ServerConnection, database: string, sql: string): Promise<{ ok: boolean; value: string }> {
  let value: unknown;
  if (conn.engine === 'postgresql') {
    const client = postgres({ host: conn.host, port: conn.port ?? 5432, user: conn.user, password: conn.password, database, max: 1, connect_timeout: 10, onnotice: () => {} });
    try {
      const rows = await client.begin('read only', (tx) => tx.unsafe(sql));
      value = rows[0] ? Object.values(rows[0] as Record<string, unknown>)[0] : undefined;
    } catch (err) {
      const e = err as { code?: string; message?: string };
      if (e.code === '42601' || e.code?.startsWith('42')) throw new BackupError('invalid', `the assertion is not valid SQL here: ${e.message}`, { code: 'AssertionInvalid' });
      throw classifyPgError(`${e.code ?? ''} ${e.message ?? String(err)}`, conn, database);
    } finally {
      await client.end({ timeout: 2 });
    }
  } else if (conn.engine === 'mariadb') {
    const rows = await mariadbQuery(conn, database, `START TRANSACTION READ ONLY;\n${sql.trim().replace(/;$/, '')};\nROLLBACK;`);
    value = rows[0]?.[0];
  } else {
    value = readDb(dbPath(conn, database), database, (db) => {
      const row = db.prepare(sql).get() as Record<string, unknown> | undefined;
      return row ? Object.values(row)[0] : undefined;
    });
  }
  return { ok: truthy(value), value: value === undefined ? 'no row' : String(value) };
}
