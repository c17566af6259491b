// One interface per database engine. An engine knows its dump and restore tools and its catalogue; the activities
// own the pipeline (compression, hashing, files), so a new engine (MongoDB, SQL Server) is one small file. Running the
// tools is in tools.ts and dump-stream.ts.
import type { Readable } from 'node:stream';
import { BackupError } from '../../common/errors.ts';
import type { Engine, TableCount } from '../../common/model.ts';
import { DEFAULT_LOCK_TIMEOUT_SECONDS, type ServerConnection } from '../site-config.ts';
import type { RestoreMark, RestoreOwner } from './restore-mark.ts';

export interface DumpStream {
  /**
   * The dump's bytes, uncompressed, or as the `filter` printed them. Ends early when the dump fails: always check
   * `done` after the last byte.
   */
  stdout: Readable;
  /** Resolves when the dump (and its filter) finished cleanly; rejects with a classified BackupError otherwise. */
  done: Promise<DumpOutcome>;
  kill(): void;
}

export interface DumpOutcome {
  /** What the filter printed on stderr (its summary), when there was one. */
  filterMessages?: string;
}

/**
 * A program bytes go through between Node and a database tool, over OS pipes, so the tool's side of the stream never
 * crosses this process: a compressor the dump tool writes into, a decompressor the restore tool reads from.
 * `fail` classifies its exit.
 */
export interface StreamFilter {
  cmd: string;
  args: string[];
  fail: (message: string) => BackupError;
}

export interface DumpOptions {
  excludeTableData: string[];
  filter?: StreamFilter;
}

/** What a restore writes into: a database it creates, an existing empty one, or one whose tables it replaces. */
export type RestoreInto = 'new' | 'existing' | 'replace';

export interface RestoreOptions {
  into: RestoreInto;
  signal?: AbortSignal;
  /**
   * The restore this is. The database it writes carries its mark, a replacing restore's staging database its tag,
   * and the tool's sessions its tag: a later attempt after a crash finds all three (engines that restore on a server).
   */
  owner?: RestoreOwner;
  /**
   * Keep the dump's owners and privileges (PostgreSQL; its roles were made first from the run's globals). Without it
   * everything restored belongs to the site's login and carries no grants.
   */
  keepOwners?: boolean;
}

/** Where a restore stands in a database, by the mark on it: made by this restore and finished, or not finished. */
export type OwnRestore = 'finished' | 'unfinished' | undefined;

export interface DatabaseEngine {
  readonly name: Engine;
  /** File extension of the dump format: `pgdump`, `sql`, `sqlite`. */
  readonly format: string;
  /** Checks that each table exists and returns names the dump tool takes literally. Also proves the login works. */
  resolveTables(conn: ServerConnection, database: string, tables: string[]): Promise<string[]>;
  dump(conn: ServerConnection, database: string, opts: DumpOptions): DumpStream;
  /**
   * Restores a dump made by `dump()` into `database`, streaming. `new`: the database must not exist yet
   * (`conflict`/DatabaseExists), is created, and is removed again if the restore fails. `existing`: it must exist
   * (and be empty). `replace`: it exists with tables and is replaced; where the engine can, the old one stays as it
   * was until the new one is complete, so a failed restore loses nothing.
   */
  restore(conn: ServerConnection, database: string, input: Readable, opts: RestoreOptions): Promise<void>;
  /** The platform's restore mark on the database, if it has one. */
  readRestoreMark?(conn: ServerConnection, database: string): Promise<RestoreMark | undefined>;
  /** Whether `restoreId` made this database and finished it, by its mark (and, where that proves it, its tables). */
  ownRestore?(conn: ServerConnection, database: string, restoreId: string): Promise<OwnRestore>;
  /**
   * Ends the sessions of an earlier attempt's restore tool (its worker died, the tool lived on): they may finish
   * within `graceMs` where that can complete the restore, then they are stopped. Resolves once none is left.
   */
  endRestoreSessions?(
    conn: ServerConnection,
    tag: string,
    opts: { graceMs: number; signal?: AbortSignal },
  ): Promise<void>;
  /** A complete staging database of a replacing restore takes the target's name; the old target is dropped. */
  swapIn?(conn: ServerConnection, staging: string, database: string): Promise<void>;
  /** User databases, without the server's own (templates, `mysql`, `information_schema`, ...). */
  listDatabases(conn: ServerConnection): Promise<string[]>;
  databaseExists(conn: ServerConnection, database: string): Promise<boolean>;
  /** Whether the database holds any table or view: a restore refuses to write over one that does. */
  hasTables(conn: ServerConnection, database: string): Promise<boolean>;
  /** Removes the database if it exists (restore drills' scratch databases). */
  dropDatabase(conn: ServerConnection, database: string): Promise<void>;
  /** Bytes on disk, as the server reports them. */
  estimateSize(conn: ServerConnection, database: string): Promise<number>;
  serverVersion(conn: ServerConnection): Promise<string>;
  dumpToolVersion(): Promise<string>;
  /**
   * Exact `count(*)` for tables the catalogue says are below `exactBelowRows` (default 100 000), else its estimate
   * (`exact: false`: counting a big table would scan it). Tables as the engine names them: `schema.table` for
   * PostgreSQL, the bare name for MariaDB and SQLite.
   */
  tableRowCounts(conn: ServerConnection, database: string, opts?: { exactBelowRows?: number }): Promise<TableCount[]>;
  /** Empties the tables (all or none found), returning the number of rows removed. */
  truncateTables?(conn: ServerConnection, database: string, tables: string[]): Promise<number>;
  /** Deletes the rows whose `column` is more than `days` days old, in one transaction; returns how many. */
  deleteOlderThan?(
    conn: ServerConnection,
    database: string,
    table: string,
    column: string,
    days: number,
  ): Promise<number>;
}

export const DEFAULT_EXACT_BELOW_ROWS = 100_000;

/** A table lock not granted in time (another session holds the table): worth a retry later. */
export const tableBusy = (database: string, where: string) =>
  new BackupError(
    'unavailable',
    `a table in '${database}' on ${where} is in use by another session and was not granted in time: the run is retried later (lockTimeoutSeconds in the site configuration is how long cleaning tables waits)`,
    { code: 'TableBusy' },
  );

/** Seconds cleaning tables waits for a lock (a connection made without the site configuration gets the default). */
export const lockTimeoutOf = (conn: ServerConnection) => conn.lockTimeoutSeconds ?? DEFAULT_LOCK_TIMEOUT_SECONDS;

export function checkDays(days: number): void {
  if (!Number.isInteger(days) || days < 0)
    throw new BackupError('invalid', `days must be a whole number of at least 0, not ${days}`, { field: 'days' });
}
