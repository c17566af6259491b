// An SFTP host as a destination, over ssh2 (its pure-JS crypto is enough: its native add-on is not built here).
// ssh2 is CommonJS whose exports Node cannot list for ESM: it is imported whole.
// The host key is pinned: a server whose key has another fingerprint is refused before the private key is used.
// A put writes `.<name>.partial` in the target folder, resumes it on a retry, then renames it over the final name.
import { createHash } from 'node:crypto';
import path from 'node:path/posix';
import { Readable } from 'node:stream';
import ssh2, { type Client, type SFTPWrapper, type Stats } from 'ssh2';
import { BackupError, invalid, notFound } from '../../common/errors.ts';
import { isNetworkError, rethrowIfAborted, sizeMismatch } from './failures.ts';
import { probeWith } from './read-back.ts';
import {
  checkKey,
  checkPrefix,
  isWorkFile,
  joinKey,
  partialName,
  type PutOptions,
  type PutReport,
  type PutSource,
  type Storage,
  type StoredObject,
} from './storage.ts';

export interface SftpOptions {
  host: string;
  port: number;
  user: string;
  privateKey: string | Buffer;
  passphrase?: string;
  /** The server's host key fingerprint as `ssh-keygen -lf` prints it: `SHA256:<base64 without padding>`. */
  hostKey: string;
  /** Absolute folder on the server that keys live under. */
  path: string;
  /** How long to wait for the SSH handshake and login. */
  readyTimeoutMs?: number;
}

/** SFTP status codes (draft-ietf-secsh-filexfer-02) that change what we do. */
const NO_SUCH_FILE = 2;
const PERMISSION_DENIED = 3;

/** Bytes per write or read request, and requests kept in flight: latency, not bandwidth, bounds a single request. */
const IO_CHUNK = 64 * 1024;
const IO_DEPTH = 8;
/**
 * A write that was in flight when an upload died may have landed while an earlier one did not (a server is free to
 * reorder), so a partial file is trusted only up to its size minus what can be in flight.
 */
const RESUME_MARGIN = IO_CHUNK * IO_DEPTH;

/** The fingerprint OpenSSH prints for a key blob: SHA-256, base64 without padding. */
export const hostKeyFingerprint = (keyBlob: Buffer) =>
  `SHA256:${createHash('sha256').update(keyBlob).digest('base64').replace(/=+$/, '')}`;

interface Session {
  client: Client;
  sftp: SFTPWrapper;
  closed: boolean;
}

export function openSftp(opts: SftpOptions): Storage {
  if (!path.isAbsolute(opts.path))
    throw invalid(`the SFTP path '${opts.path}' must be absolute (start with /)`, 'path');
  const base = path.normalize(opts.path);
  const endpoint = `${opts.host.includes(':') ? `[${opts.host}]` : opts.host}:${opts.port}`;
  const where = `SFTP ${opts.user}@${endpoint}`;
  const remote = (key: string) => path.join(base, checkKey(key));

  let session: Promise<Session> | undefined;

  function connect(): Promise<Session> {
    const client = new ssh2.Client();
    let seenKey: string | undefined;
    let s: Session | undefined;
    return new Promise<Session>((resolve, reject) => {
      client.on('ready', () => {
        // Every SFTP request waits for its answer: without this, Nagle and delayed ACKs add ~40 ms to each.
        client.setNoDelay(true);
        client.sftp((err, sftp) => {
          if (err) {
            client.end();
            reject(new BackupError('unavailable', `${where} did not start the SFTP subsystem: ${err.message}`));
            return;
          }
          s = { client, sftp, closed: false };
          resolve(s);
        });
      });
      client.on('error', (err) => {
        if (s) s.closed = true;
        reject(connectError(err, seenKey));
      });
      client.on('close', () => {
        if (s) s.closed = true;
        reject(new BackupError('unavailable', `${where} closed the connection during login`));
      });
      try {
        client.connect({
          host: opts.host,
          port: opts.port,
          username: opts.user,
          privateKey: opts.privateKey,
          ...(opts.passphrase !== undefined && { passphrase: opts.passphrase }),
          readyTimeout: opts.readyTimeoutMs ?? 20_000,
          keepaliveInterval: 15_000,
          keepaliveCountMax: 3,
          hostVerifier: (key: Buffer) => {
            seenKey = hostKeyFingerprint(key);
            return seenKey === opts.hostKey;
          },
        });
      } catch (err) {
        reject(invalid(`${where}: ${(err as Error).message}`));
      }
    });

    function connectError(err: Error & { level?: string; code?: string }, seen: string | undefined): BackupError {
      if (seen && seen !== opts.hostKey) {
        return new BackupError(
          'auth',
          `the SFTP host key of ${endpoint} is ${seen}, not the ${opts.hostKey} in the site configuration: if the server's key was changed on purpose, put the new fingerprint in hostKey`,
          { code: 'HostKeyMismatch' },
        );
      }
      if (err.level === 'client-authentication') {
        return new BackupError(
          'auth',
          `${where} refused the private key: add its public key to the user's authorized_keys on the server, or fix user/privateKey`,
          { code: 'AuthenticationFailed' },
        );
      }
      if (err.level === 'client-timeout')
        return new BackupError('unavailable', `${where} did not complete the SSH handshake in time`, {
          code: 'Timeout',
        });
      return new BackupError('unavailable', `cannot reach ${where}: ${err.code ?? err.message}`, {
        code: err.code ?? 'ConnectFailed',
      });
    }
  }

  /** One connection, opened on first use and again after it drops (the server restarted, a keepalive went unanswered). */
  async function open(): Promise<SFTPWrapper> {
    if (!session) {
      const attempt = connect();
      session = attempt;
      // A failed login is not kept: the next operation tries again.
      attempt.catch(() => {
        if (session === attempt) session = undefined;
      });
    }
    const pending = session;
    const s = await pending;
    if (!s.closed) return s.sftp;
    if (session === pending) session = undefined;
    return open();
  }

  /** ssh2's callback API as promises; a call on a channel that just closed throws, which is a lost connection too. */
  function call<T>(fn: (cb: (err: Error | undefined | null, value?: T) => void) => void): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      try {
        fn((err, value) => (err ? reject(err) : resolve(value as T)));
      } catch (err) {
        reject(err);
      }
    }).catch((err: unknown) => {
      throw sftpError(err);
    });
  }

  /** Calls an OpenSSH extension; false when the server did not offer it (ssh2 then throws at once). */
  function callExtension(invoke: (cb: (err: Error | undefined | null) => void) => void): Promise<boolean> {
    return new Promise<boolean>((resolve, reject) => {
      try {
        invoke((err) => (err ? reject(sftpError(err)) : resolve(true)));
      } catch {
        resolve(false);
      }
    });
  }

  function sftpError(err: unknown): unknown {
    if (err instanceof BackupError) return err;
    const code = (err as { code?: unknown }).code;
    if (typeof code === 'number') return err; // a status from the server: the caller decides what it means
    return new BackupError('unavailable', `lost the connection to ${where}: ${(err as Error).message}`, {
      code: typeof code === 'string' ? code : 'ConnectionLost',
    });
  }

  const statusOf = (err: unknown) => (err as { code?: unknown }).code;

  async function statOrUndefined(sftp: SFTPWrapper, p: string): Promise<Stats | undefined> {
    return call<Stats>((cb) => sftp.stat(p, cb)).catch((err: unknown) => {
      if (statusOf(err) === NO_SUCH_FILE) return undefined;
      throw err;
    });
  }

  async function mkdirp(sftp: SFTPWrapper, dir: string): Promise<void> {
    const s = await statOrUndefined(sftp, dir);
    if (!s) {
      const parent = path.dirname(dir);
      if (parent !== dir) await mkdirp(sftp, parent);
      await call<void>((cb) => sftp.mkdir(dir, cb)).catch(async (err: unknown) => {
        // Another upload may have made it in the meantime.
        if (!(await statOrUndefined(sftp, dir))?.isDirectory()) throw err;
      });
    } else if (!s.isDirectory()) {
      throw invalid(`${where}: ${dir} is a file, not a folder`);
    }
  }

  /** Failures the operator has to fix get a message saying so; the rest are worth a retry. */
  function fail(err: unknown, what: string): unknown {
    if (err instanceof BackupError) return err;
    if (statusOf(err) === PERMISSION_DENIED) {
      return invalid(
        `${where}: permission denied to ${what}: check the owner and permissions of ${base} on the server, or the destination's path`,
      );
    }
    if (isNetworkError(err)) return new BackupError('unavailable', `lost the connection to ${where}`);
    return new BackupError('unavailable', `${where}: cannot ${what}: ${(err as Error).message}`);
  }

  async function upload(sftp: SFTPWrapper, target: string, source: PutSource, put: PutOptions): Promise<PutReport> {
    const dir = path.dirname(target);
    const partial = path.join(dir, partialName(path.basename(target)));
    await mkdirp(sftp, dir);
    const held = await statOrUndefined(sftp, partial);
    const resumedFrom = held?.isFile() && held.size <= source.size ? Math.max(0, held.size - RESUME_MARGIN) : 0;
    const handle = await call<Buffer>((cb) => sftp.open(partial, resumedFrom > 0 ? 'r+' : 'w', cb));
    if (resumedFrom > 0) put.onProgress?.(resumedFrom);

    let position = resumedFrom;
    let stored = resumedFrom;
    let failure: { err: unknown } | undefined;
    const inflight = new Set<Promise<void>>();
    const body = source.open(resumedFrom);
    try {
      for await (const chunk of body as AsyncIterable<Buffer>) {
        for (let off = 0; off < chunk.length; off += IO_CHUNK) {
          const piece = chunk.subarray(off, off + IO_CHUNK);
          if (position + piece.length > source.size) throw sizeMismatch(source.size, position + piece.length);
          while (inflight.size >= IO_DEPTH) await Promise.race(inflight);
          if (failure) throw failure.err;
          put.signal?.throwIfAborted();
          const at = position;
          position += piece.length;
          const p: Promise<void> = call<void>((cb) => sftp.write(handle, piece, 0, piece.length, at, cb))
            .then(
              () => put.onProgress?.((stored += piece.length)),
              (err: unknown) => {
                failure ??= { err };
              },
            )
            .finally(() => inflight.delete(p));
          inflight.add(p);
        }
      }
      await Promise.all(inflight);
      if (failure) throw failure.err;
      if (position !== source.size) throw sizeMismatch(source.size, position);
      // Durable before it takes the final name; servers without the extension get only the close.
      await callExtension((cb) => sftp.ext_openssh_fsync(handle, cb));
    } finally {
      body.destroy();
      await Promise.allSettled([...inflight]);
      await call<void>((cb) => sftp.close(handle, cb)).catch(() => {});
    }
    if (!(await callExtension((cb) => sftp.ext_openssh_rename(partial, target, cb)))) {
      // Plain SFTP rename refuses to replace a file: remove the old one first (a short window without it).
      await call<void>((cb) => sftp.unlink(target, cb)).catch((e: unknown) => {
        if (statusOf(e) !== NO_SUCH_FILE) throw e;
      });
      await call<void>((cb) => sftp.rename(partial, target, cb));
    }
    return { bytesSent: position - resumedFrom, resumedFrom };
  }

  const storage: Storage = {
    kind: 'sftp',

    locationOf: (key) => `sftp://${encodeURIComponent(opts.user)}@${endpoint}${remote(key)}`,

    async put(key, source, put = {}) {
      const target = remote(key);
      try {
        const sftp = await open();
        const existing = await statOrUndefined(sftp, target);
        if (existing?.isFile() && existing.size === source.size) {
          put.onProgress?.(source.size);
          return { bytesSent: 0, resumedFrom: source.size };
        }
        return await upload(sftp, target, source, put);
      } catch (err) {
        rethrowIfAborted(put.signal);
        throw fail(err, `write ${target}`);
      }
    },

    async get(key, get = {}) {
      const file = remote(key);
      try {
        const sftp = await open();
        const handle = await call<Buffer>((cb) => sftp.open(file, 'r', cb)).catch((err: unknown) => {
          throw statusOf(err) === NO_SUCH_FILE ? notFound(`backup copy ${storage.locationOf(key)}`) : err;
        });
        const body = readAhead(sftp, handle, get.start ?? 0, call);
        if (get.signal) {
          const signal = get.signal;
          const onAbort = () => body.destroy(signal.reason as Error);
          if (signal.aborted) onAbort();
          else signal.addEventListener('abort', onAbort, { once: true });
          body.once('close', () => signal.removeEventListener('abort', onAbort));
        }
        return body;
      } catch (err) {
        rethrowIfAborted(get.signal);
        throw fail(err, `read ${file}`);
      }
    },

    async stat(key) {
      const file = remote(key);
      try {
        const sftp = await open();
        const s = await statOrUndefined(sftp, file);
        return s?.isFile() ? { key, size: s.size, modifiedAt: new Date(s.mtime * 1000) } : undefined;
      } catch (err) {
        throw fail(err, `look at ${file}`);
      }
    },

    async list(prefix) {
      const folder = checkPrefix(prefix);
      const out: StoredObject[] = [];
      try {
        const sftp = await open();
        const walk = async (rel: string): Promise<void> => {
          const dir = rel ? path.join(base, rel) : base;
          const entries = await call<{ filename: string; attrs: Stats }[]>((cb) => sftp.readdir(dir, cb)).catch(
            (err: unknown) => {
              if (statusOf(err) === NO_SUCH_FILE) return [];
              throw err;
            },
          );
          for (const e of entries) {
            if (e.filename === '.' || e.filename === '..') continue;
            const key = joinKey(rel, e.filename);
            if (e.attrs.isDirectory()) await walk(key);
            else if (e.attrs.isFile() && !isWorkFile(key))
              out.push({ key, size: e.attrs.size, modifiedAt: new Date(e.attrs.mtime * 1000) });
          }
        };
        await walk(folder);
      } catch (err) {
        throw fail(err, `list ${path.join(base, folder)}`);
      }
      return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    },

    async delete(key) {
      const file = remote(key);
      try {
        const sftp = await open();
        await call<void>((cb) => sftp.unlink(file, cb)).catch((err: unknown) => {
          if (statusOf(err) !== NO_SUCH_FILE) throw err;
        });
      } catch (err) {
        throw fail(err, `delete ${file}`);
      }
    },

    probeWritable: (prefix) => probeWith(storage, prefix),

    async close() {
      const s = await session?.catch(() => undefined);
      session = undefined;
      if (!s || s.closed) return;
      const closed = new Promise<void>((resolve) => s.client.once('close', () => resolve()));
      s.client.end();
      await closed;
    },
  };
  return storage;
}

/** Reads a remote file from `start` with several requests in flight, in order; a short answer is followed up. */
function readAhead(
  sftp: SFTPWrapper,
  handle: Buffer,
  start: number,
  call: <T>(fn: (cb: (err: Error | undefined | null, value?: T) => void) => void) => Promise<T>,
): Readable {
  let next = start;
  let ended = false;
  const queue: Promise<Buffer>[] = [];

  const readAt = async (position: number, length: number): Promise<Buffer> => {
    const buf = Buffer.allocUnsafe(length);
    let have = 0;
    while (have < length) {
      const n = await call<number>((cb) => sftp.read(handle, buf, have, length - have, position + have, cb));
      if (!n) break; // end of file
      have += n;
    }
    return buf.subarray(0, have);
  };
  const fill = () => {
    while (!ended && queue.length < IO_DEPTH) {
      const p = readAt(next, IO_CHUNK);
      p.catch(() => {}); // awaited in order below; a rejection of a request after the end is of no interest
      queue.push(p);
      next += IO_CHUNK;
    }
  };

  return new Readable({
    highWaterMark: IO_CHUNK * IO_DEPTH,
    read() {
      fill();
      const head = queue.shift()!;
      head.then(
        (buf) => {
          if (buf.length > 0) this.push(buf);
          if (buf.length < IO_CHUNK) {
            ended = true;
            this.push(null);
          }
        },
        (err: unknown) => this.destroy(err as Error),
      );
    },
    destroy(err, cb) {
      ended = true;
      Promise.allSettled(queue)
        .then(() => call<void>((c) => sftp.close(handle, c)))
        .catch(() => {})
        .finally(() => cb(err));
    },
  });
}
