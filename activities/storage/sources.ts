// Where the bytes of an upload come from (a file, a buffer, another storage's object) and how fast they may flow.
import { createReadStream } from 'node:fs';
import { PassThrough, Readable, Transform, pipeline } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { sizeMismatch } from './failures.ts';
import type { PutSource, Storage } from './storage.ts';

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
