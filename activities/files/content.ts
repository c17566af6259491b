// A file's content read for the archive: opened without following links, hashed as it is read, and checked before and
// after: a file that changed while it was read (size or mtime moved, or fewer bytes than it had) is reported, and its
// manifest entry keeps the older mtime so the next backup reads it again.
import { createHash } from 'node:crypto';
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { CHUNK_BYTES, FRAME, frameHead, jsonFrame } from './archive.ts';
import type { Entry } from './manifest.ts';
import type { Walked } from './walk.ts';

export interface ReadOutcome {
  /** The manifest entry (size and hash of what was read); undefined when the file could not be read. */
  entry?: Entry;
  /** Why it could not be read, or that it changed while read. */
  problem?: 'gone' | 'unreadable' | 'changed';
  code?: string;
}

async function openFile(w: Walked, out: ReadOutcome): Promise<FileHandle | undefined> {
  try {
    return await open(w.abs, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    // ELOOP: it became a link since the walk; the next backup records it as one.
    out.problem = code === 'ENOENT' || code === 'ELOOP' ? 'gone' : 'unreadable';
    out.code = code;
    return undefined;
  }
}

/**
 * A small file read with blocking calls: a thread-pool round trip per call costs more than the read itself, and
 * trees are mostly small files (the event loop is held for one small read at a time). Undefined: read it in chunks.
 */
function readSmall(w: Walked, out: ReadOutcome, counter: { bytes: number }): Buffer[] | undefined {
  if (w.entry.s >= SMALL_FILE) return undefined;
  let fd: number;
  try {
    fd = openSync(w.abs, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    out.problem = code === 'ENOENT' || code === 'ELOOP' ? 'gone' : 'unreadable';
    out.code = code;
    return [];
  }
  try {
    const before = fstatSync(fd);
    if (before.size >= SMALL_FILE) return undefined;
    const buf = Buffer.allocUnsafe(before.size + 1);
    let bytes = 0;
    for (let n; bytes < buf.length && (n = readSync(fd, buf, bytes, buf.length - bytes, null)) > 0;) bytes += n;
    const after = fstatSync(fd);
    if (bytes > before.size) return undefined; // grew while read: the chunked path reads and reports it
    const entry: Entry = { ...w.entry, s: before.size, m: before.mtimeMs, mode: before.mode & 0o7777 };
    entry.uid = before.uid;
    entry.gid = before.gid;
    const piece = buf.subarray(0, bytes);
    const h = createHash('sha256').update(piece).digest('hex');
    counter.bytes += bytes;
    out.entry = { ...entry, s: bytes, h };
    if (after.mtimeMs !== before.mtimeMs || after.size !== before.size || bytes !== before.size)
      out.problem = 'changed';
    const frames = [jsonFrame(FRAME.entry, entry)];
    if (bytes > 0) frames.push(frameHead(FRAME.chunk, bytes), piece);
    frames.push(jsonFrame(FRAME.end, { s: bytes, h }));
    return frames;
  } finally {
    closeSync(fd);
  }
}

const SMALL_FILE = 256 * 1024;

/** E, C… and Z frames of one file; nothing when it cannot be opened (`out.problem` says why). */
export async function* contentFrames(w: Walked, out: ReadOutcome, counter: { bytes: number }): AsyncGenerator<Buffer> {
  const small = readSmall(w, out, counter);
  if (small) return yield* small;
  const fh = await openFile(w, out);
  if (!fh) return;
  try {
    const before = await fh.stat();
    const entry: Entry = { ...w.entry, s: before.size, m: before.mtimeMs, mode: before.mode & 0o7777 };
    entry.uid = before.uid;
    entry.gid = before.gid;
    yield jsonFrame(FRAME.entry, entry);
    const hash = createHash('sha256');
    let bytes = 0;
    for (;;) {
      // Small files in one read of their size (+1, to see growth); big ones in whole chunks.
      const buf = Buffer.allocUnsafe(Math.min(CHUNK_BYTES, Math.max(before.size - bytes + 1, 4096)));
      const { bytesRead } = await fh.read(buf, 0, buf.length, null);
      if (bytesRead === 0) break;
      const piece = buf.subarray(0, bytesRead);
      hash.update(piece);
      bytes += bytesRead;
      counter.bytes += bytesRead;
      yield frameHead(FRAME.chunk, bytesRead);
      yield piece;
    }
    const after = await fh.stat();
    const h = hash.digest('hex');
    yield jsonFrame(FRAME.end, { s: bytes, h });
    out.entry = { ...entry, s: bytes, h };
    if (after.mtimeMs !== before.mtimeMs || after.size !== before.size || bytes !== before.size)
      out.problem = 'changed';
  } finally {
    await fh.close();
  }
}

/** The content's SHA-256 without archiving it; undefined when it cannot be read or changed while read. */
export async function hashContent(w: Walked): Promise<string | undefined> {
  const out: ReadOutcome = {};
  const fh = await openFile(w, out);
  if (!fh) return undefined;
  try {
    const before = await fh.stat();
    const hash = createHash('sha256');
    const buf = Buffer.allocUnsafe(CHUNK_BYTES);
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, buf.length, null);
      if (bytesRead === 0) break;
      hash.update(buf.subarray(0, bytesRead));
    }
    const after = await fh.stat();
    if (after.mtimeMs !== before.mtimeMs || after.size !== before.size) return undefined;
    return hash.digest('hex');
  } finally {
    await fh.close();
  }
}
