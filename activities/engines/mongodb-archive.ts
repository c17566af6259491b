// The mongodump `--archive` format, written and read as a stream (mongo-tools common/archive/spec.md):
//   magic (0x8199e26d, little-endian) · header document · one metadata document per collection · terminator
//   · per collection: namespace header {db, collection, EOF: false, CRC: 0} · its documents · terminator
//   · per collection: EOF header {db, collection, EOF: true, CRC: CRC-64/ECMA of all its document bytes} · terminator
// A terminator is the 4 bytes 0xffffffff where the next document's length would be. The metadata document's
// `metadata` is the collection's `<coll>.metadata.json` (canonical Extended JSON: options, indexes, uuid, type).
import { BSON } from 'mongodb';
import { PassThrough, type Readable, type Writable } from 'node:stream';
import { BackupError } from '../../common/errors.ts';

export const ARCHIVE_MAGIC = Buffer.from([0x6d, 0xe2, 0x99, 0x81]);
const TERMINATOR = Buffer.from([0xff, 0xff, 0xff, 0xff]);
const FORMAT_VERSION = '0.1';
/** BSON's own limit is 16 MiB per document; a length beyond this is a damaged archive, not a document. */
const MAX_DOCUMENT = 48 * 1024 * 1024;

export interface ArchiveHeader {
  serverVersion: string;
  toolVersion: string;
}

export interface CollectionMetadata {
  db: string;
  collection: string;
  /** Canonical Extended JSON: {options, indexes, uuid, collectionName, type}, as mongodump's metadata.json. */
  metadata: string;
  size: number;
  type: string;
}

// CRC-64 with the ECMA-182 polynomial in its reflected form (Go's crc64.ECMA, which mongodump uses): the table is
// kept as two 32-bit halves so the per-byte step stays in small integers rather than BigInt.
const POLY_HI = 0xc96c5795;
const POLY_LO = 0xd7870f42;
const TABLE_HI = new Uint32Array(256);
const TABLE_LO = new Uint32Array(256);
for (let i = 0; i < 256; i++) {
  let hi = 0;
  let lo = i;
  for (let k = 0; k < 8; k++) {
    const odd = lo & 1;
    lo = ((lo >>> 1) | ((hi & 1) << 31)) >>> 0;
    hi = hi >>> 1;
    if (odd) {
      hi = (hi ^ POLY_HI) >>> 0;
      lo = (lo ^ POLY_LO) >>> 0;
    }
  }
  TABLE_HI[i] = hi;
  TABLE_LO[i] = lo;
}

/** CRC-64/ECMA as Go's hash/crc64 computes it (inverted in and out), updated chunk by chunk. */
export class Crc64 {
  private hi = 0xffffffff;
  private lo = 0xffffffff;
  update(buf: Uint8Array): void {
    let hi = this.hi;
    let lo = this.lo;
    for (let i = 0; i < buf.length; i++) {
      const idx = (lo ^ buf[i]!) & 0xff;
      lo = ((lo >>> 8) | ((hi & 0xff) << 24)) ^ TABLE_LO[idx]!;
      hi = (hi >>> 8) ^ TABLE_HI[idx]!;
    }
    this.hi = hi >>> 0;
    this.lo = lo >>> 0;
  }
  /** The value as the signed 64-bit integer the archive stores. */
  digest(): bigint {
    const v = (BigInt(~this.hi >>> 0) << 32n) | BigInt(~this.lo >>> 0);
    return BigInt.asIntN(64, v);
  }
}

/** Writes into `out`, waiting whenever it asks to (the dump is streamed, never held). */
export class ArchiveWriter {
  private readonly out: Writable;
  private readonly signal: AbortSignal | undefined;
  constructor(out: Writable, signal?: AbortSignal) {
    this.out = out;
    this.signal = signal;
  }

  async write(buf: Uint8Array): Promise<void> {
    if (this.out.write(buf)) return;
    await new Promise<void>((resolve, reject) => {
      const done = () => {
        this.out.off('drain', done);
        this.out.off('close', done);
        this.signal?.removeEventListener('abort', stop);
        resolve();
      };
      const stop = () => {
        this.out.off('drain', done);
        this.out.off('close', done);
        reject(this.signal!.reason);
      };
      this.out.on('drain', done);
      // A reader that went away never drains: the dump's abort signal says why.
      this.out.on('close', done);
      this.signal?.addEventListener('abort', stop, { once: true });
    });
  }

  async prelude(header: ArchiveHeader, collections: CollectionMetadata[]): Promise<void> {
    await this.write(ARCHIVE_MAGIC);
    await this.write(
      BSON.serialize({
        concurrent_collections: new BSON.Int32(1),
        version: FORMAT_VERSION,
        server_version: header.serverVersion,
        tool_version: header.toolVersion,
      }),
    );
    for (const c of collections)
      await this.write(
        BSON.serialize({
          db: c.db,
          collection: c.collection,
          metadata: c.metadata,
          size: BSON.Long.fromNumber(c.size),
          type: c.type,
        }),
      );
    await this.write(TERMINATOR);
  }

  namespaceHeader(db: string, collection: string, eof: boolean, crc: bigint): Uint8Array {
    return BSON.serialize({ db, collection, EOF: eof, CRC: BSON.Long.fromBigInt(crc) });
  }

  /** One collection's documents (raw BSON, as the cursor gives them) in one segment, then its EOF block. */
  async collection(db: string, collection: string, docs: AsyncIterable<Uint8Array>): Promise<number> {
    const crc = new Crc64();
    let count = 0;
    for await (const doc of docs) {
      if (count === 0) await this.write(this.namespaceHeader(db, collection, false, 0n));
      crc.update(doc);
      await this.write(doc);
      count++;
    }
    if (count > 0) await this.write(TERMINATOR);
    await this.write(this.namespaceHeader(db, collection, true, crc.digest()));
    await this.write(TERMINATOR);
    return count;
  }
}

const damaged = (what: string) =>
  new BackupError('invalid', `the backup is not a readable MongoDB archive: ${what}`, { code: 'ArchiveDamaged' });

/** Exact reads from a stream: the parts of the archive come in whatever chunks the decompressor hands out. */
class ByteReader {
  private readonly it: AsyncIterator<Buffer>;
  private chunks: Buffer[] = [];
  private buffered = 0;
  constructor(input: Readable) {
    // Piped rather than iterated directly: piping resumes the input, which is what starts a filter process feeding
    // it (tools.ts filterInput waits for 'resume'); an async iterator only listens for 'readable'.
    const through = new PassThrough({ highWaterMark: 1 << 20 });
    input.on('error', (e) => through.destroy(e));
    input.pipe(through);
    this.it = (through as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
  }

  /** `n` bytes, or undefined at a clean end of the stream before the first of them. */
  async read(n: number): Promise<Buffer | undefined> {
    while (this.buffered < n) {
      const next = await this.it.next();
      if (next.done) {
        if (this.buffered === 0) return undefined;
        throw damaged('it ends in the middle of a block');
      }
      this.chunks.push(next.value);
      this.buffered += next.value.length;
    }
    const all = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks);
    const out = all.subarray(0, n);
    const rest = all.subarray(n);
    this.chunks = rest.length > 0 ? [rest] : [];
    this.buffered = rest.length;
    return out;
  }

  async need(n: number, what: string): Promise<Buffer> {
    const b = await this.read(n);
    if (!b) throw damaged(`it ends before ${what}`);
    return b;
  }

  /** The next BSON document's bytes, or `'terminator'`. */
  async block(what: string): Promise<Buffer | 'terminator'> {
    const head = await this.need(4, what);
    if (head.equals(TERMINATOR)) return 'terminator';
    const size = head.readInt32LE(0);
    if (size < 5 || size > MAX_DOCUMENT) throw damaged(`a ${what} of ${size} bytes`);
    // A copy: the document outlives the chunk it was cut from (batches hold on to it).
    return Buffer.concat([head, await this.need(size - 4, what)]);
  }

  async cancel(): Promise<void> {
    await this.it.return?.();
  }
}

export type ArchiveEvent =
  { kind: 'document'; collection: string; bytes: Buffer } | { kind: 'end'; collection: string; documents: number };

/**
 * Reads an archive: its prelude first (returned), then its documents and the end of each collection, in the order the
 * archive has them, with each collection's CRC checked at its end.
 */
export async function readArchive(input: Readable): Promise<{
  header: Record<string, unknown>;
  collections: CollectionMetadata[];
  events: AsyncGenerator<ArchiveEvent>;
}> {
  const r = new ByteReader(input);
  const magic = await r.read(4);
  if (!magic || !magic.equals(ARCHIVE_MAGIC)) throw damaged('it does not start with the archive magic number');
  const headerBytes = await r.block('archive header');
  if (headerBytes === 'terminator') throw damaged('no archive header');
  const header = BSON.deserialize(headerBytes);
  const collections: CollectionMetadata[] = [];
  for (;;) {
    const b = await r.block('collection metadata');
    if (b === 'terminator') break;
    const m = BSON.deserialize(b, { promoteLongs: true });
    if (typeof m.db !== 'string' || typeof m.collection !== 'string')
      throw damaged('collection metadata without a name');
    collections.push({
      db: m.db,
      collection: m.collection,
      metadata: typeof m.metadata === 'string' ? m.metadata : '',
      size: Number(m.size ?? 0),
      type: typeof m.type === 'string' ? m.type : 'collection',
    });
  }
  async function* events(): AsyncGenerator<ArchiveEvent> {
    const crcs = new Map<string, { crc: Crc64; documents: number }>();
    try {
      for (;;) {
        const head = await r.read(4);
        if (!head) return;
        if (head.equals(TERMINATOR)) throw damaged('a terminator where a namespace header belongs');
        const size = head.readInt32LE(0);
        if (size < 5 || size > MAX_DOCUMENT) throw damaged(`a namespace header of ${size} bytes`);
        const ns = BSON.deserialize(Buffer.concat([head, await r.need(size - 4, 'namespace header')]), {
          promoteLongs: false,
        });
        const collection = String(ns.collection);
        const state = crcs.get(collection) ?? { crc: new Crc64(), documents: 0 };
        crcs.set(collection, state);
        if (ns.EOF === true) {
          const want = ns.CRC instanceof BSON.Long ? ns.CRC.toBigInt() : BigInt(Number(ns.CRC ?? 0));
          const got = state.crc.digest();
          if (want !== 0n && want !== got) throw damaged(`the checksum of collection '${collection}' does not match`);
          if ((await r.block('terminator after EOF')) !== 'terminator') throw damaged('no terminator after an EOF');
          yield { kind: 'end', collection, documents: state.documents };
          continue;
        }
        for (;;) {
          const doc = await r.block(`document of '${collection}'`);
          if (doc === 'terminator') break;
          state.crc.update(doc);
          state.documents++;
          yield { kind: 'document', collection, bytes: doc };
        }
      }
    } finally {
      await r.cancel();
    }
  }
  return { header, collections, events: events() };
}
