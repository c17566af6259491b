// The SQLite dump and restore are copies of the database file: taken consistently while the application keeps using
// it, and put back only once the restored file has been checked beside the target.
import { randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, open, rename, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { backup, DatabaseSync } from 'node:sqlite';
import { BackupError } from '../../common/errors.ts';
import type { ServerConnection } from '../site-config.ts';
import { diskFault, diskFull } from '../disk-faults.ts';
import { fsyncDir } from '../fsync.ts';
import type { RestoreInto } from './engine.ts';
import {
  BUSY_TIMEOUT_MS,
  checkFolder,
  classifySqliteError,
  dbPath,
  emptyingSteps,
  existingDb,
  MAGIC,
  matchTable,
  offThread,
  readDb,
  removeWithSideFiles,
  userTables,
} from './sqlite-db.ts';

/** Whole database in one backup step: one read transaction, so writers elsewhere cannot make it start over. */
const ALL_PAGES = 0x7fffffff;

/** A consistent copy of the live file; left-out tables are emptied in the copy and VACUUM drops their old pages. */
export async function copyDatabase(
  conn: ServerConnection,
  database: string,
  excludeTableData: string[],
  out: Writable,
  signal: AbortSignal,
): Promise<void> {
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
  } catch (err) {
    // The consistent copy is made in the worker's temporary folder: a full one is named, and TMPDIR is the way out.
    if (!(err instanceof BackupError && err.details.code === 'DiskFull')) throw err;
    await rm(dir, { recursive: true, force: true });
    throw await diskFull(
      { folder: os.tmpdir(), otherwise: 'set TMPDIR of the site worker to a folder on a disk with room' },
      'SQLITE_FULL',
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * The file is written next to the target under a hidden name and checked. A new database is then renamed into
 * place in one step; an existing one is overwritten page by page through SQLite's backup, which takes the
 * database's locks, so a process that has it open is not left reading a replaced file.
 */
export async function restoreDatabase(
  conn: ServerConnection,
  database: string,
  input: Readable,
  { into, signal }: { into: RestoreInto; signal?: AbortSignal },
): Promise<void> {
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
    await pipeline(input, createWriteStream(temp, { flags: 'wx', flush: true }), { signal }).catch(async (err) => {
      await removeWithSideFiles(temp);
      const otherwise = `restore into a server whose folder has room and is writable`;
      throw (await diskFault(err, { folder, otherwise })) ?? err;
    });
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
}
