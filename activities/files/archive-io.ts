// An archive through the platform's pipeline, as a database dump goes: frames → compression → (encryption) → SHA-256
// → a file; and back: file → (decryption) → decompression → frames.
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { pipeline as pipe, Readable, type Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Compression, CompressionAlgorithm } from '../../common/model.ts';
import { compressStream, decompressStream } from '../pipeline/compression.ts';
import { openSealed, sealStream } from '../pipeline/envelope.ts';
import { meter } from '../site/streams.ts';
import { readFrames, type Frame } from './archive.ts';

export interface ArchiveProgress {
  /** Archive bytes before compression, and bytes written to the file. */
  rawBytes: number;
  bytes: number;
}

export interface WrittenArchive {
  sizeBytes: number;
  sha256: string;
  rawBytes: number;
}

/** Small frames gathered into pieces of about `size`: every piece is a round trip to the compressor's thread. */
async function* batched(frames: AsyncIterable<Buffer>, size: number): AsyncGenerator<Buffer> {
  let parts: Buffer[] = [];
  let have = 0;
  for await (const f of frames) {
    parts.push(f);
    have += f.length;
    if (have >= size) {
      yield Buffer.concat(parts, have);
      parts = [];
      have = 0;
    }
  }
  if (have > 0) yield Buffer.concat(parts, have);
}

/** Writes the frames to `file` (created, not replaced), flushed to disk before it resolves. */
export async function writeArchive(
  frames: AsyncIterable<Buffer>,
  file: string,
  opts: { compression: Compression; masterKey?: Buffer; signal?: AbortSignal; progress?: ArchiveProgress },
): Promise<WrittenArchive> {
  const progress = opts.progress ?? { rawBytes: 0, bytes: 0 };
  const hash = createHash('sha256');
  const stages: (NodeJS.ReadableStream | NodeJS.ReadWriteStream | NodeJS.WritableStream)[] = [
    Readable.from(batched(frames, 1 << 20), { objectMode: false, highWaterMark: 4 }),
    meter((n) => (progress.rawBytes += n)),
    compressStream(opts.compression),
  ];
  if (opts.masterKey) stages.push(sealStream(opts.masterKey));
  stages.push(
    meter((n, chunk) => {
      progress.bytes += n;
      hash.update(chunk);
    }),
    createWriteStream(file, { flags: 'wx', flush: true }),
  );
  await pipeline(stages, ...(opts.signal ? [{ signal: opts.signal }] : []));
  return { sizeBytes: progress.bytes, sha256: hash.digest('hex'), rawBytes: progress.rawBytes };
}

export interface ArchiveSource {
  file: string;
  compression: CompressionAlgorithm;
  encrypted: boolean;
}

/** The frames of an archive file; a wrong key, a damaged or cut file fails the iteration. */
export function archiveFrames(src: ArchiveSource, masterKey?: Buffer): AsyncGenerator<Frame> {
  if (src.encrypted && !masterKey) throw new Error(`${src.file} is encrypted and no tenant key was given`);
  const steps: Transform[] = [...(src.encrypted ? [openSealed(masterKey!)] : []), decompressStream(src.compression)];
  // Errors of any step reach the last one, whose iteration throws; stopping early destroys every step.
  const last = pipe([createReadStream(src.file, { highWaterMark: 1 << 20 }), ...steps], () => undefined);
  return readFrames(last as unknown as AsyncIterable<Buffer>);
}
