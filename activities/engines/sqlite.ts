// SQLite through node:sqlite: no server and no tool. A "server" is a folder (`conn.host`); a database is a file name in
// it. The dump is the database file itself, copied consistently while the application keeps using it.
import { randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, open, readdir, rename, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { backup, DatabaseSync, type SQLInputValue } from 'node:sqlite';
import { Worker } from 'node:worker_threads';
import { BackupError } from '../../common/errors.ts';
import type { TableCount } from '../../common/model.ts';
import type { ServerConnection } from '../site-config.ts';
import { checkDays, DEFAULT_EXACT_BELOW_ROWS, type DatabaseEngine, type DumpStream } from './engine.ts';
import { producedDump } from './dump-stream.ts';
import { fsyncDir } from '../fsync.ts';

const MAGIC = Buffer.from('SQLite format 3\0', 'latin1');
const SIDE_FILES = ['-wal', '-shm', '-journal'];
/** Whole database in one backup step: one read transaction, so writers elsewhere cannot make it start over. */
const ALL_PAGES = 0x7fffffff;
const BUSY_TIMEOUT_MS = 10_000;

const quoteIdent = (s: string) => `"${s.replaceAll('"', '""')}"`;

/** `conn.host` is the folder, `database` a plain file name in it: nothing can point outside the folder. */
export function dbPath(conn: ServerConnection, database: string): string {
  if (
    !database ||
    database !== path.basename(database) ||
    database.startsWith('.') ||
    database.includes('\0') ||
    SIDE_FILES.some((s) => database.endsWith(s))
  ) {
    throw new BackupError(
      'invalid',
      `'${database}' is not a SQLite database file name: give the file's name inside folder ${conn.host}`,
      { code: 'DatabaseNotFound' },
    );
  }
  return path.resolve(conn.host, database);
}

async function checkFolder(conn: ServerConnection): Promise<string> {
  const folder = path.resolve(conn.host);
  const s = await stat(folder).catch(() => undefined);
  if (!s?.isDirectory()) {
    throw new BackupError(
      'invalid',
      `folder ${folder} of this SQLite server does not exist at the site: fix the server's folder in the site configuration`,
      { code: 'FolderNotFound' },
    );
  }
  return folder;
}

/** The database's path, after proving the folder and the file are there. */
async function existingDb(conn: ServerConnection, database: string): Promise<string> {
  const file = dbPath(conn, database);
  await checkFolder(conn);
  const s = await stat(file).catch(() => undefined);
  if (!s?.isFile()) {
    throw new BackupError(
      'invalid',
      `database '${database}' does not exist in folder ${path.resolve(conn.host)}: fix the database list of the backup configuration`,
      { code: 'DatabaseNotFound' },
    );
  }
  return file;
}

export function classifySqliteError(err: unknown, database: string): BackupError {
  if (err instanceof BackupError) return err;
  const e = err as { errcode?: number; errstr?: string; message?: string };
  const message = e.message ?? String(err);
  switch ((e.errcode ?? -1) & 0xff) {
    case 5: // BUSY
    case 6: // LOCKED
      return new BackupError('unavailable', `SQLite database '${database}' is locked by another process: ${message}`);
    case 26: // NOTADB
      return new BackupError('invalid', `'${database}' is not a SQLite database`, { code: 'NotADatabase' });
    case 11: // CORRUPT
      return new BackupError('invalid', `SQLite database '${database}' is damaged: ${message}`, {
        code: 'DatabaseCorrupt',
      });
    case 3: // PERM
    case 8: // READONLY
    case 14: // CANTOPEN
    case 23: // AUTH
      return new BackupError(
        'invalid',
        `the site worker may not use SQLite database '${database}': ${message}. Check the file's and folder's permissions`,
        { code: 'PermissionDenied' },
      );
    case 19: // CONSTRAINT
      return new BackupError('invalid', `SQLite database '${database}': ${message}`, { code: 'ConstraintViolation' });
  }
  return new BackupError('unavailable', `SQLite database '${database}': ${message}`);
}

/**
 * Opens the database for a quick look at its catalogue; anything that reads or writes rows goes to `offThread`.
 * A read-write handle made query-only: a read-only one cannot remove the -wal and -shm files of a WAL database when
 * it closes, and would leave them behind in the application's folder.
 */
export function readDb<T>(file: string, database: string, fn: (db: DatabaseSync) => T): T {
  let db: DatabaseSync | undefined;
  try {
    db = new DatabaseSync(file, { timeout: BUSY_TIMEOUT_MS });
    db.exec('PRAGMA query_only = ON');
    return fn(db);
  } catch (err) {
    throw classifySqliteError(err, database);
  } finally {
    db?.close();
  }
}

/** One statement for `offThread`: `changes` and `rows` say what to return for it, anything else runs as a script. */
interface Step {
  sql: string;
  params?: SQLInputValue[];
  want?: 'changes' | 'rows';
}

// The answer is posted only after the database is closed: the caller's next statement must not meet our lock.
const STEP_RUNNER = `
const { workerData, parentPort } = require('node:worker_threads');
const { DatabaseSync } = require('node:sqlite');
let db;
let answer;
try {
  db = new DatabaseSync(workerData.file, { timeout: workerData.timeout });
  if (workerData.readOnly) db.exec('PRAGMA query_only = ON');
  const results = workerData.steps.map((s) =>
    s.want === 'changes' ? Number(db.prepare(s.sql).run(...(s.params || [])).changes)
      : s.want === 'rows' ? db.prepare(s.sql).all(...(s.params || [])).map((r) => ({ ...r }))
        : db.exec(s.sql));
  answer = { results };
} catch (e) {
  answer = { error: { message: e.message, errcode: e.errcode, errstr: e.errstr } };
  try { if (db && db.isTransaction) db.exec('ROLLBACK'); } catch {}
} finally {
  try { if (db) db.close(); } catch {}
}
parentPort.postMessage(answer);`;

/**
 * Runs statements on a thread of their own. DatabaseSync blocks its thread while a statement runs, and a DELETE or
 * VACUUM on a big file would otherwise stop every activity of the site worker, heartbeats included.
 */
function offThread(
  file: string,
  database: string,
  steps: Step[],
  opts: { readOnly?: boolean } = {},
): Promise<unknown[]> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(STEP_RUNNER, {
      eval: true,
      workerData: { file, steps, timeout: BUSY_TIMEOUT_MS, readOnly: opts.readOnly ?? false },
    });
    let answered = false;
    worker.once('message', (m: { results?: unknown[]; error?: { message: string; errcode?: number } }) => {
      answered = true;
      if (m.error) reject(classifySqliteError(Object.assign(new Error(m.error.message), m.error), database));
      else resolve(m.results ?? []);
    });
    worker.once('error', (e) => reject(classifySqliteError(e, database)));
    worker.once('exit', (code) => {
      if (!answered)
        reject(
          new BackupError('unavailable', `SQLite database '${database}': the statement thread ended with code ${code}`),
        );
    });
  });
}

function userTables(db: DatabaseSync): string[] {
  return db
    .prepare(
      String.raw`SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite\_%' ESCAPE '\' ORDER BY name`,
    )
    .all()
    .map((r) => String(r.name));
}

/** `name` or `main.name`; SQLite compares identifiers without regard to case. */
function matchTable(all: string[], table: string, database: string): string {
  const bare =
    table.toLowerCase().startsWith('main.') && !all.some((t) => t.toLowerCase() === table.toLowerCase())
      ? table.slice(5)
      : table;
  const unquoted =
    bare.length > 1 && bare.startsWith('"') && bare.endsWith('"') ? bare.slice(1, -1).replaceAll('""', '"') : bare;
  const found = all.find((t) => t.toLowerCase() === unquoted.toLowerCase());
  if (!found)
    throw new BackupError(
      'invalid',
      `table '${table}' does not exist in database '${database}': fix the tables of the backup configuration`,
      { code: 'TableNotFound' },
    );
  return found;
}

/** Refuses when a table outside `names` references one of them: emptying them would break or cascade into it. */
function checkNotReferenced(db: DatabaseSync, names: string[], database: string): void {
  const lower = new Set(names.map((n) => n.toLowerCase()));
  const outside: string[] = [];
  for (const t of userTables(db)) {
    if (lower.has(t.toLowerCase())) continue;
    for (const fk of db.prepare(`PRAGMA foreign_key_list(${quoteIdent(t)})`).all()) {
      if (lower.has(String(fk.table).toLowerCase())) outside.push(`${t} → ${String(fk.table)}`);
    }
  }
  if (outside.length > 0) {
    throw new BackupError(
      'invalid',
      `cannot empty tables in '${database}': other tables reference them (${[...new Set(outside)].join(', ')}). Empty the referencing tables too, or delete old rows instead`,
      { code: 'ForeignKeyViolation' },
    );
  }
}

/**
 * Statements that empty tables without running their DELETE triggers (TRUNCATE does not run them either): the
 * triggers are dropped and re-created inside the caller's transaction.
 */
function emptyingSteps(db: DatabaseSync, names: string[]): Step[] {
  const steps: Step[] = [];
  for (const name of names) {
    const triggers = db
      .prepare(`SELECT name, sql FROM sqlite_schema WHERE type = 'trigger' AND tbl_name = ? COLLATE NOCASE`)
      .all(name);
    for (const t of triggers) steps.push({ sql: `DROP TRIGGER ${quoteIdent(String(t.name))}` });
    steps.push({ sql: `DELETE FROM ${quoteIdent(name)}`, want: 'changes' });
    for (const t of triggers) steps.push({ sql: String(t.sql) });
  }
  return steps;
}

const sumChanges = (results: unknown[], steps: Step[]) =>
  results.reduce<number>((sum, r, i) => sum + (steps[i]!.want === 'changes' ? Number(r) : 0), 0);

const removeWithSideFiles = (file: string) =>
  Promise.all([file, ...SIDE_FILES.map((s) => file + s)].map((f) => rm(f, { force: true })));

const sqliteVersion = () => {
  const db = new DatabaseSync(':memory:');
  try {
    return String(db.prepare('SELECT sqlite_version() AS v').get()!.v);
  } finally {
    db.close();
  }
};

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

  /** A consistent copy of the live file; left-out tables are emptied in the copy and VACUUM drops their old pages. */
  dump(conn, database, { excludeTableData, filter }): DumpStream {
    return producedDump(async (out, signal) => {
      const file = await existingDb(conn, database);
      const dir = await mkdtemp(path.join(os.tmpdir(), 'bp-sqlite-'));
      try {
        const copy = path.join(dir, 'copy.sqlite');
        let source: DatabaseSync | undefined;
        try {
          source = new DatabaseSync(file, { timeout: BUSY_TIMEOUT_MS });
          source.exec('PRAGMA query_only = ON');
          await backup(source, copy, { rate: ALL_PAGES });
        } catch (err) {
          throw classifySqliteError(err, database);
        } finally {
          source?.close();
        }
        signal.throwIfAborted();
        if (excludeTableData.length > 0) {
          const emptying = readDb(copy, database, (db) => {
            const all = userTables(db);
            return emptyingSteps(
              db,
              excludeTableData.map((t) => matchTable(all, t, database)),
            );
          });
          // Foreign keys off, so emptying a table cannot cascade into the rows of tables that are kept.
          await offThread(copy, database, [
            { sql: 'PRAGMA foreign_keys = OFF' },
            { sql: 'BEGIN' },
            ...emptying,
            { sql: 'COMMIT' },
            { sql: 'VACUUM' },
          ]);
        }
        await pipeline(createReadStream(copy, { highWaterMark: 1 << 20 }), out, { end: false, signal });
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    }, filter);
  },

  /**
   * The file is written next to the target under a hidden name and checked. A new database is then renamed into
   * place in one step; an existing one is overwritten page by page through SQLite's backup, which takes the
   * database's locks, so a process that has it open is not left reading a replaced file.
   */
  async restore(conn, database, input, { into, signal }) {
    // Replacing needs nothing apart: the new file is written and checked beside the old one, which is overwritten
    // page by page (under its lock) only then.
    const create = into === 'new';
    const file = dbPath(conn, database);
    const folder = await checkFolder(conn);
    const exists = (await stat(file).catch(() => undefined)) !== undefined;
    if (create && exists) {
      throw new BackupError(
        'conflict',
        `database '${database}' already exists in folder ${folder}: restore into a new name or into the existing database`,
        { code: 'DatabaseExists' },
      );
    }
    if (!create && !exists) {
      throw new BackupError('invalid', `database '${database}' does not exist in folder ${folder}`, {
        code: 'DatabaseNotFound',
      });
    }
    const temp = path.join(folder, `.${database}.restore-${randomUUID().slice(0, 8)}`);
    try {
      await pipeline(input, createWriteStream(temp, { flags: 'wx', flush: true }), { signal });
      const head = Buffer.alloc(MAGIC.length);
      const fd = await open(temp, 'r');
      try {
        await fd.read(head, 0, head.length, 0);
      } finally {
        await fd.close();
      }
      if (!head.equals(MAGIC))
        throw new BackupError('invalid', `the file to restore into '${database}' is not a SQLite database`, {
          code: 'BadDumpFile',
        });
      const [rows] = await offThread(temp, database, [{ sql: 'PRAGMA quick_check', want: 'rows' }], { readOnly: true });
      const check = (rows as Record<string, unknown>[]).map((r) => String(Object.values(r)[0]));
      if (check.join() !== 'ok')
        throw new BackupError(
          'invalid',
          `the SQLite file to restore into '${database}' is damaged: ${check.slice(0, 3).join('; ')}`,
          { code: 'BadDumpFile' },
        );
      if (!exists) {
        await rename(temp, file);
        await fsyncDir(folder);
        return;
      }
      let source: DatabaseSync | undefined;
      try {
        source = new DatabaseSync(temp, { timeout: BUSY_TIMEOUT_MS });
        await backup(source, file, { rate: ALL_PAGES });
      } catch (err) {
        throw classifySqliteError(err, database);
      } finally {
        source?.close();
      }
    } finally {
      await removeWithSideFiles(temp);
    }
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
