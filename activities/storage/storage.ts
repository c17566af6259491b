// One storage interface for every place an off-site copy can live: a local folder, Azure Blob, an SFTP host.
// Keys are `/`-separated relative paths (`<tenant>/<site>/<server>/<database>/<file>`); each backend maps them.
// Objects whose file name starts with `.` are the backends' own work files (partial uploads, write probes):
// `list` leaves them out.
import { createHash, randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { PassThrough, Readable, Transform, pipeline } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { BackupError, invalid } from '../../common/errors.ts';

export interface StoredObject {
  key: string;
  size: number;
  modifiedAt: Date | undefined;
}

/** Where the bytes of an upload come from: re-openable at a byte offset, so a resumed upload skips what is stored. */
export interface PutSource {
  size: number;
  open(start: number): Readable;
  /**
   * Exactly `length` bytes from `start`, a new stream on every call; it fails if the source has fewer. A source that
   * can only be read in order (another storage's download) leaves it out. A backend that sends an object in pieces
   * uses it to stream each piece straight from the source, several at once, without holding them in memory.
   */
  slice?(start: number, length: number): Readable;
}

export interface PutOptions {
  signal?: AbortSignal;
  /** Called as bytes are confirmed stored (for heartbeats); counts bytes skipped because already stored. */
  onProgress?: (bytesDone: number) => void;
}

export interface PutReport {
  /** Bytes sent over the wire by this call. */
  bytesSent: number;
  /** Bytes skipped because the destination already held them (the whole size when the object was complete). */
  resumedFrom: number;
}

export interface Storage {
  readonly kind: 'local' | 'azure' | 'sftp';
  /** Where a key lives, for history rows and logs; never contains a secret. e.g. azure://account/container/key */
  locationOf(key: string): string;
  put(key: string, source: PutSource, opts?: PutOptions): Promise<PutReport>;
  /** Throws a `not_found` BackupError when the object is absent. */
  get(key: string, opts?: { start?: number; signal?: AbortSignal }): Promise<Readable>;
  stat(key: string): Promise<StoredObject | undefined>;
  /** Every object under the folder `prefix` (`''` for all, trailing `/` optional), recursively, sorted by key. */
  list(prefix: string): Promise<StoredObject[]>;
  /** No error if absent. */
  delete(key: string): Promise<void>;
  /** Checks it can write: writes, reads back and deletes a small probe object under `prefix`. */
  probeWritable(prefix: string): Promise<void>;
  close(): Promise<void>;
}

/** Keys come from our own names; anything that could climb out of the storage root is refused. */
export function checkKey(key: string): string {
  const segments = key.split('/');
  if (!key || key.includes('\0') || key.includes('\\') || segments.some((s) => s === '' || s === '.' || s === '..')) {
    throw invalid(
      `bad storage key '${key}': use a relative path of non-empty names separated by '/', without '.' or '..'`,
    );
  }
  return key;
}

/** A folder prefix for `list`/`probeWritable`: `''` (the whole storage) or a key, with or without a trailing `/`. */
export function checkPrefix(prefix: string): string {
  const trimmed = prefix.endsWith('/') ? prefix.slice(0, -1) : prefix;
  return trimmed === '' ? '' : checkKey(trimmed);
}

export const joinKey = (prefix: string, name: string) => (prefix ? `${prefix}/${name}` : name);

export const isWorkFile = (key: string) => (key.split('/').pop() ?? '').startsWith('.');

/** The name an upload is written under until it is complete, in the same folder as the final name. */
export const partialName = (fileName: string) => `.${fileName}.partial`;

/** Reads an object back end to end: the check that what is stored is what was sent. */
export async function hashObject(
  storage: Storage,
  key: string,
  signal?: AbortSignal,
): Promise<{ size: number; sha256: string }> {
  const hash = createHash('sha256');
  let size = 0;
  const body = await storage.get(key, signal ? { signal } : {});
  try {
    for await (const chunk of body) {
      signal?.throwIfAborted();
      size += (chunk as Buffer).length;
      hash.update(chunk as Buffer);
    }
  } finally {
    body.destroy();
  }
  return { size, sha256: hash.digest('hex') };
}

export function fileSource(path: string, size: number): PutSource {
  const read = (start: number, end: number) => createReadStream(path, { start, end, highWaterMark: 1 << 20 });
  return {
    size,
    // Bounded by the declared size: bytes appended after the hash was taken are not part of this backup.
    open: (start) => (start >= size ? Readable.from([]) : read(start, size - 1)),
    slice: (start, length) => {
      let got = 0;
      const counted = new Transform({
        transform(chunk: Buffer, _enc, cb) {
          got += chunk.length;
          cb(null, chunk);
        },
        flush(cb) {
          cb(got === length ? null : sizeMismatch(size, start + got));
        },
      });
      return length === 0 ? Readable.from([]) : pipeline(read(start, start + length - 1), counted, () => {});
    },
  };
}

export function bufferSource(data: Buffer): PutSource {
  return { size: data.length, open: (start) => Readable.from([data.subarray(start)]) };
}

/** Copies one stored object to another storage: `open` must answer at once, so the stream is fed when `get` answers. */
export function storageSource(storage: Storage, key: string, size: number): PutSource {
  return {
    size,
    open(start) {
      const out = new PassThrough({ highWaterMark: 1 << 20 });
      storage.get(key, { start }).then(
        (body) => {
          if (out.destroyed) body.destroy();
          else pipeline(body, out, () => {}); // an error destroys `out` with it, which is how the reader learns of it
        },
        (err: unknown) => out.destroy(err as Error),
      );
      return out;
    },
  };
}

/**
 * A bandwidth limit (a destination's, so a nightly copy does not fill the site's link). Joined with `pipeline`, not
 * `pipe`: an error of the source (another storage's read failing) reaches the reader instead of going uncaught.
 */
export function throttled(source: PutSource, bytesPerSecond: number | undefined): PutSource {
  if (!bytesPerSecond) return source;
  return { size: source.size, open: (start) => pipeline(source.open(start), pace(bytesPerSecond), () => {}) };
}

/** Passes bytes on no faster than the given rate, in slices, so a large read does not arrive as one late lump. */
export function pace(bytesPerSecond: number): Transform {
  const began = Date.now();
  const slice = Math.max(1024, Math.min(64 * 1024, Math.floor(bytesPerSecond / 10)));
  let passed = 0;
  return new Transform({
    async transform(chunk: Buffer, _enc, cb) {
      try {
        for (let at = 0; at < chunk.length; at += slice) {
          const part = chunk.subarray(at, at + slice);
          passed += part.length;
          await sleep(Math.max(0, began + (passed / bytesPerSecond) * 1000 - Date.now()));
          this.push(part);
        }
        cb();
      } catch (e) {
        cb(e as Error);
      }
    },
  });
}

/** The write check every backend shares: a small object under `prefix`, read back byte for byte, then removed. */
export async function probeWith(storage: Storage, prefix: string): Promise<void> {
  const key = joinKey(checkPrefix(prefix), `.probe-${randomUUID()}`);
  const data = Buffer.from(`backup platform write probe ${new Date().toISOString()}\n`);
  await storage.put(key, bufferSource(data));
  try {
    const back = await hashObject(storage, key);
    if (back.sha256 !== createHash('sha256').update(data).digest('hex')) {
      throw new BackupError('unavailable', `${storage.locationOf(key)} returned other bytes than were written`);
    }
  } finally {
    await storage.delete(key);
  }
}

/** The source gave more or fewer bytes than it declared: the file changed under us, a retry reads it afresh. */
export function sizeMismatch(declared: number, actual: number): BackupError {
  return invalid(`the upload source gave ${actual} bytes where ${declared} were declared: did the file change?`);
}

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EPIPE',
  'ECONNABORTED',
]);

/** Errors that say the other side could not be reached or went away: worth a retry later. */
export function isNetworkError(err: unknown): boolean {
  let e: unknown = err;
  for (let depth = 0; e && depth < 4; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && NETWORK_CODES.has(code)) return true;
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}

/** After an abort the caller's own reason is what it should see, not whichever library error the abort caused. */
export function rethrowIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw signal.reason;
}
