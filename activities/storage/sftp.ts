// An SFTP host as a destination. The connection and its pinned host key are sftp-session.ts; the file operations on
// the channel (a resumable put through `.<name>.partial`, reads in flight, listing) are sftp-io.ts.
import path from 'node:path/posix';
import { BackupError, invalid, notFound } from '../../common/errors.ts';
import { isNetworkError, rethrowIfAborted } from './failures.ts';
import { probeWith } from './read-back.ts';
import { listTree, PERMISSION_DENIED, readRemote, removeRemote, statOrUndefined, statusOf, upload } from './sftp-io.ts';
import { sftpConnection, type SftpOptions } from './sftp-session.ts';
import { checkKey, checkPrefix, type Storage, type StoredObject } from './storage.ts';

export function openSftp(opts: SftpOptions): Storage {
  if (!path.isAbsolute(opts.path))
    throw invalid(`the SFTP path '${opts.path}' must be absolute (start with /)`, 'path');
  const base = path.normalize(opts.path);
  const endpoint = `${opts.host.includes(':') ? `[${opts.host}]` : opts.host}:${opts.port}`;
  const where = `SFTP ${opts.user}@${endpoint}`;
  const remote = (key: string) => path.join(base, checkKey(key));
  const conn = sftpConnection(opts, endpoint, where);
  const { open, call } = conn;
  const fail = (err: unknown, what: string) => failure(err, what, where, base);

  const storage: Storage = {
    kind: 'sftp',

    locationOf: (key) => `sftp://${encodeURIComponent(opts.user)}@${endpoint}${remote(key)}`,

    async put(key, source, put = {}) {
      const target = remote(key);
      try {
        return await upload(conn, await open(), target, source, put, where);
      } catch (err) {
        rethrowIfAborted(put.signal);
        throw fail(err, `write ${target}`);
      }
    },

    async get(key, get = {}) {
      const file = remote(key);
      try {
        const sftp = await open();
        return await readRemote(call, sftp, file, get, () => notFound(`backup copy ${storage.locationOf(key)}`));
      } catch (err) {
        rethrowIfAborted(get.signal);
        throw fail(err, `read ${file}`);
      }
    },

    async stat(key) {
      const file = remote(key);
      try {
        const sftp = await open();
        const s = await statOrUndefined(call, sftp, file);
        return s?.isFile() ? { key, size: s.size, modifiedAt: new Date(s.mtime * 1000) } : undefined;
      } catch (err) {
        throw fail(err, `look at ${file}`);
      }
    },

    async list(prefix) {
      const folder = checkPrefix(prefix);
      let out: StoredObject[];
      try {
        out = await listTree(call, await open(), base, folder);
      } catch (err) {
        throw fail(err, `list ${path.join(base, folder)}`);
      }
      return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    },

    async delete(key) {
      const file = remote(key);
      try {
        await removeRemote(call, await open(), file);
      } catch (err) {
        throw fail(err, `delete ${file}`);
      }
    },

    probeWritable: (prefix) => probeWith(storage, prefix),

    close: () => conn.close(),
  };
  return storage;
}

/** Failures the operator has to fix get a message saying so; the rest are worth a retry. */
function failure(err: unknown, what: string, where: string, base: string): unknown {
  if (err instanceof BackupError) return err;
  if (statusOf(err) === PERMISSION_DENIED) {
    return invalid(
      `${where}: permission denied to ${what}: check the owner and permissions of ${base} on the server, or the destination's path`,
    );
  }
  if (isNetworkError(err)) return new BackupError('unavailable', `lost the connection to ${where}`);
  return new BackupError('unavailable', `${where}: cannot ${what}: ${(err as Error).message}`);
}
