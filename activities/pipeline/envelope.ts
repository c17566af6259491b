// The envelope of an encrypted backup: it comes after compression, and its first bytes carry the backup's data key
// wrapped by the tenant key, so a site holding that key can restore the file even when the metadata database is lost.
// The stream encryption itself is crypto.ts.
import { createHash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { BackupError } from '../../common/errors.ts';
import { createDecryptStream, createEncryptStream, newDataKey, unwrapKey, wrapKey } from './crypto.ts';

/** Names a tenant key without revealing it: the first 16 hex digits of its SHA-256. */
export const keyId = (masterKey: Buffer): string =>
  createHash('sha256').update('backup-platform key id').update(masterKey).digest('hex').slice(0, 16);

const ENVELOPE_MAGIC = Buffer.from('BPENV1', 'latin1');

/** `BPENV1`, the wrapped key's length (u16) and the wrapped key, then the encrypted stream. */
export function sealStream(masterKey: Buffer): Transform {
  const dataKey = newDataKey();
  const wrapped = Buffer.from(wrapKey(dataKey, masterKey), 'latin1');
  const head = Buffer.alloc(ENVELOPE_MAGIC.length + 2);
  ENVELOPE_MAGIC.copy(head);
  head.writeUInt16BE(wrapped.length, ENVELOPE_MAGIC.length);
  const encrypt = createEncryptStream(dataKey);
  dataKey.fill(0);
  const out = new Transform({
    transform(chunk: Buffer, _enc, cb: TransformCallback) {
      if (!encrypt.write(chunk)) encrypt.once('drain', () => cb());
      else cb();
    },
    flush(cb: TransformCallback) {
      encrypt.once('end', () => cb());
      encrypt.end();
    },
  });
  // The envelope goes first, before the encrypted stream (whose own header is already waiting in it) starts to flow.
  out.push(Buffer.concat([head, wrapped]));
  encrypt.on('data', (d: Buffer) => out.push(d));
  encrypt.on('error', (e) => out.destroy(e));
  return out;
}

/** Reads the envelope, unwraps the data key with the tenant key, and decrypts; a wrong key or a damaged file fails. */
export function openSealed(masterKey: Buffer): Transform {
  let head: Buffer | undefined = Buffer.alloc(0);
  let decrypt: Transform | undefined;
  const out = new Transform({
    transform(chunk: Buffer, _enc, cb: TransformCallback) {
      if (!decrypt) {
        head = Buffer.concat([head!, chunk]);
        const fixed = ENVELOPE_MAGIC.length + 2;
        if (head.length < fixed) return cb();
        if (!head.subarray(0, ENVELOPE_MAGIC.length).equals(ENVELOPE_MAGIC)) {
          return cb(
            new BackupError('invalid', 'this file is not an encrypted backup of this platform (no BPENV1 envelope)', {
              code: 'BackupTampered',
            }),
          );
        }
        const len = head.readUInt16BE(ENVELOPE_MAGIC.length);
        if (head.length < fixed + len) return cb();
        let dataKey: Buffer;
        try {
          dataKey = unwrapKey(head.subarray(fixed, fixed + len).toString('latin1'), masterKey);
        } catch (e) {
          return cb(e as Error);
        }
        decrypt = createDecryptStream(dataKey);
        dataKey.fill(0);
        decrypt.on('data', (d: Buffer) => this.push(d));
        decrypt.on('error', (e) => this.destroy(e));
        chunk = head.subarray(fixed + len);
        head = undefined;
        if (chunk.length === 0) return cb();
      }
      if (!decrypt.write(chunk)) decrypt.once('drain', () => cb());
      else cb();
    },
    flush(cb: TransformCallback) {
      if (!decrypt)
        return cb(
          new BackupError('invalid', 'the encrypted backup ends inside its envelope: the file is cut', {
            code: 'BackupTampered',
          }),
        );
      decrypt.once('end', () => cb());
      decrypt.once('error', (e) => cb(e));
      decrypt.end();
    },
  });
  return out;
}
