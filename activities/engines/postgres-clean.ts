// Cleaning PostgreSQL tables before a backup: emptying them, or deleting their old rows, each in one transaction that
// waits only briefly for its locks (the application's own queries would queue behind it).
import { BackupError } from '../../common/errors.ts';
import type { ServerConnection } from '../site-config.ts';
import { checkDays, lockTimeoutOf } from './engine.ts';
import { findTable, quoteIdent, withSql } from './postgres-sql.ts';

export async function truncatePgTables(conn: ServerConnection, database: string, tables: string[]): Promise<number> {
  if (tables.length === 0) return 0;
  return withSql(conn, database, (sql) =>
    sql.begin(async (tx) => {
      const found = new Map<number, string>();
      for (const t of tables) {
        const r = await findTable(tx, t, database);
        found.set(r.oid, r.qualified);
      }
      const oids = [...found.keys()];
      // TRUNCATE would refuse too, but only after the caller learns nothing about which table is in the way.
      const refs = await tx<{ child: string; parent: string }[]>`
        select conrelid::regclass::text as child, confrelid::regclass::text as parent from pg_constraint
        where contype = 'f' and confrelid = any(${oids}::oid[]) and not conrelid = any(${oids}::oid[])`;
      if (refs.length > 0) {
        const list = refs.map((r) => `${r.child} → ${r.parent}`).join(', ');
        throw new BackupError(
          'invalid',
          `cannot truncate in '${database}': other tables reference them (${list}). Truncate the referencing tables too, or delete old rows instead`,
          { code: 'ForeignKeyViolation' },
        );
      }
      const list = [...found.values()].join(', ');
      // Locked first, so the count is exactly what TRUNCATE removes; not waiting long for a lock, since every query
      // of the application on these tables would queue behind ours.
      await tx.unsafe(`set local lock_timeout = '${lockTimeoutOf(conn)}s'`);
      await tx.unsafe(`lock table ${list} in access exclusive mode`);
      let rows = 0;
      for (const q of found.values())
        rows += Number((await tx.unsafe<{ n: string }[]>(`select count(*)::text as n from ${q}`))[0]!.n);
      await tx.unsafe(`truncate table ${list}`);
      return rows;
    }),
  );
}

export async function deletePgRowsOlderThan(
  conn: ServerConnection,
  database: string,
  table: string,
  column: string,
  days: number,
): Promise<number> {
  checkDays(days);
  return withSql(conn, database, (sql) =>
    sql.begin(async (tx) => {
      const t = await findTable(tx, table, database);
      const [col] = await tx<{ type: string }[]>`
        select format_type(atttypid, null) as type from pg_attribute
        where attrelid = ${t.oid} and attname = ${column} and attnum > 0 and not attisdropped`;
      if (!col)
        throw new BackupError(
          'invalid',
          `column '${column}' does not exist in table '${t.display}' of database '${database}'`,
          { code: 'ColumnNotFound' },
        );
      if (!['date', 'timestamp without time zone', 'timestamp with time zone'].includes(col.type)) {
        throw new BackupError(
          'invalid',
          `column '${column}' of '${t.display}' is ${col.type}, not a date or timestamp: choose the column that holds the row's time`,
          { code: 'ColumnNotTimestamp' },
        );
      }
      await tx.unsafe(`set local lock_timeout = '${lockTimeoutOf(conn)}s'`);
      const res = await tx.unsafe(
        `delete from ${t.qualified} where ${quoteIdent(column)} < now() - make_interval(days => $1)`,
        [days],
      );
      return res.count;
    }),
  );
}
