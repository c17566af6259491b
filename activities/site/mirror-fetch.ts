// One version of an object, fetched through its signed URL into the mirror: streamed through SHA-256 and gzip into a
// work file beside its final name, checked against the application's hash, then fsynced and renamed. A version whose
// bytes differ from the hash, or that cannot be fetched, leaves nothing behind.
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm, rmdir, stat } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { createGzip } from 'node:zlib';
import { BackupError } from '../../common/errors.ts';
import type { MirrorFailure } from '../../common/mirror.ts';
import { outboundTarget, type OutboundPolicy } from '../../common/outbound.ts';

export type FetchOutcome =
  | { ok: true; sourceBytes: number; storedBytes: number; sha256: string }
  | { ok: false; failure: MirrorFailure; error: string };

export interface FetchOptions {
  url: string;
  sha256: string;
  /** The final file; its folder is created (and removed again, up to `root`, if nothing is stored in it). */
  file: string;
  root: string;
  /**
   * Folders whose new entries the caller fsyncs before it reports the versions stored (once per folder per batch,
   * not once per object). A rename lost to a crash before that only means the version is fetched again.
   */
  unsyncedDirs: Set<string>;
  policy: OutboundPolicy;
  signal: AbortSignal;
  /** A shared bandwidth limit for every fetch of the run, when there is one. */
  pace?: () => Transform;
  onBytes(n: number): void;
  /** How often a network failure or a 5xx is tried before it is recorded; 3 unless told. */
  attempts?: number;
}

class Refusal extends Error {
  readonly failure: MirrorFailure;
  constructor(failure: MirrorFailure, message: string) {
    super(message);
    this.failure = failure;
  }
}

export async function fetchVersion(opts: FetchOptions): Promise<FetchOutcome> {
  const attempts = opts.attempts ?? 3;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fetchOnce(opts);
    } catch (err) {
      if (opts.signal.aborted) throw err;
      if (err instanceof Refusal) return { ok: false, failure: err.failure, error: err.message };
      if (err instanceof BackupError && err.details.code === 'OutboundRefused')
        return { ok: false, failure: 'refused', error: err.message };
      const transient = err instanceof Transient;
      if (attempt >= attempts)
        return { ok: false, failure: transient ? 'http' : 'network', error: (err as Error).message };
      await sleep(200 * 2 ** attempt, undefined, { signal: opts.signal });
    }
  }
}

class Transient extends Error {}

async function fetchOnce(opts: FetchOptions): Promise<FetchOutcome> {
  let target;
  try {
    target = outboundTarget(opts.url, opts.policy);
  } catch (err) {
    if (err instanceof TypeError) throw new Refusal('refused', 'refused: not a valid URL');
    throw err;
  }
  const res = await get(target.url, target.lookup, opts.signal);
  const status = res.statusCode ?? 0;
  if (status !== 200) {
    res.resume();
    // The URL is the application's (hostile) text: only its host and path, and at most 200 characters of them.
    const where = `${target.url.host}${target.url.pathname}`.slice(0, 200);
    if (status === 403) throw new Refusal('expired', `the signed URL was refused (403) by ${where}: it has expired`);
    if (status === 404) throw new Refusal('not_found', `the object is gone (404) at ${where}`);
    if (status >= 300 && status < 400)
      throw new Refusal('refused', `refused: ${where} answered a redirect (${status})`);
    if (status >= 500 || status === 429) throw new Transient(`${where} answered ${status}`);
    throw new Refusal('http', `${where} answered ${status}`);
  }
  return store(res, opts);
}

function get(url: URL, lookup: NonNullable<http.RequestOptions['lookup']>, signal: AbortSignal) {
  const client = url.protocol === 'https:' ? https : http;
  return new Promise<http.IncomingMessage>((resolve, reject) => {
    const req = client.get(url, { lookup, signal, agent: false, timeout: 30_000 }, resolve);
    req.on('timeout', () => req.destroy(new Error('no answer in 30 s')));
    req.on('error', reject);
  });
}

/** Hash and gzip into `.v<N>.gzip.<random>.partial`; only a matching hash becomes the final name. */
async function store(body: Readable, opts: FetchOptions): Promise<FetchOutcome> {
  const dir = path.dirname(opts.file);
  await mkdir(dir, { recursive: true });
  const work = path.join(dir, `.${path.basename(opts.file)}.${randomBytes(4).toString('hex')}.partial`);
  const hash = createHash('sha256');
  let sourceBytes = 0;
  const tap = new Transform({
    transform(chunk: Buffer, _e, cb) {
      hash.update(chunk);
      sourceBytes += chunk.length;
      opts.onBytes(chunk.length);
      cb(null, chunk);
    },
  });
  try {
    const stages: NodeJS.ReadWriteStream[] = opts.pace ? [opts.pace(), tap] : [tap];
    await pipeline([body, ...stages, createGzip(), createWriteStream(work, { flush: true })], {
      signal: opts.signal,
    });
    const sha256 = hash.digest('hex');
    if (sha256 !== opts.sha256) {
      await rm(work, { force: true });
      await removeEmptyFolders(dir, opts.root);
      return {
        ok: false,
        failure: 'hash',
        error: `the content's SHA-256 is ${sha256}, the application recorded ${opts.sha256}: not stored`,
      };
    }
    const storedBytes = (await stat(work)).size;
    await rename(work, opts.file);
    opts.unsyncedDirs.add(dir);
    return { ok: true, sourceBytes, storedBytes, sha256 };
  } catch (err) {
    await rm(work, { force: true });
    throw err;
  }
}

/** The folders made for a version that was not stored, from the deepest up to (not including) the mirror root. */
export async function removeEmptyFolders(dir: string, root: string): Promise<void> {
  for (let d = dir; d.startsWith(root + path.sep); d = path.dirname(d)) {
    try {
      await rmdir(d);
    } catch {
      return; // not empty (another version is there), or already gone
    }
  }
}

/** One bandwidth limit shared by every concurrent fetch of a run: each slice waits for the run's budget. */
export function sharedPace(bytesPerSecond: number): () => Transform {
  const began = Date.now();
  let granted = 0;
  const slice = Math.max(1024, Math.min(64 * 1024, Math.floor(bytesPerSecond / 10)));
  return () =>
    new Transform({
      async transform(chunk: Buffer, _enc, cb) {
        try {
          for (let at = 0; at < chunk.length; at += slice) {
            const part = chunk.subarray(at, at + slice);
            granted += part.length;
            await sleep(Math.max(0, began + (granted / bytesPerSecond) * 1000 - Date.now()));
            this.push(part);
          }
          cb();
        } catch (e) {
          cb(e as Error);
        }
      },
    });
}
