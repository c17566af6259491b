// One interface per database engine. An engine knows its dump and restore tools and its catalogue; the activities
// own the pipeline (compression, hashing, files), so a new engine (MongoDB, SQL Server) is one small file.
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants as fsc } from 'node:fs';
import path from 'node:path';
import { PassThrough, type Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { BackupError } from '../../common/errors.ts';
import type { Engine, TableCount } from '../../common/model.ts';
import { DEFAULT_LOCK_TIMEOUT_SECONDS, type ServerConnection } from '../site-config.ts';

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
  restore(
    conn: ServerConnection,
    database: string,
    input: Readable,
    opts: { into: RestoreInto; signal?: AbortSignal },
  ): Promise<void>;
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

/** The first of `names` found on PATH; a missing tool is then reported before anything starts. */
export function findTool(names: string[]): string | undefined {
  for (const name of names) {
    if (name.includes('/')) return name;
    for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
      if (!dir) continue;
      try {
        accessSync(path.join(dir, name), fsc.X_OK);
        return path.join(dir, name);
      } catch {
        // not in this folder
      }
    }
  }
  return undefined;
}

export const toolMissing = (names: string, hint: string, code = 'DumpToolMissing') =>
  new BackupError('invalid', `cannot find ${names} on the site worker's PATH. ${hint}`, { code });

/** How a tool is started. Secrets go in `env` or in files named by `args`, never in `args` themselves. */
export interface ToolRun {
  cmd: string;
  args: string[];
  env: NodeJS.ProcessEnv;
}

/** Turns a tool's stderr (or its exit status, when it printed nothing) into what the admin must do. */
export type Classify = (message: string) => BackupError;

/** Keeps the last 8,000 characters a child prints on stderr: what its failure is explained with. */
function stderrTail(child: ChildProcess): () => string {
  let tail = '';
  child.stderr!.on('data', (d: Buffer) => (tail = (tail + d.toString()).slice(-8000)));
  return () => tail;
}

/** What a tool said on stderr or, when it said nothing, how it ended. */
const failureText = (cmd: string, said: string, code: number | null, sig: NodeJS.Signals | null) =>
  withoutRowData(said) || `${path.basename(cmd)} ended with ${sig ?? `exit code ${code}`}`;

/**
 * A tool's message without the rows' values it may quote: PostgreSQL's DETAIL, CONTEXT and LINE lines (a COPY line,
 * a duplicate key's value), MariaDB's duplicate entry, incorrect value and the statement text after "near". The
 * message goes into Temporal's history, the API and alerts; the backup's data stays in the backup.
 */
export function withoutRowData(said: string): string {
  return said
    .split('\n')
    .filter((line) => !/^\s*(?:[\w-]+:\s+)?(?:DETAIL|CONTEXT|LINE \d+):/.test(line) && !/^\s*\^\s*$/.test(line))
    .join('\n')
    .replace(/(Duplicate entry )'.*?'( for key)/gi, "$1'…'$2")
    .replace(/(Incorrect [\w ]+ value: )'.*?'( for column)/gi, "$1'…'$2")
    .replace(/( near )'[\s\S]*?'( at line \d+)/gi, '$1…$2')
    .replace(/(invalid input (?:syntax|value) for [^:]*:\s*)".*"/gi, '$1"…"');
}

/**
 * A dump whose bytes `produce` writes into one stream. The stream ends whether `produce` succeeds or fails, like a
 * dump tool's stdout would; `done` carries the outcome. A consumer that goes away stops the producer.
 * With a `filter`, `produce` writes into the filter's stdin (tools started by `pipeToolInto` get it as their stdout)
 * and `stdout` is what the filter prints; `done` also waits for the filter to exit cleanly.
 */
export function producedDump(
  produce: (out: Writable, signal: AbortSignal) => Promise<void>,
  filter?: StreamFilter,
): DumpStream {
  const abort = new AbortController();
  let finished = false;
  const stopped = () =>
    new BackupError('unavailable', 'the dump was stopped: its reader went away', { code: 'DumpAborted' });
  let out: Writable;
  let stdout: Readable;
  let filtered: Promise<DumpOutcome> = Promise.resolve({});
  let killFilter = () => {};
  if (filter) {
    const child = spawn(filter.cmd, filter.args, {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { PATH: process.env.PATH ?? '' },
    });
    const stderr = stderrTail(child);
    // A filter that dies early breaks its stdin; its exit status says why.
    child.stdin.on('error', () => {});
    filtered = new Promise<DumpOutcome>((resolve, reject) => {
      child.on('error', (e) => reject(filter.fail(`cannot run ${path.basename(filter.cmd)}: ${e.message}`)));
      child.on('close', (code, sig) => {
        if (code === 0) resolve({ filterMessages: stderr() });
        else
          reject(
            abort.signal.aborted
              ? abort.signal.reason
              : filter.fail(failureText(filter.cmd, stderr().trim(), code, sig)),
          );
      });
    });
    filtered.catch(() =>
      abort.abort(new BackupError('unavailable', 'the dump was stopped: its filter failed', { code: 'DumpAborted' })),
    );
    killFilter = () => child.kill('SIGKILL');
    out = child.stdin;
    stdout = child.stdout;
  } else {
    out = stdout = new PassThrough({ highWaterMark: 1 << 20 });
  }
  stdout.on('close', () => {
    if (!finished) abort.abort(stopped());
  });
  abort.signal.addEventListener('abort', killFilter, { once: true });
  const produced = (async () => {
    try {
      await produce(out, abort.signal);
      if (abort.signal.aborted) throw abort.signal.reason;
    } finally {
      finished = true;
      out.end();
    }
  })();
  // A failed filter is the cause when both fail (the dump tool then only saw its pipe break); a dump tool that fails
  // ends the filter's input early, which the filter takes as a clean end.
  const done = Promise.allSettled([produced, filtered]).then(([p, f]) => {
    if (f.status === 'rejected') throw f.reason;
    if (p.status === 'rejected') throw p.reason;
    return f.value;
  });
  done.catch(() => {}); // observed by the caller; this keeps an early failure from being reported as unhandled
  return {
    stdout,
    done,
    kill: () => abort.abort(new BackupError('unavailable', 'the dump was stopped', { code: 'DumpAborted' })),
  };
}

/**
 * Runs one tool and appends its stdout to `out` (left open for the next pass). When `out` is an OS pipe (a filter's
 * stdin) the tool writes into it directly.
 */
export function pipeToolInto(
  run: ToolRun,
  out: Writable,
  signal: AbortSignal,
  classify: Classify,
  missing: () => BackupError,
): Promise<void> {
  signal.throwIfAborted();
  const direct = !(out instanceof PassThrough);
  // Dump tools write their stdout through stdio in 4 KiB pieces: into a pipe that is a system call and often a
  // wake-up of the reader for every piece (200,000 for 1 GiB). coreutils' stdbuf gives them a 1 MiB buffer instead.
  const stdbuf = direct ? findTool(['stdbuf']) : undefined;
  const [cmd, args] = stdbuf ? [stdbuf, ['-o1M', run.cmd, ...run.args]] : [run.cmd, run.args];
  return new Promise<void>((resolve, reject) => {
    const child = spawn(cmd, args, { env: run.env, stdio: ['ignore', direct ? out : 'pipe', 'pipe'] });
    const stderr = stderrTail(child);
    if (!direct) child.stdout!.pipe(out, { end: false });
    const onAbort = () => child.kill('SIGTERM');
    signal.addEventListener('abort', onAbort, { once: true });
    child.on('error', (e: NodeJS.ErrnoException) => {
      signal.removeEventListener('abort', onAbort);
      reject(e.code === 'ENOENT' ? missing() : classify(`cannot run ${path.basename(run.cmd)}: ${e.message}`));
    });
    child.on('close', (code, sig) => {
      signal.removeEventListener('abort', onAbort);
      if (!direct) child.stdout!.unpipe(out);
      if (signal.aborted) reject(signal.reason);
      else if (code === 0) resolve();
      else reject(classify(failureText(run.cmd, stderr(), code, sig)));
    });
  });
}

/** The stdout pipes of filters started by `filterInput`: `runTool` gives such a pipe to its tool as stdin. */
const filterPipes = new WeakMap<Readable, { filtered: FilteredInput; start: () => void }>();

/** The error a filter ends with when it was stopped, or its reader went away: the reader's outcome says why. */
const FILTER_STOPPED = 'FilterStopped';
/** Whether a filter's outcome is only that it was stopped: no verdict on the bytes it read. */
export const filterStopped = (e: unknown): boolean => e instanceof BackupError && e.details.code === FILTER_STOPPED;

export interface FilteredInput {
  /** What the filter prints. Given to `runTool` as `input`, the tool reads this pipe itself. */
  stdout: Readable;
  /** Resolves with what the filter printed on stderr once it and its feeding ended cleanly. */
  done: Promise<string>;
  /** Stops the filter (and the reading of its input); harmless once it has ended. */
  kill(): void;
}

/**
 * Runs `filter` over `input` (a decompressor ahead of a restore tool): Node feeds `input` into its stdin, and its
 * stdout is an OS pipe that a tool run by `runTool` reads directly. When both fail, `input`'s own error is the cause
 * (a filter cut off mid-stream fails too); a filter stopped by `kill` or by its reader going away ends with
 * FILTER_STOPPED, not with a verdict on the bytes.
 * The feeding starts only when a reader is there (`runTool` took the pipe, or the stream is read in this process):
 * a filter that wrote everything and exited before then would leave Node to drain its pipe, and the tool nothing.
 */
export function filterInput(input: Readable, filter: StreamFilter): FilteredInput {
  const child = spawn(filter.cmd, filter.args, {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { PATH: process.env.PATH ?? '' },
  });
  const stderr = stderrTail(child);
  let killed = false;
  const stopped = () =>
    new BackupError('unavailable', `${path.basename(filter.cmd)} was stopped before the end of its input`, {
      code: FILTER_STOPPED,
    });
  let feeding: Promise<void> | undefined;
  const start = () => {
    if (feeding) return;
    feeding = pipeline(input, child.stdin);
    feeding.catch(() => {}); // judged in `done`, once the filter has ended
  };
  child.stdout.once('resume', start);
  const exited = new Promise<string>((resolve, reject) => {
    child.on('error', (e) =>
      reject(new BackupError('unavailable', `cannot run ${filter.cmd}: ${e.message}`, { code: 'FilterMissing' })),
    );
    child.on('close', (code, sig) => {
      if (!feeding) input.destroy();
      if (code === 0) resolve(stderr());
      else if (sig === 'SIGPIPE' || (killed && sig === 'SIGKILL')) reject(stopped());
      else reject(filter.fail(failureText(filter.cmd, stderr().trim(), code, sig)));
    });
  });
  const brokenPipe = (e: NodeJS.ErrnoException) =>
    ['EPIPE', 'ERR_STREAM_DESTROYED', 'ERR_STREAM_PREMATURE_CLOSE'].includes(e.code ?? '');
  const done = (async () => {
    const [x] = await Promise.allSettled([exited]);
    const fed = feeding ? (await Promise.allSettled([feeding]))[0] : undefined;
    if (fed?.status === 'rejected' && !brokenPipe(fed.reason)) throw fed.reason;
    if (x.status === 'rejected') throw x.reason;
    if (fed?.status !== 'fulfilled') throw stopped();
    return x.value;
  })();
  done.catch(() => {}); // observed by the caller; this keeps an early failure from being reported as unhandled
  const filtered: FilteredInput = {
    stdout: child.stdout,
    done,
    kill: () => {
      killed = true;
      child.kill('SIGKILL');
    },
  };
  filterPipes.set(child.stdout, { filtered, start });
  return filtered;
}

/**
 * Runs a tool to completion, feeding it `input`, and returns its stdout. When the tool fails its own message is
 * what counts, not the broken pipe its early exit causes on our side.
 */
export function runTool(
  run: ToolRun,
  opts: {
    input?: string | Readable;
    classify: Classify;
    missing: () => BackupError;
    signal?: AbortSignal;
    keepStdout?: boolean;
  },
): Promise<string> {
  opts.signal?.throwIfAborted();
  const piped = opts.input !== undefined && typeof opts.input !== 'string' ? filterPipes.get(opts.input) : undefined;
  return new Promise<string>((resolve, reject) => {
    const child = spawn(run.cmd, run.args, {
      env: run.env,
      stdio: [piped ? piped.filtered.stdout : 'pipe', 'pipe', 'pipe'],
    });
    if (piped) {
      // The tool holds the pipe now; our end closes, so a filter whose reader exits early is stopped, not left blocked.
      piped.filtered.stdout.destroy();
      piped.start();
    } else if (opts.input === undefined) child.stdin!.end();
    const stdout: Buffer[] = [];
    const stderr = stderrTail(child);
    let feedError: Error | undefined;
    let stoppedBy: unknown;
    const stop = (reason: unknown) => {
      if (stoppedBy !== undefined) return;
      stoppedBy = reason;
      child.kill('SIGTERM');
    };
    child.stdout!.on('data', (d: Buffer) => {
      if (opts.keepStdout !== false) stdout.push(d);
    });
    const onAbort = () => stop(opts.signal!.reason);
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    if (typeof opts.input === 'string') {
      child.stdin!.on('error', () => {}); // an early exit is reported from its status below
      child.stdin!.end(opts.input);
    } else if (opts.input && !piped) {
      pipeline(opts.input, child.stdin!).catch((e: NodeJS.ErrnoException) => {
        if (e.code === 'EPIPE' || e.code === 'ERR_STREAM_DESTROYED') return; // the tool exited; its status says why
        feedError = e;
        stop(e);
      });
    }
    child.on('error', (e: NodeJS.ErrnoException) => {
      opts.signal?.removeEventListener('abort', onAbort);
      reject(
        e.code === 'ENOENT' ? opts.missing() : opts.classify(`cannot run ${path.basename(run.cmd)}: ${e.message}`),
      );
    });
    child.on('close', async (code, sig) => {
      opts.signal?.removeEventListener('abort', onAbort);
      let failure: unknown =
        stoppedBy ?? (code !== 0 ? opts.classify(failureText(run.cmd, stderr(), code, sig)) : feedError);
      if (piped) {
        const { filtered } = piped;
        // A tool whose input ended early fails because its filter did: the filter's failure is the cause. A filter
        // stopped after the tool was done reading says nothing about the bytes the tool took.
        if (failure !== undefined) filtered.kill();
        const said = await filtered.done.then(
          () => undefined,
          (e: unknown) => e,
        );
        if (stoppedBy === undefined && said !== undefined && !filterStopped(said)) failure = said;
      }
      if (failure !== undefined) reject(failure);
      else resolve(Buffer.concat(stdout).toString('utf8'));
    });
  });
}
