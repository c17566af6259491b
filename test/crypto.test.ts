// The encrypted file format: round trips at the chunk edges, every kind of damage detected, flat memory on big files.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { Readable, Writable, type Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, it } from 'node:test';
import { BackupError } from '../common/errors.ts';
import {
  createDecryptStream,
  createEncryptStream,
  newDataKey,
  parseMasterKey,
  unwrapKey,
  wrapKey,
} from '../activities/pipeline/crypto.ts';

const MiB = 1024 * 1024;
const HEADER = 27;
const TAG = 16;

/** Feeds `data` in pieces of `pieceSize` bytes (all at once when omitted) and collects what comes out. */
async function through(stream: Transform, data: Buffer, pieceSize = data.length || 1): Promise<Buffer> {
  const pieces: Buffer[] = [];
  for (let i = 0; i < data.length; i += pieceSize) pieces.push(data.subarray(i, i + pieceSize));
  const out: Buffer[] = [];
  await pipeline(
    Readable.from(pieces),
    stream,
    new Writable({
      write(chunk: Buffer, _e, done) {
        out.push(chunk);
        done();
      },
    }),
  );
  return Buffer.concat(out);
}

const encrypt = (key: Buffer, data: Buffer, chunkSize?: number, pieceSize?: number) =>
  through(createEncryptStream(key, chunkSize === undefined ? {} : { chunkSize }), data, pieceSize);
const decrypt = (key: Buffer, data: Buffer, pieceSize?: number) => through(createDecryptStream(key), data, pieceSize);

const isTampered = (err: unknown) =>
  err instanceof BackupError &&
  err.kind === 'invalid' &&
  err.details.code === 'BackupTampered' &&
  /damaged or was altered/.test(err.message);

async function assertTampered(key: Buffer, data: Buffer, what: string, message?: RegExp) {
  await assert.rejects(
    decrypt(key, data),
    (err) => isTampered(err) && (!message || message.test((err as Error).message)),
    what,
  );
}

describe('backup encryption', () => {
  it('round-trips at every size around the chunk edges', async () => {
    const key = newDataKey();
    for (const size of [0, 1, MiB - 1, MiB, MiB + 1, 5_000_000]) {
      const plain = randomBytes(size);
      const sealed = await encrypt(key, plain, undefined, 64 * 1024);
      const chunks = Math.max(1, Math.ceil(size / MiB));
      assert.equal(
        sealed.length,
        HEADER + size + chunks * TAG,
        `size ${size}: header, plaintext and one tag per chunk`,
      );
      assert.equal(sealed.subarray(0, 6).toString(), 'BPENC1');
      assert.ok((await decrypt(key, sealed)).equals(plain), `size ${size}`);
      assert.ok((await decrypt(key, sealed, 100_003)).equals(plain), `size ${size}, read in odd pieces`);
    }
  });

  it('round-trips whatever the write sizes and chunk size', async () => {
    const key = newDataKey();
    const plain = randomBytes(10_000);
    for (const [chunkSize, pieceSize] of [
      [1, 7],
      [16, 1],
      [1000, 999],
      [1000, 1000],
      [4096, 10_000],
      [10_000, 3],
    ] as const) {
      const sealed = await encrypt(key, plain, chunkSize, pieceSize);
      assert.ok(
        (await decrypt(key, sealed, 1 + (pieceSize % 37))).equals(plain),
        `chunk ${chunkSize}, pieces ${pieceSize}`,
      );
    }
    const twice = [await encrypt(key, plain), await encrypt(key, plain)];
    assert.ok(!twice[0]!.equals(twice[1]!), 'a fresh salt per file: the same input never gives the same file');
  });

  describe('detects damage', () => {
    const key = newDataKey();
    const chunkSize = 1024;
    const record = chunkSize + TAG;
    const plain = randomBytes(3 * chunkSize + 428); // three full chunks and a short final one
    let sealed: Buffer;
    const at = (i: number) => HEADER + i * record;
    const flipped = (offset: number, mask = 0x01) => {
      const copy = Buffer.from(sealed);
      copy[offset]! ^= mask;
      return copy;
    };

    it('is a valid file to begin with', async () => {
      sealed = await encrypt(key, plain, chunkSize);
      assert.equal(sealed.length, at(3) + 428 + TAG);
      assert.ok((await decrypt(key, sealed)).equals(plain));
    });

    it('a changed header byte', async () => {
      await assertTampered(key, flipped(0), 'magic', /does not start like an encrypted backup/);
      await assertTampered(key, flipped(6), 'version', /unknown format version 0/);
      await assertTampered(key, flipped(7, 0x80), 'chunk size, beyond the limit', /impossible chunk size/);
      await assertTampered(key, flipped(7), 'chunk size, high byte');
      await assertTampered(key, flipped(9), 'chunk size, to another valid size');
      await assertTampered(key, flipped(10), 'chunk size, low byte');
      await assertTampered(key, flipped(11), 'salt, first byte', /first chunk does not check out/);
      await assertTampered(key, flipped(HEADER - 1), 'salt, last byte');
    });

    it('a changed chunk or tag', async () => {
      await assertTampered(key, flipped(at(0)), 'first byte of the first chunk');
      await assertTampered(key, flipped(at(1) + 500), 'inside a middle chunk', /chunk 1 does not check out/);
      await assertTampered(key, flipped(at(2) - 1), 'last byte of the first tag');
      await assertTampered(key, flipped(at(2) + chunkSize), 'first byte of a middle tag', /chunk 2/);
      await assertTampered(key, flipped(sealed.length - 1), 'last byte of the final tag', /chunk 3/);
      await assertTampered(key, flipped(at(3) + 10), 'inside the final chunk');
    });

    it('a file cut short', async () => {
      for (const end of [0, 5, HEADER, HEADER + 10, at(1), at(2), at(3), at(1) + 700, at(3) + 100, sealed.length - 1]) {
        await assertTampered(key, sealed.subarray(0, end), `cut at ${end}`);
      }
      await assertTampered(key, sealed.subarray(0, at(3)), 'cut after a full chunk', /chunk 2 does not check out/);
      await assertTampered(key, sealed.subarray(0, 3), 'cut in the header', /ends inside its header/);
    });

    it('bytes added at the end', async () => {
      await assertTampered(key, Buffer.concat([sealed, Buffer.from([0])]), 'one byte');
      await assertTampered(key, Buffer.concat([sealed, sealed.subarray(at(1), at(2))]), 'a copy of a chunk');
      const exact = await encrypt(key, randomBytes(2 * chunkSize), chunkSize);
      await assertTampered(key, Buffer.concat([exact, randomBytes(TAG)]), 'a tag-sized tail after a full final chunk');
    });

    it('chunks swapped, repeated or dropped', async () => {
      const parts = [
        sealed.subarray(0, HEADER),
        ...[0, 1, 2, 3].map((i) => sealed.subarray(at(i), Math.min(at(i + 1), sealed.length))),
      ];
      const [h, c0, c1, c2, c3] = parts as [Buffer, Buffer, Buffer, Buffer, Buffer];
      await assertTampered(key, Buffer.concat([h, c1, c0, c2, c3]), 'first two swapped', /first chunk/);
      await assertTampered(key, Buffer.concat([h, c0, c2, c1, c3]), 'middle two swapped', /chunk 1/);
      await assertTampered(key, Buffer.concat([h, c0, c0, c1, c2, c3]), 'one repeated');
      await assertTampered(key, Buffer.concat([h, c0, c2, c3]), 'one dropped');
      await assertTampered(key, Buffer.concat([h, c0, c1, c2]), 'final one dropped');
    });

    it('a chunk from another file or the wrong key', async () => {
      const other = await encrypt(key, randomBytes(plain.length), chunkSize);
      const spliced = Buffer.concat([sealed.subarray(0, at(1)), other.subarray(at(1), at(2)), sealed.subarray(at(2))]);
      await assertTampered(key, spliced, 'same data key, another file', /chunk 1/);
      await assertTampered(newDataKey(), sealed, 'wrong data key', /wrong data key/);
    });
  });

  it('wraps the data key with the master key', () => {
    const master = newDataKey();
    const dataKey = newDataKey();
    const wrapped = wrapKey(dataKey, master);
    assert.match(wrapped, /^v1\.[A-Za-z0-9_-]{80}$/);
    assert.notEqual(wrapKey(dataKey, master), wrapped, 'a fresh IV each time');
    assert.ok(unwrapKey(wrapped, master).equals(dataKey));

    assert.throws(
      () => unwrapKey(wrapped, newDataKey()),
      (err: unknown) =>
        err instanceof BackupError &&
        err.kind === 'invalid' &&
        err.details.code === 'KeyMismatch' &&
        /master key does not open/.test(err.message),
    );
    const altered = wrapped.slice(0, 20) + (wrapped[20] === 'A' ? 'B' : 'A') + wrapped.slice(21);
    assert.throws(
      () => unwrapKey(altered, master),
      (err: unknown) => err instanceof BackupError && err.details.code === 'KeyMismatch',
    );
    for (const bad of ['', 'v2.' + wrapped.slice(3), wrapped.slice(0, -4), 'v1.***', dataKey.toString('hex')]) {
      assert.throws(
        () => unwrapKey(bad, master),
        (err: unknown) => err instanceof BackupError && err.details.code === 'WrappedKeyMalformed',
        bad,
      );
    }
  });

  it('reads a master key written in hex or base64', () => {
    const key = newDataKey();
    for (const text of [
      key.toString('hex'),
      key.toString('hex').toUpperCase(),
      key.toString('base64'),
      key.toString('base64url'),
      `  ${key.toString('base64')}\n`,
    ]) {
      assert.ok(parseMasterKey(text).equals(key), text);
    }
    for (const text of [
      '',
      'secret',
      key.toString('hex').slice(1),
      key.toString('hex') + '00',
      randomBytes(31).toString('base64'),
      randomBytes(33).toString('base64'),
      'z'.repeat(64),
    ]) {
      assert.throws(
        () => parseMasterKey(text),
        (err: unknown) =>
          err instanceof BackupError &&
          err.kind === 'invalid' &&
          err.details.code === 'MasterKeyInvalid' &&
          /64 hex characters or as base64/.test(err.message) &&
          (text === '' || !err.message.includes(text.trim())),
        text,
      );
    }
  });

  it('refuses keys and chunk sizes of the wrong size', () => {
    const invalidError = (err: unknown) => err instanceof BackupError && err.kind === 'invalid';
    assert.throws(() => createEncryptStream(randomBytes(16)), invalidError);
    assert.throws(() => createDecryptStream(Buffer.alloc(0)), invalidError);
    assert.throws(() => wrapKey(randomBytes(31), newDataKey()), invalidError);
    assert.throws(() => unwrapKey('v1.x', randomBytes(33)), invalidError);
    for (const chunkSize of [0, -1, 1.5, 65 * MiB])
      assert.throws(() => createEncryptStream(newDataKey(), { chunkSize }), invalidError);
  });

  it('keeps memory flat on a 200 MB stream', async (t) => {
    const total = 200 * 1_000_000;
    const piece = 64 * 1024;
    const pattern = randomBytes(piece);
    const source = async function* () {
      for (let sent = 0; sent < total; sent += piece) {
        const out = Buffer.from(pattern.subarray(0, Math.min(piece, total - sent)));
        out.writeUInt32BE(sent >>> 0, 0); // no two pieces alike
        yield out;
      }
    };
    const key = newDataKey();
    const expected = createHash('sha256');
    for await (const p of source()) expected.update(p);

    // The hashing above already took the heap to where the source's own garbage keeps it, so growth from here is
    // what the streams hold. Sampled in the sinks: the pipeline runs on microtasks, a timer would not fire until the end.
    const baseline = process.memoryUsage.rss();
    let peak = baseline;
    const sink = (onChunk: (c: Buffer) => void) =>
      new Writable({
        write(c: Buffer, _e, done) {
          onChunk(c);
          peak = Math.max(peak, process.memoryUsage.rss());
          done();
        },
      });

    let sealedBytes = 0;
    const started = performance.now();
    await pipeline(
      Readable.from(source()),
      createEncryptStream(key),
      sink((c) => {
        sealedBytes += c.length;
      }),
    );
    const encryptMs = performance.now() - started;
    assert.equal(sealedBytes, HEADER + total + Math.ceil(total / MiB) * TAG);

    const seen = createHash('sha256');
    const again = performance.now();
    await pipeline(
      Readable.from(source()),
      createEncryptStream(key),
      createDecryptStream(key),
      sink((c) => seen.update(c)),
    );
    const roundTripMs = performance.now() - again;
    assert.equal(seen.digest('hex'), expected.digest('hex'));

    const mbps = (ms: number) => (total / 1e6 / (ms / 1000)).toFixed(0);
    t.diagnostic(
      `encrypt ${mbps(encryptMs)} MB/s, encrypt+decrypt ${mbps(roundTripMs)} MB/s; rss grew ${((peak - baseline) / 1e6).toFixed(1)} MB at most`,
    );
    assert.ok(peak - baseline < 100 * 1e6, `rss grew by ${((peak - baseline) / 1e6).toFixed(1)} MB`);
  });
});
