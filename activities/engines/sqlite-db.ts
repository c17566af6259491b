// SQLite through node:sqlite: where a database file is, opening it for a look at its catalogue, running statements
// on a thread of their own, finding tables, and what SQLite's error codes mean for the admin.
import { rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { DatabaseSync, type SQLInputValue } from 'node:sqlite';
import { Worker } from 'node:worker_threads';
import { BackupError } from '../../common/errors.ts';
import type { ServerConnection } from '../site-config.ts';

export const MAGIC = Buffer.from('SQLite format 3\0', 'latin1');
export const SIDE_FILES = ['-wal', '-shm', '-journal'];
export const BUSY_TIMEOUT_MS = 10_000;

export const quoteIdent = (s: string) => `"${s.replaceAll('"', '""')}"`;

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

export async function checkFolder(conn: ServerConnection): Promise<string> {
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
export async function existingDb(conn: ServerConnection, database: string): Promise<string> {
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
    case 13: // FULL: no retry fills a disk less full; the caller names the folder where it knows it
      return new BackupError('invalid', `SQLite database '${database}': the disk is full (SQLITE_FULL): ${message}`, {
        code: 'DiskFull',
      });
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
export interface Step {
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
export function offThread(
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

export function userTables(db: DatabaseSync): string[] {
  return db
    .prepare(
      String.raw`SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite\_%' ESCAPE '\' ORDER BY name`,
    )
    .all()
    .map((r) => String(r.name));
}

/** `name` or `main.name`; SQLite compares identifiers without regard to case. */
export function matchTable(all: string[], table: string, database: string): string {
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
export function checkNotReferenced(db: DatabaseSync, names: string[], database: string): void {
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
export function emptyingSteps(db: DatabaseSync, names: string[]): Step[] {
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

export const sumChanges = (results: unknown[], steps: Step[]) =>
  results.reduce<number>((sum, r, i) => sum + (steps[i]!.want === 'changes' ? Number(r) : 0), 0);

export const removeWithSideFiles = (file: string) =>
  Promise.all([file, ...SIDE_FILES.map((s) => file + s)].map((f) => rm(f, { force: true })));

export const sqliteVersion = () => {
  const db = new DatabaseSync(':memory:');
  try {
    return String(db.prepare('SELECT sqlite_version() AS v').get()!.v);
  } finally {
    db.close();
  }
};
