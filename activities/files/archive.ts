// The archive of a file backup: a stream of frames, each `type (1 byte) | length (u32 BE) | payload`, so content of
// any size streams through without its size being known first (a file that grows while read is still one record):
//   H  header (JSON: format, version, backup type)
//   E  a file with content (JSON entry), followed by its content as C frames and a Z frame (JSON: size, SHA-256)
//   M  an entry whose content is not carried (folder, link, or a file changed only in metadata) (JSON entry)
//   D  a path deleted since the base backup, with everything under it (JSON: {p})
//   N  lines of the backup's manifest (the whole tree at this point), in order
//   X  the end (JSON: counts); a stream without it is cut
// The archive then goes through the platform's compression and encryption like a database dump.
import { BackupError } from '../../common/errors.ts';

export const FRAME = {
  header: 0x48,
  entry: 0x45,
  chunk: 0x43,
  end: 0x5a,
  meta: 0x4d,
  del: 0x44,
  manifest: 0x4e,
  fin: 0x58,
};
export const ARCHIVE_FORMAT = 'bp-files';
export const ARCHIVE_VERSION = 1;
/** Content is framed in pieces of this size at most; a reader refuses frames much bigger. */
export const CHUNK_BYTES = 1 << 20;
const MAX_FRAME = 16 << 20;

export function frameHead(type: number, length: number): Buffer {
  const b = Buffer.allocUnsafe(5);
  b[0] = type;
  b.writeUInt32BE(length, 1);
  return b;
}

export function jsonFrame(type: number, value: unknown): Buffer {
  const body = Buffer.from(JSON.stringify(value));
  return Buffer.concat([frameHead(type, body.length), body]);
}

export interface Frame {
  type: number;
  body: Buffer;
}

export const damagedArchive = (detail: string) =>
  new BackupError('invalid', `the file backup's archive is damaged: ${detail}`, { code: 'BackupTampered' });

/** Frames out of a byte stream (decrypted, decompressed), holding at most one frame in memory. */
export async function* readFrames(source: AsyncIterable<Buffer>): AsyncGenerator<Frame> {
  const parts: Buffer[] = [];
  let have = 0;
  const take = (n: number): Buffer => {
    const all = parts.length === 1 ? parts[0]! : Buffer.concat(parts, have);
    parts.length = 0;
    const out = all.subarray(0, n);
    if (all.length > n) parts.push(all.subarray(n));
    have -= n;
    return out;
  };
  let need: { type: number; length: number } | undefined;
  let ended = false;
  for await (const piece of source) {
    parts.push(piece);
    have += piece.length;
    for (;;) {
      if (!need) {
        if (have < 5) break;
        const head = take(5);
        need = { type: head[0]!, length: head.readUInt32BE(1) };
        if (need.length > MAX_FRAME) throw damagedArchive(`a frame of ${need.length} bytes`);
      }
      if (have < need.length) break;
      const frame = { type: need.type, body: take(need.length) };
      need = undefined;
      if (frame.type === FRAME.fin) ended = true;
      yield frame;
    }
  }
  if (!ended || have > 0 || need) throw damagedArchive('it ends before its last frame (the file is cut)');
}

export function parseJson<T>(frame: Frame): T {
  try {
    return JSON.parse(frame.body.toString('utf8')) as T;
  } catch {
    throw damagedArchive(`a ${String.fromCharCode(frame.type)} frame that is not JSON`);
  }
}
