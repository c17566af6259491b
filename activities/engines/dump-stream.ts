// One dump stream out of whatever produces the dump: a tool's stdout, several tools one after the other, or a copy
// made in this process; with a compressor joined to it over an OS pipe when the site has one.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { PassThrough, type Readable, type Writable } from 'node:stream';
import { BackupError } from '../../common/errors.ts';
import type { DumpOutcome, DumpStream, StreamFilter } from './engine.ts';
import { failureText, stderrTail } from './tools.ts';

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
