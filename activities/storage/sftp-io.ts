// File operations of an SFTP destination on an open channel: a put that resumes its `.<name>.partial` file and renames
// it over the final name, reads with several requests in flight, and listing a folder tree.
import path from 'node:path/posix';
import { Readable } from 'node:stream';
import type { SFTPWrapper, Stats } from 'ssh2';
import { invalid } from '../../common/errors.ts';
import { sizeMismatch } from './failures.ts';
import type { Call, SftpConnection } from './sftp-session.ts';
import {
  isWorkFile,
  joinKey,
  partialName,
  type PutOptions,
  type PutReport,
  type PutSource,
  type StoredObject,
} from './storage.ts';

/** SFTP status codes (draft-ietf-secsh-filexfer-02) that change what we do. */
export const NO_SUCH_FILE = 2;
export const PERMISSION_DENIED = 3;

/** Bytes per write or read request, and requests kept in flight: latency, not bandwidth, bounds a single request. */
const IO_CHUNK = 64 * 1024;
const IO_DEPTH = 8;
/**
 * A write that was in flight when an upload died may have landed while an earlier one did not (a server is free to
 * reorder), so a partial file is trusted only up to its size minus what can be in flight.
 */
const RESUME_MARGIN = IO_CHUNK * IO_DEPTH;

export const statusOf = (err: unknown) => (err as { code?: unknown }).code;

export async function statOrUndefined(call: Call, sftp: SFTPWrapper, p: string): Promise<Stats | undefined> {
  return call<Stats>((cb) => sftp.stat(p, cb)).catch((err: unknown) => {
    if (statusOf(err) === NO_SUCH_FILE) return undefined;
    throw err;
  });
}

async function mkdirp(call: Call, sftp: SFTPWrapper, dir: string, where: string): Promise<void> {
  const s = await statOrUndefined(call, sftp, dir);
  if (!s) {
    const parent = path.dirname(dir);
    if (parent !== dir) await mkdirp(call, sftp, parent, where);
    await call<void>((cb) => sftp.mkdir(dir, cb)).catch(async (err: unknown) => {
      // Another upload may have made it in the meantime.
      if (!(await statOrUndefined(call, sftp, dir))?.isDirectory()) throw err;
    });
  } else if (!s.isDirectory()) {
    throw invalid(`${where}: ${dir} is a file, not a folder`);
  }
}

/**
 * A target already there at the source's size is a finished earlier put: nothing is sent. Otherwise writes
 * `.<name>.partial` beside it (resuming one an earlier attempt left, less what may not have landed), makes it
 * durable, then renames it over `target`.
 */
export async function upload(
  conn: SftpConnection,
  sftp: SFTPWrapper,
  target: string,
  source: PutSource,
  put: PutOptions,
  where: string,
): Promise<PutReport> {
  const { call, callExtension } = conn;
  const existing = await statOrUndefined(call, sftp, target);
  if (existing?.isFile() && existing.size === source.size) {
    put.onProgress?.(source.size);
    return { bytesSent: 0, resumedFrom: source.size };
  }
  const dir = path.dirname(target);
  const partial = path.join(dir, partialName(path.basename(target)));
  await mkdirp(call, sftp, dir, where);
  const held = await statOrUndefined(call, sftp, partial);
  const resumedFrom = held?.isFile() && held.size <= source.size ? Math.max(0, held.size - RESUME_MARGIN) : 0;
  const handle = await call<Buffer>((cb) => sftp.open(partial, resumedFrom > 0 ? 'r+' : 'w', cb));
  if (resumedFrom > 0) put.onProgress?.(resumedFrom);

  let position = resumedFrom;
  let stored = resumedFrom;
  let failure: { err: unknown } | undefined;
  const inflight = new Set<Promise<void>>();
  const body = source.open(resumedFrom);
  try {
    for await (const chunk of body as AsyncIterable<Buffer>) {
      for (let off = 0; off < chunk.length; off += IO_CHUNK) {
        const piece = chunk.subarray(off, off + IO_CHUNK);
        if (position + piece.length > source.size) throw sizeMismatch(source.size, position + piece.length);
        while (inflight.size >= IO_DEPTH) await Promise.race(inflight);
        if (failure) throw failure.err;
        put.signal?.throwIfAborted();
        const at = position;
        position += piece.length;
        const p: Promise<void> = call<void>((cb) => sftp.write(handle, piece, 0, piece.length, at, cb))
          .then(
            () => put.onProgress?.((stored += piece.length)),
            (err: unknown) => {
              failure ??= { err };
            },
          )
          .finally(() => inflight.delete(p));
        inflight.add(p);
      }
    }
    await Promise.all(inflight);
    if (failure) throw failure.err;
    if (position !== source.size) throw sizeMismatch(source.size, position);
    // Durable before it takes the final name; servers without the extension get only the close.
    await callExtension((cb) => sftp.ext_openssh_fsync(handle, cb));
  } finally {
    body.destroy();
    await Promise.allSettled([...inflight]);
    await call<void>((cb) => sftp.close(handle, cb)).catch(() => {});
  }
  if (!(await callExtension((cb) => sftp.ext_openssh_rename(partial, target, cb)))) {
    // Plain SFTP rename refuses to replace a file: remove the old one first (a short window without it).
    await call<void>((cb) => sftp.unlink(target, cb)).catch((e: unknown) => {
      if (statusOf(e) !== NO_SUCH_FILE) throw e;
    });
    await call<void>((cb) => sftp.rename(partial, target, cb));
  }
  return { bytesSent: position - resumedFrom, resumedFrom };
}

/** Opens a remote file for reading from `start`; a read stopped by `signal` ends with the signal's reason. */
export async function readRemote(
  call: Call,
  sftp: SFTPWrapper,
  file: string,
  get: { start?: number; signal?: AbortSignal },
  missing: () => Error,
): Promise<Readable> {
  const handle = await call<Buffer>((cb) => sftp.open(file, 'r', cb)).catch((err: unknown) => {
    throw statusOf(err) === NO_SUCH_FILE ? missing() : err;
  });
  const body = readAhead(sftp, handle, get.start ?? 0, call);
  if (get.signal) {
    const signal = get.signal;
    const onAbort = () => body.destroy(signal.reason as Error);
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
    body.once('close', () => signal.removeEventListener('abort', onAbort));
  }
  return body;
}

/** Deleting a file that is already gone succeeds. */
export async function removeRemote(call: Call, sftp: SFTPWrapper, file: string): Promise<void> {
  await call<void>((cb) => sftp.unlink(file, cb)).catch((err: unknown) => {
    if (statusOf(err) !== NO_SUCH_FILE) throw err;
  });
}

/** Every file under `folder` (relative to `base`), recursively, work files left out. */
export async function listTree(call: Call, sftp: SFTPWrapper, base: string, folder: string): Promise<StoredObject[]> {
  const out: StoredObject[] = [];
  const walk = async (rel: string): Promise<void> => {
    const dir = rel ? path.join(base, rel) : base;
    const entries = await call<{ filename: string; attrs: Stats }[]>((cb) => sftp.readdir(dir, cb)).catch(
      (err: unknown) => {
        if (statusOf(err) === NO_SUCH_FILE) return [];
        throw err;
      },
    );
    for (const e of entries) {
      if (e.filename === '.' || e.filename === '..') continue;
      const key = joinKey(rel, e.filename);
      if (e.attrs.isDirectory()) await walk(key);
      else if (e.attrs.isFile() && !isWorkFile(key))
        out.push({ key, size: e.attrs.size, modifiedAt: new Date(e.attrs.mtime * 1000) });
    }
  };
  await walk(folder);
  return out;
}

/** Reads a remote file from `start` with several requests in flight, in order; a short answer is followed up. */
export function readAhead(sftp: SFTPWrapper, handle: Buffer, start: number, call: Call): Readable {
  let next = start;
  let ended = false;
  const queue: Promise<Buffer>[] = [];

  const readAt = async (position: number, length: number): Promise<Buffer> => {
    const buf = Buffer.allocUnsafe(length);
    let have = 0;
    while (have < length) {
      const n = await call<number>((cb) => sftp.read(handle, buf, have, length - have, position + have, cb));
      if (!n) break; // end of file
      have += n;
    }
    return buf.subarray(0, have);
  };
  const fill = () => {
    while (!ended && queue.length < IO_DEPTH) {
      const p = readAt(next, IO_CHUNK);
      p.catch(() => {}); // awaited in order below; a rejection of a request after the end is of no interest
      queue.push(p);
      next += IO_CHUNK;
    }
  };

  return new Readable({
    highWaterMark: IO_CHUNK * IO_DEPTH,
    read() {
      fill();
      const head = queue.shift()!;
      head.then(
        (buf) => {
          if (buf.length > 0) this.push(buf);
          if (buf.length < IO_CHUNK) {
            ended = true;
            this.push(null);
          }
        },
        (err: unknown) => this.destroy(err as Error),
      );
    },
    destroy(err, cb) {
      ended = true;
      Promise.allSettled(queue)
        .then(() => call<void>((c) => sftp.close(handle, c)))
        .catch(() => {})
        .finally(() => cb(err));
    },
  });
}
