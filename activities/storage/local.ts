// A folder as a destination (a mounted disk, a NAS share, or the no-set-up default).
// A put is written to `.<name>.partial` beside the target, fsynced, then renamed: the final name is always complete.
import { createWriteStream } from 'node:fs';
import { open, readdir, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { pathToFileURL } from 'node:url';
import { BackupError, invalid, notFound } from '../../common/errors.ts';
import { diskFault, makeFolder } from '../disk-faults.ts';
import { fsyncDir } from '../fsync.ts';
import { rethrowIfAborted, sizeMismatch } from './failures.ts';
import { probeWith } from './read-back.ts';
import {
  checkKey,
  checkPrefix,
  isWorkFile,
  partialName,
  type PutOptions,
  type PutReport,
  type PutSource,
  type Storage,
  type StoredObject,
} from './storage.ts';

export interface LocalOptions {
  /** The folder; resolved against the working directory if relative. */
  path: string;
}

export function openLocal(opts: LocalOptions): Storage {
  const root = path.resolve(opts.path);
  const full = (key: string) => path.join(root, ...checkKey(key).split('/'));

  const storage: Storage = {
    kind: 'local',

    locationOf: (key) => pathToFileURL(full(key)).href,

    async put(key: string, source: PutSource, opts: PutOptions = {}): Promise<PutReport> {
      return putFile(full(key), source, opts);
    },

    async get(key, opts = {}) {
      return readFile(full(key), opts);
    },

    async stat(key) {
      const s = await stat(full(key)).catch(ifMissing(undefined));
      return s?.isFile() ? { key, size: s.size, modifiedAt: s.mtime } : undefined;
    },

    async list(prefix) {
      const folder = checkPrefix(prefix);
      const base = folder ? path.join(root, ...folder.split('/')) : root;
      const entries = await readdir(base, { recursive: true, withFileTypes: true }).catch(ifMissing([]));
      const out: StoredObject[] = [];
      for (const e of entries) {
        if (!e.isFile()) continue;
        const key = path.relative(root, path.join(e.parentPath, e.name)).split(path.sep).join('/');
        if (isWorkFile(key)) continue;
        const s = await stat(path.join(e.parentPath, e.name)).catch(ifMissing(undefined));
        if (s) out.push({ key, size: s.size, modifiedAt: s.mtime });
      }
      return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    },

    async delete(key) {
      await rm(full(key), { force: true });
    },

    probeWritable: (prefix) => probeWith(storage, prefix),

    async close() {},
  };
  return storage;
}

/** A target already there at the source's size is a finished earlier put: a retry sends nothing. */
async function putFile(target: string, source: PutSource, opts: PutOptions): Promise<PutReport> {
  const dir = path.dirname(target);
  const partial = path.join(dir, partialName(path.basename(target)));
  const place = { folder: dir, otherwise: 'choose another folder for it in the site configuration' };
  try {
    const existing = await stat(target).catch(ifMissing(undefined));
    if (existing?.isFile() && existing.size === source.size) {
      opts.onProgress?.(source.size);
      return { bytesSent: 0, resumedFrom: source.size };
    }
    await makeFolder(place);
    let written = 0;
    const meter = new Transform({
      transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback) {
        written += chunk.length;
        cb(null, chunk);
        opts.onProgress?.(written);
      },
    });
    await pipeline(
      source.open(0),
      meter,
      createWriteStream(partial, { flush: true }),
      opts.signal ? { signal: opts.signal } : {},
    );
    if (written !== source.size) throw sizeMismatch(source.size, written);
    await rename(partial, target);
    await fsyncDir(dir);
    return { bytesSent: written, resumedFrom: 0 };
  } catch (err) {
    await rm(partial, { force: true });
    rethrowIfAborted(opts.signal);
    // A full disk or a folder it may not write is the operator's to mend: no retry, and the folder named.
    throw (await diskFault(err, place)) ?? fsError(err, target);
  }
}

async function readFile(file: string, opts: { start?: number; signal?: AbortSignal }): Promise<Readable> {
  const handle = await open(file, 'r').catch((err: NodeJS.ErrnoException) => {
    throw err.code === 'ENOENT' || err.code === 'ENOTDIR' ? notFound(`backup copy ${file}`) : fsError(err, file);
  });
  if (!(await handle.stat()).isFile()) {
    await handle.close();
    throw notFound(`backup copy ${file}`);
  }
  const body = handle.createReadStream({ start: opts.start ?? 0, highWaterMark: 1 << 20 });
  if (opts.signal) {
    const signal = opts.signal;
    const onAbort = () => body.destroy(signal.reason as Error);
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
    body.once('close', () => signal.removeEventListener('abort', onAbort));
  }
  return body;
}

const ifMissing =
  <T>(value: T) =>
  (err: NodeJS.ErrnoException): T => {
    if (err.code === 'ENOENT' || err.code === 'ENOTDIR') return value;
    throw err;
  };

/** Turns the file-system errors an operator can act on into messages that say what to fix. */
function fsError(err: unknown, file: string): unknown {
  if (err instanceof BackupError) return err;
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'EACCES' || code === 'EPERM') {
    return invalid(`cannot read ${file}: permission denied (${code}); check the folder's owner and permissions`);
  }
  if (code === 'EIO' || code === 'ESTALE')
    return new BackupError('unavailable', `${file}: ${(err as Error).message}`, { code });
  return err;
}
