// Azure block uploads that resume: block ids follow from the block's index, so a retry asks which blocks the
// service already holds, stages only the others (several at once) and commits the whole list.
import type { Readable } from 'node:stream';
import { isRestError, type BlockBlobClient } from '@azure/storage-blob';
import { invalid } from '../../common/errors.ts';
import { sizeMismatch } from './failures.ts';
import type { PutOptions, PutReport, PutSource } from './storage.ts';

/** The service's limit on the blocks of one blob. */
const MAX_BLOCKS = 50_000;

/** All ids of a blob must have the same length: a fixed-width index, 12 bytes, so base64 without padding. */
export const blockId = (index: number) => Buffer.from(`block-${String(index).padStart(6, '0')}`).toString('base64');

/** A piece of the source that is sent on its own (an Azure block, an S3 part). */
export interface Piece {
  index: number;
  offset: number;
  length: number;
}
interface Block extends Piece {
  id: string;
}
/** The blocks a source of `size` bytes takes; more than the service allows is the admin's to fix. */
export function blockCount(size: number, blockSize: number): number {
  const count = Math.ceil(size / blockSize);
  if (count > MAX_BLOCKS) {
    throw invalid(
      `${size} bytes need ${count} blocks of ${blockSize} bytes, more than Azure's ${MAX_BLOCKS}: raise blockSize`,
      'blockSize',
    );
  }
  return count;
}

/** A blob already complete at the source's size is a finished earlier put: a retry sends nothing. */
export async function putBlocks(
  blob: BlockBlobClient,
  source: PutSource,
  put: PutOptions,
  layout: { count: number; blockSize: number; concurrency: number },
): Promise<PutReport> {
  const { count, blockSize, concurrency } = layout;
  const abortSignal = put.signal;
  const existing = await blob.getProperties({ abortSignal }).catch(ifNotFound(undefined));
  if (existing?.contentLength === source.size) {
    put.onProgress?.(source.size);
    return { bytesSent: 0, resumedFrom: source.size };
  }

  const held = await blob.getBlockList('uncommitted', { abortSignal }).catch(ifNotFound(undefined));
  const staged = new Map((held?.uncommittedBlocks ?? []).map((b) => [b.name, b.size]));
  const blocks: Block[] = Array.from({ length: count }, (_, index) => {
    const offset = index * blockSize;
    return { index, id: blockId(index), offset, length: Math.min(blockSize, source.size - offset) };
  });
  const missing = blocks.filter((b) => staged.get(b.id) !== b.length);
  const resumedFrom = source.size - missing.reduce((sum, b) => sum + b.length, 0);
  if (resumedFrom > 0) put.onProgress?.(resumedFrom);

  // No per-block Content-MD5: HTTPS already protects each request, and the upload activity reads the whole object
  // back and compares its SHA-256, which proves more than a block checksum; hashing every block on this thread cost a
  // fifth of the upload's throughput (BENCHMARKS.md, case 7).
  const bytesSent = await sendPieces(source, missing, resumedFrom, put, concurrency, async (block, body, failed) => {
    const fromSource = typeof body === 'function' ? () => body().once('error', failed) : body;
    await blob.stageBlock(block.id, fromSource, block.length, { abortSignal: put.signal });
  });
  await blob.commitBlockList(
    blocks.map((b) => b.id),
    { abortSignal, blobHTTPHeaders: { blobContentType: 'application/octet-stream' } },
  );
  return { bytesSent, resumedFrom };
}

/**
 * Sends the missing pieces (Azure blocks, S3 parts) with `sendOne`, up to `concurrency` at once, and returns the bytes
 * sent. Pieces still in flight when something fails are awaited, so a retry finds them held. A source that fails (a
 * file that changed, a disk error) is kept as it is: `sendOne` reports it through `sourceFailed`, and it wins over
 * the request's failure it causes (the SDKs wrap that in errors of their own that keep only the message).
 */
export async function sendPieces<P extends Piece>(
  source: PutSource,
  missing: P[],
  alreadyDone: number,
  put: PutOptions,
  concurrency: number,
  sendOne: (piece: P, body: BlockBody, sourceFailed: (err: unknown) => void) => Promise<void>,
): Promise<number> {
  let sent = 0;
  let done = alreadyDone;
  let failure: { err: unknown } | undefined;
  const failed = (err: unknown) => {
    failure ??= { err };
  };
  const inflight = new Set<Promise<void>>();
  try {
    for await (const { block, body } of blockBodies(source, missing)) {
      while (inflight.size >= concurrency) await Promise.race(inflight);
      if (failure) throw failure.err;
      put.signal?.throwIfAborted();
      const p: Promise<void> = sendOne(block, body, failed)
        .then(() => {
          sent += block.length;
          done += block.length;
          put.onProgress?.(done);
        }, failed)
        .finally(() => inflight.delete(p));
      inflight.add(p);
    }
    await Promise.all(inflight);
    if (failure) throw failure.err;
    return sent;
  } finally {
    await Promise.allSettled([...inflight]);
  }
}

/** A block's bytes: in memory, or a way to stream them from the source (called again if the SDK retries the request). */
export type BlockBody = Buffer | (() => Readable);

/**
 * The body of each missing block, in order. A source that can be sliced streams each block from its place, so the
 * blocks in flight cost no memory and no copy; any other is read in order, one stream per run of consecutive blocks,
 * each block gathered into a buffer.
 */
export async function* blockBodies<B extends Piece>(
  source: PutSource,
  missing: B[],
): AsyncGenerator<{ block: B; body: BlockBody }> {
  const slice = source.slice?.bind(source);
  if (slice) {
    for (const block of missing) yield { block, body: () => slice(block.offset, block.length) };
    return;
  }
  for (const run of runsOf(missing)) {
    const body = source.open(run[0]!.offset);
    const reader = new BlockReader(body);
    try {
      for (const block of run) {
        const data = await reader.read(block.length);
        if (data.length !== block.length) throw sizeMismatch(source.size, block.offset + data.length);
        yield { block, body: data };
      }
      const last = run[run.length - 1]!;
      if (last.offset + last.length === source.size && (await reader.read(1)).length > 0) {
        throw sizeMismatch(source.size, source.size + 1);
      }
    } finally {
      body.destroy();
    }
  }
}

/** Groups blocks (sorted by index) into runs of consecutive indices: each run is one sequential read of the source. */
function runsOf<B extends Piece>(blocks: B[]): B[][] {
  const runs: B[][] = [];
  for (const b of blocks) {
    const run = runs[runs.length - 1];
    const prev = run?.[run.length - 1];
    if (run && prev && prev.index + 1 === b.index) run.push(b);
    else runs.push([b]);
  }
  return runs;
}

/** Cuts a stream into buffers of exact lengths; only the end of the stream gives a shorter one. */
class BlockReader {
  private readonly chunks: AsyncIterator<Buffer>;
  private rest: Buffer = Buffer.alloc(0);
  constructor(stream: Readable) {
    this.chunks = stream[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  }

  async read(length: number): Promise<Buffer> {
    const out = Buffer.allocUnsafe(length);
    let have = 0;
    while (have < length) {
      if (this.rest.length === 0) {
        const next = await this.chunks.next();
        if (next.done) return out.subarray(0, have);
        this.rest = next.value;
      }
      const n = this.rest.copy(out, have, 0, Math.min(this.rest.length, length - have));
      have += n;
      this.rest = this.rest.subarray(n);
    }
    return out;
  }
}
const ifNotFound =
  <T>(value: T) =>
  (err: unknown): T => {
    if (isRestError(err) && err.statusCode === 404) return value;
    throw err;
  };
