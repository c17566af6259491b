// The engines' child-process plumbing: finding a tool, running it with its stderr kept for the failure message,
// and filters (zstd) joined to a tool over OS pipes so the dump's bytes need not pass through Node.
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants as fsc } from 'node:fs';
import path from 'node:path';
import { PassThrough, type Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { BackupError } from '../../common/errors.ts';
import type { StreamFilter } from './engine.ts';

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
export function stderrTail(child: ChildProcess): () => string {
  let tail = '';
  child.stderr!.on('data', (d: Buffer) => (tail = (tail + d.toString()).slice(-8000)));
  return () => tail;
}

/** What a tool said on stderr or, when it said nothing, how it ended. */
export const failureText = (cmd: string, said: string, code: number | null, sig: NodeJS.Signals | null) =>
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
