// One storage interface for every place an off-site copy can live: a local folder, Azure Blob, S3, an SFTP host.
// Keys are `/`-separated relative paths (`<tenant>/<site>/<server>/<database>/<file>`); each backend maps them.
// Objects whose file name starts with `.` are the backends' own work files (partial uploads, write probes):
// `list` leaves them out.
import type { Readable } from 'node:stream';
import { invalid } from '../../common/errors.ts';

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
  /** Until when a backend with object lock (S3) keeps the object undeletable; else its own default, if any. */
  retainUntil?: Date;
}

export interface PutReport {
  /** Bytes sent over the wire by this call. */
  bytesSent: number;
  /** Bytes skipped because the destination already held them (the whole size when the object was complete). */
  resumedFrom: number;
}

export interface Storage {
  readonly kind: 'local' | 'azure' | 'sftp' | 's3';
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
