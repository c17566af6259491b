// Stream pieces the site activities share: counting bytes as they pass, and telling which stream of a chain failed
// first (the storage's read, or a step after it) so a failure is blamed on the right thing.
import { Transform, type Readable, type TransformCallback } from 'node:stream';

/** Counts (and optionally inspects) bytes as they pass. */
export function meter(onChunk: (n: number, chunk: Buffer) => void): Transform {
  return new Transform({
    transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback) {
      onChunk(chunk.length, chunk);
      cb(null, chunk);
    },
  });
}

/**
 * Which failed first: the storage's read, or one of the steps after it (decryption, decompression). A failure is
 * passed on to the other streams, so the one that failed first is where it began.
 */
export function failedFirst(source: Readable, steps: Transform[]): () => 'read' | 'step' | undefined {
  let first: 'read' | 'step' | undefined;
  source.once('error', () => (first ??= 'read'));
  for (const step of steps) step.once('error', () => (first ??= 'step'));
  return () => first;
}
