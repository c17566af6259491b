// The SSH connection behind an SFTP destination, over ssh2 (its pure-JS crypto is enough: its native add-on is not
// built here). ssh2 is CommonJS whose exports Node cannot list for ESM: it is imported whole.
// The host key is pinned: a server whose key has another fingerprint is refused before the private key is used.
import { createHash } from 'node:crypto';
import ssh2, { type Client, type SFTPWrapper } from 'ssh2';
import { BackupError, invalid } from '../../common/errors.ts';

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

/** The fingerprint OpenSSH prints for a key blob: SHA-256, base64 without padding. */
export const hostKeyFingerprint = (keyBlob: Buffer) =>
  `SHA256:${createHash('sha256').update(keyBlob).digest('base64').replace(/=+$/, '')}`;

/** ssh2's callback API as a promise. */
export type Call = <T>(fn: (cb: (err: Error | undefined | null, value?: T) => void) => void) => Promise<T>;

export interface SftpConnection {
  /** The SFTP channel: connects on first use, and again after the connection dropped. */
  open(): Promise<SFTPWrapper>;
  /** A call on the channel; a call on a channel that just closed throws, which is a lost connection too. */
  call: Call;
  /** Calls an OpenSSH extension; false when the server did not offer it (ssh2 then throws at once). */
  callExtension(invoke: (cb: (err: Error | undefined | null) => void) => void): Promise<boolean>;
  close(): Promise<void>;
}

interface Session {
  client: Client;
  sftp: SFTPWrapper;
  closed: boolean;
}

/** `where` names the destination in messages: `SFTP <user>@<endpoint>`. */
export function sftpConnection(opts: SftpOptions, endpoint: string, where: string): SftpConnection {
  let session: Promise<Session> | undefined;

  /** One connection, opened on first use and again after it drops (the server restarted, a keepalive went unanswered). */
  async function open(): Promise<SFTPWrapper> {
    if (!session) {
      const attempt = connect(opts, endpoint, where);
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

  const call: Call = <T>(fn: (cb: (err: Error | undefined | null, value?: T) => void) => void) =>
    new Promise<T>((resolve, reject) => {
      try {
        fn((err, value) => (err ? reject(err) : resolve(value as T)));
      } catch (err) {
        reject(err);
      }
    }).catch((err: unknown) => {
      throw sftpError(err);
    });

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

  async function close(): Promise<void> {
    const s = await session?.catch(() => undefined);
    session = undefined;
    if (!s || s.closed) return;
    const closed = new Promise<void>((resolve) => s.client.once('close', () => resolve()));
    s.client.end();
    await closed;
  }

  return { open, call, callExtension, close };
}

function connect(opts: SftpOptions, endpoint: string, where: string): Promise<Session> {
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
      reject(connectError(err, seenKey, opts, endpoint, where));
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
}

function connectError(
  err: Error & { level?: string; code?: string },
  seen: string | undefined,
  opts: SftpOptions,
  endpoint: string,
  where: string,
): BackupError {
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
