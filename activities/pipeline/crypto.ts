// Backup files encrypted as a stream: each backup gets a fresh data key, stored only wrapped by the tenant's master key.
//
// File format (version 1), the STREAM construction with AES-256-GCM, as in age's payload:
//   header  'BPENC1' | version u8 = 1 | plaintext chunk size u32 BE | salt (16 random bytes)
//   chunks  AES-256-GCM(ciphertext) | 16-byte tag, every chunk `chunk size` bytes of plaintext except the last
// - The chunk key is HKDF-SHA256(data key, salt), so one data key used for two files (a retried dump) never repeats a
//   key and nonce pair.
// - The nonce is 3 zero bytes | chunk counter u64 BE | final flag (1 on the last chunk, else 0): moving a chunk changes
//   its counter, and cutting the file at a chunk boundary leaves a last chunk that was not sealed as the final one.
// - The whole header is each chunk's additional data, so a changed chunk size or version fails like a changed chunk.
// A decrypting reader only ever sees chunks whose tag checked out, but whether the file is complete is known only at
// its end: a restore keeps its output aside until the stream finishes without an error.
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { BackupError, invalid } from '../../common/errors.ts';

const MAGIC = Buffer.from('BPENC1', 'latin1');
const VERSION = 1;
const SALT_BYTES = 16;
const HEADER_BYTES = MAGIC.length + 1 + 4 + SALT_BYTES;
const TAG_BYTES = 16;
const KEY_BYTES = 32;
const DEFAULT_CHUNK_SIZE = 1024 * 1024;
/** A reader holds a whole chunk before it can check it (and the header with it), so a header may not ask for much. */
const MAX_CHUNK_SIZE = 64 * 1024 * 1024;
const PAYLOAD_INFO = 'backup-platform BPENC1 payload key';

const WRAP_PREFIX = 'v1.';
const WRAP_AAD = Buffer.from('backup-platform data key v1', 'latin1');
const WRAP_IV_BYTES = 12;

function tampered(detail: string): BackupError {
  return new BackupError('invalid', `the encrypted backup is damaged or was altered: ${detail}`, {
    code: 'BackupTampered',
  });
}

function checkKey(key: Buffer, what: string): void {
  if (!Buffer.isBuffer(key) || key.length !== KEY_BYTES) {
    throw invalid(
      `the ${what} must be ${KEY_BYTES} bytes for AES-256, not ${Buffer.isBuffer(key) ? key.length : typeof key}`,
    );
  }
}

function payloadKey(dataKey: Buffer, salt: Buffer): Buffer {
  return Buffer.from(hkdfSync('sha256', dataKey, salt, PAYLOAD_INFO, KEY_BYTES));
}

function chunkNonce(counter: bigint, final: boolean): Buffer {
  const nonce = Buffer.alloc(12);
  nonce.writeBigUInt64BE(counter, 3);
  nonce[11] = final ? 1 : 0;
  return nonce;
}

const SPENT = Buffer.alloc(0);

/** Bytes waiting to fill a chunk, kept as the pieces they arrived in: a chunk is handed on as views, never copied. */
class ByteQueue {
  #parts: Buffer[] = [];
  #first = 0;
  length = 0;

  add(piece: Buffer): void {
    if (piece.length === 0) return;
    this.#parts.push(piece);
    this.length += piece.length;
  }

  take(n: number): Buffer[] {
    const out: Buffer[] = [];
    let left = n;
    while (left > 0) {
      const part = this.#parts[this.#first]!;
      if (part.length <= left) {
        out.push(part);
        left -= part.length;
        this.#drop();
      } else {
        out.push(part.subarray(0, left));
        this.#parts[this.#first] = part.subarray(left);
        left = 0;
      }
    }
    this.length -= n;
    return out;
  }

  // Tiny writes would make Array#shift quadratic, so the array is compacted only now and then; the slot is emptied at
  // once, or a thousand spent pieces would stay alive until then.
  #drop(): void {
    this.#parts[this.#first] = SPENT;
    this.#first++;
    if (this.#first > 1024 && this.#first * 2 > this.#parts.length) {
      this.#parts = this.#parts.slice(this.#first);
      this.#first = 0;
    }
  }
}

export function newDataKey(): Buffer {
  return randomBytes(KEY_BYTES);
}

export function createEncryptStream(dataKey: Buffer, opts: { chunkSize?: number } = {}): Transform {
  checkKey(dataKey, 'data key');
  const chunkSize = opts.chunkSize ?? DEFAULT_CHUNK_SIZE;
  if (!Number.isInteger(chunkSize) || chunkSize < 1 || chunkSize > MAX_CHUNK_SIZE) {
    throw invalid(
      `the encryption chunk size must be a whole number of bytes from 1 to ${MAX_CHUNK_SIZE}, not ${chunkSize}`,
    );
  }
  const salt = randomBytes(SALT_BYTES);
  const header = Buffer.alloc(HEADER_BYTES);
  MAGIC.copy(header, 0);
  header[MAGIC.length] = VERSION;
  header.writeUInt32BE(chunkSize, MAGIC.length + 1);
  salt.copy(header, MAGIC.length + 5);
  const key = payloadKey(dataKey, salt);
  const pending = new ByteQueue();
  let counter = 0n;

  function seal(stream: Transform, plaintext: Buffer[], final: boolean): void {
    const cipher = createCipheriv('aes-256-gcm', key, chunkNonce(counter++, final), { authTagLength: TAG_BYTES });
    cipher.setAAD(header);
    for (const part of plaintext) stream.push(cipher.update(part));
    cipher.final();
    stream.push(cipher.getAuthTag());
  }

  const stream = new Transform({
    transform(piece: Buffer, _encoding, done: TransformCallback) {
      pending.add(piece);
      // Strictly more than a chunk: only then is it certain that this chunk is not the last one.
      while (pending.length > chunkSize) seal(this, pending.take(chunkSize), false);
      done();
    },
    flush(done: TransformCallback) {
      seal(this, pending.take(pending.length), true);
      done();
    },
  });
  stream.push(header);
  return stream;
}

export function createDecryptStream(dataKey: Buffer): Transform {
  checkKey(dataKey, 'data key');
  // The payload key needs the salt from the header: a copy of the data key waits for it, so the caller may wipe its own.
  let secret: Buffer | undefined = Buffer.from(dataKey);
  const pending = new ByteQueue();
  let header: Buffer | undefined;
  let key: Buffer | undefined;
  let recordSize = 0;
  let counter = 0n;

  function readHeader(bytes: Buffer): void {
    if (!bytes.subarray(0, MAGIC.length).equals(MAGIC))
      throw tampered('it does not start like an encrypted backup (BPENC1)');
    const version = bytes[MAGIC.length];
    if (version !== VERSION)
      throw tampered(`unknown format version ${version} (or it was written by a newer version of the platform)`);
    const chunkSize = bytes.readUInt32BE(MAGIC.length + 1);
    if (chunkSize < 1 || chunkSize > MAX_CHUNK_SIZE)
      throw tampered(`its header gives an impossible chunk size of ${chunkSize} bytes`);
    header = bytes;
    key = payloadKey(secret!, bytes.subarray(MAGIC.length + 5));
    secret!.fill(0);
    secret = undefined;
    recordSize = chunkSize + TAG_BYTES;
  }

  function open(stream: Transform, ciphertextBytes: number, final: boolean): void {
    const index = counter++;
    const decipher = createDecipheriv('aes-256-gcm', key!, chunkNonce(index, final), { authTagLength: TAG_BYTES });
    decipher.setAAD(header!);
    const plaintext = pending.take(ciphertextBytes).map((part) => decipher.update(part));
    decipher.setAuthTag(Buffer.concat(pending.take(TAG_BYTES)));
    try {
      decipher.final();
    } catch {
      throw tampered(
        index === 0n
          ? 'its first chunk does not check out (a wrong data key, or the file was cut, reordered or changed)'
          : `chunk ${index} does not check out (the file was cut, reordered or changed)`,
      );
    }
    for (const part of plaintext) stream.push(part);
  }

  return new Transform({
    transform(piece: Buffer, _encoding, done: TransformCallback) {
      try {
        pending.add(piece);
        if (!header) {
          if (pending.length < HEADER_BYTES) return done();
          readHeader(Buffer.concat(pending.take(HEADER_BYTES)));
        }
        // A full record followed by more bytes cannot be the final one.
        while (pending.length > recordSize) open(this, recordSize - TAG_BYTES, false);
        done();
      } catch (err) {
        done(err as Error);
      }
    },
    flush(done: TransformCallback) {
      try {
        if (!header) throw tampered('it ends inside its header');
        if (pending.length < TAG_BYTES) throw tampered('it ends before its final chunk (the file was cut short)');
        open(this, pending.length - TAG_BYTES, true);
        done();
      } catch (err) {
        done(err as Error);
      }
    },
  });
}

/** `v1.<base64url(iv | encrypted key | tag)>`, small enough for a history row. */
export function wrapKey(dataKey: Buffer, masterKey: Buffer): string {
  checkKey(dataKey, 'data key');
  checkKey(masterKey, 'master key');
  const iv = randomBytes(WRAP_IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', masterKey, iv, { authTagLength: TAG_BYTES });
  cipher.setAAD(WRAP_AAD);
  const sealed = Buffer.concat([iv, cipher.update(dataKey), cipher.final(), cipher.getAuthTag()]);
  return WRAP_PREFIX + sealed.toString('base64url');
}

export function unwrapKey(wrapped: string, masterKey: Buffer): Buffer {
  checkKey(masterKey, 'master key');
  const body =
    typeof wrapped === 'string' && wrapped.startsWith(WRAP_PREFIX) ? wrapped.slice(WRAP_PREFIX.length) : undefined;
  const sealed = body !== undefined && /^[A-Za-z0-9_-]+$/.test(body) ? Buffer.from(body, 'base64url') : undefined;
  if (!sealed || sealed.length !== WRAP_IV_BYTES + KEY_BYTES + TAG_BYTES) {
    throw new BackupError(
      'invalid',
      'the stored backup key is not a wrapped key this platform wrote (expected v1.<base64url>)',
      { code: 'WrappedKeyMalformed' },
    );
  }
  const decipher = createDecipheriv('aes-256-gcm', masterKey, sealed.subarray(0, WRAP_IV_BYTES), {
    authTagLength: TAG_BYTES,
  });
  decipher.setAAD(WRAP_AAD);
  decipher.setAuthTag(sealed.subarray(WRAP_IV_BYTES + KEY_BYTES));
  const dataKey = decipher.update(sealed.subarray(WRAP_IV_BYTES, WRAP_IV_BYTES + KEY_BYTES));
  try {
    decipher.final();
  } catch {
    throw new BackupError(
      'invalid',
      "the tenant's master key does not open this backup's key: the master key was changed or is not the one the backup was made with",
      { code: 'KeyMismatch' },
    );
  }
  return dataKey;
}

/** 64 hex characters, or base64 (standard or URL-safe, padded or not) of 32 bytes, as `openssl rand -base64 32` prints. */
export function parseMasterKey(text: string): Buffer {
  const trimmed = typeof text === 'string' ? text.trim() : '';
  if (/^[0-9a-fA-F]{64}$/.test(trimmed)) return Buffer.from(trimmed, 'hex');
  if (/^[A-Za-z0-9+/_-]{43}=?$/.test(trimmed)) {
    const key = Buffer.from(trimmed, 'base64');
    if (key.length === KEY_BYTES) return key;
  }
  // The text itself stays out of the message: it is meant to be a secret.
  throw new BackupError(
    'invalid',
    `the master key must be 32 random bytes written as 64 hex characters or as base64 (for example from \`openssl rand -base64 32\`); the value given has ${trimmed.length} characters and is neither`,
    { field: 'masterKey', code: 'MasterKeyInvalid' },
  );
}
