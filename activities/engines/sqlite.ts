// SQLite through node:sqlite: no server and no tool. A "server" is a folder (`conn.host`); a database is a file name in
// it. The dump is the database file itself, copied consistently while the application keeps using it (sqlite-copy.ts).
import { open, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import type { TableCount } from '../../common/model.ts';
import { BackupError } from '../../common/errors.ts';
import { checkDays, DEFAULT_EXACT_BELOW_ROWS, type DatabaseEngine, type DumpStream } from './engine.ts';
import { producedDump } from './dump-stream.ts';
import { copyDatabase, restoreDatabase } from './sqlite-copy.ts';
import {
  checkFolder,
  checkNotReferenced,
  dbPath,
  emptyingSteps,
  existingDb,
  MAGIC,
  matchTable,
  offThread,
  quoteIdent,
  readDb,
  removeWithSideFiles,
  SIDE_FILES,
  sqliteVersion,
  sumChanges,
  userTables,
  type Step,
} from './sqlite-db.ts';

export const sqliteEngine: DatabaseEngine = {
  name: 'sqlite',
  format: 'sqlite',

  async resolveTables(conn, database, tables) {
    const file = await existingDb(conn, database);
    return readDb(file, database, (db) => {
      const all = userTables(db);
      return tables.map((t) => matchTable(all, t, database));
    });
  },

  dump(conn, database, { excludeTableData, filter }): DumpStream {
    return producedDump((out, signal) => copyDatabase(conn, database, excludeTableData, out, signal), filter);
  },

  async restore(conn, database, input, opts) {
    await restoreDatabase(conn, database, input, opts);
  },

  async listDatabases(conn) {
    const folder = await checkFolder(conn);
    const names: string[] = [];
    for (const entry of await readdir(folder, { withFileTypes: true })) {
      if (!entry.isFile() || entry.name.startsWith('.') || SIDE_FILES.some((s) => entry.name.endsWith(s))) continue;
      const head = Buffer.alloc(MAGIC.length);
      const fd = await open(path.join(folder, entry.name), 'r').catch(() => undefined);
      if (!fd) continue;
      try {
        await fd.read(head, 0, head.length, 0);
      } finally {
        await fd.close();
      }
      if (head.equals(MAGIC)) names.push(entry.name);
    }
    return names.sort();
  },

  async databaseExists(conn, database) {
    const file = dbPath(conn, database);
    await checkFolder(conn);
    return (await stat(file).catch(() => undefined))?.isFile() ?? false;
  },

  async hasTables(conn, database) {
    const file = await existingDb(conn, database);
    return readDb(
      file,
      database,
      (db) =>
        db
          .prepare(
            String.raw`SELECT EXISTS (SELECT 1 FROM sqlite_schema WHERE type IN ('table', 'view') AND name NOT LIKE 'sqlite\_%' ESCAPE '\') AS found`,
          )
          .get()!.found === 1,
    );
  },

  async dropDatabase(conn, database) {
    const file = dbPath(conn, database);
    await checkFolder(conn);
    await removeWithSideFiles(file);
  },

  async estimateSize(conn, database) {
    const file = await existingDb(conn, database);
    const wal = await stat(`${file}-wal`).catch(() => undefined);
    return (await stat(file)).size + (wal?.size ?? 0);
  },

  async serverVersion() {
    return `SQLite ${sqliteVersion()}`;
  },

  async dumpToolVersion() {
    return `node:sqlite ${sqliteVersion()} (Node ${process.version})`;
  },

  async tableRowCounts(conn, database, opts = {}) {
    const limit = opts.exactBelowRows ?? DEFAULT_EXACT_BELOW_ROWS;
    const file = await existingDb(conn, database);
    const { tables, estimates } = readDb(file, database, (db) => {
      // SQLite keeps no row counts; only an ANALYZE leaves estimates behind, in sqlite_stat1.
      const estimates = new Map<string, number>();
      if (db.prepare(`SELECT 1 FROM sqlite_schema WHERE name = 'sqlite_stat1'`).get()) {
        for (const r of db.prepare('SELECT tbl, stat FROM sqlite_stat1').all()) {
          const n = Number.parseInt(String(r.stat), 10);
          const key = String(r.tbl).toLowerCase();
          if (Number.isFinite(n)) estimates.set(key, Math.max(n, estimates.get(key) ?? 0));
        }
      }
      return { tables: userTables(db), estimates };
    });
    const result = tables.map((table): TableCount => {
      const estimate = estimates.get(table.toLowerCase());
      return estimate !== undefined && estimate >= limit
        ? { table, rows: estimate, exact: false }
        : { table, rows: 0, exact: true };
    });
    const toCount = result.filter((r) => r.exact);
    if (toCount.length > 0) {
      // One read transaction, so the counts belong to one moment.
      const steps: Step[] = [
        { sql: 'BEGIN' },
        ...toCount.map((r): Step => ({ sql: `SELECT count(*) AS n FROM ${quoteIdent(r.table)}`, want: 'rows' })),
        { sql: 'COMMIT' },
      ];
      const counts = await offThread(file, database, steps, { readOnly: true });
      toCount.forEach((r, i) => (r.rows = Number((counts[i + 1] as { n: number }[])[0]!.n)));
    }
    return result;
  },

  async truncateTables(conn, database, tables) {
    if (tables.length === 0) return 0;
    const file = await existingDb(conn, database);
    const steps = readDb(file, database, (db) => {
      const all = userTables(db);
      const names = [...new Set(tables.map((t) => matchTable(all, t, database)))];
      checkNotReferenced(db, names, database);
      return emptyingSteps(db, names);
    });
    // References among the emptied tables are checked at COMMIT, when all of them are empty.
    const all: Step[] = [
      { sql: 'BEGIN IMMEDIATE' },
      { sql: 'PRAGMA defer_foreign_keys = ON' },
      ...steps,
      { sql: 'COMMIT' },
    ];
    return sumChanges(await offThread(file, database, all), all);
  },

  /** Times as SQLite's date functions read them: ISO-8601 text, or Unix seconds (milliseconds above 1e11) as numbers. */
  async deleteOlderThan(conn, database, table, column, days) {
    checkDays(days);
    const file = await existingDb(conn, database);
    const { name, col } = readDb(file, database, (db) => {
      const name = matchTable(userTables(db), table, database);
      const col = db
        .prepare(`PRAGMA table_xinfo(${quoteIdent(name)})`)
        .all()
        .map((c) => String(c.name))
        .find((c) => c.toLowerCase() === column.toLowerCase());
      if (!col)
        throw new BackupError(
          'invalid',
          `column '${column}' does not exist in table '${name}' of database '${database}'`,
          { code: 'ColumnNotFound' },
        );
      return { name, col };
    });
    const c = quoteIdent(col);
    // A value no date function can read gives NULL, and such a row is kept rather than guessed at.
    const when = `CASE typeof(${c}) WHEN 'text' THEN julianday(${c})
      WHEN 'integer' THEN julianday(CASE WHEN abs(${c}) > 1e11 THEN ${c} / 1000.0 ELSE ${c} END, 'unixepoch')
      WHEN 'real' THEN julianday(CASE WHEN abs(${c}) > 1e11 THEN ${c} / 1000.0 ELSE ${c} END, 'unixepoch') END`;
    const steps: Step[] = [
      { sql: 'BEGIN IMMEDIATE' },
      {
        sql: `DELETE FROM ${quoteIdent(name)} WHERE ${when} < julianday('now', ?)`,
        params: [`-${days} days`],
        want: 'changes',
      },
      { sql: 'COMMIT' },
    ];
    return sumChanges(await offThread(file, database, steps), steps);
  },
};
