// S3-compatible object storage (AWS S3, MinIO, Ceph, Wasabi, SeaweedFS) as a destination. A put of more than one
// part is a multipart upload that resumes (s3-multipart.ts); objects can be written under object lock (WORM).
import { Readable } from 'node:stream';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  GetObjectLockConfigurationCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
  type ObjectLockMode,
  type PutObjectCommandInput,
  type StorageClass,
} from '@aws-sdk/client-s3';
import { BackupError, invalid, notFound } from '../../common/errors.ts';
import { sizeMismatch, isNetworkError, rethrowIfAborted } from './failures.ts';
import { probeWith } from './read-back.ts';
import { putMultipart, type LockParams } from './s3-multipart.ts';
import {
  checkKey,
  checkPrefix,
  isWorkFile,
  type PutOptions,
  type PutReport,
  type PutSource,
  type Storage,
  type StoredObject,
} from './storage.ts';

export interface S3Credential {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

export interface S3Options {
  /** e.g. https://s3.eu-central-1.amazonaws.com or http://127.0.0.1:8333; the SDK's AWS default when absent. */
  endpoint?: string;
  region: string;
  bucket: string;
  /** Folder inside the bucket for every key. */
  prefix?: string;
  /** `https://host/bucket/key` instead of `https://bucket.host/key`: most servers other than AWS want it. */
  forcePathStyle?: boolean;
  credential: S3Credential;
  storageClass?: string;
  /** Write every object under object lock until `days` after its upload (or the put's own `retainUntil`). */
  objectLock?: { mode: 'GOVERNANCE' | 'COMPLIANCE'; days: number };
  /** Bytes per part (8 MiB by default; AWS wants at least 5 MiB for every part but the last). */
  partSize?: number;
  /** Parts sent at once; memory use is at most (concurrency + 1) × partSize, none for a file source. */
  concurrency?: number;
  /** Tries per request inside the SDK; Temporal retries the activity on top of these. */
  maxTries?: number;
}

export const DEFAULT_PART_SIZE = 8 * 1024 * 1024;
const DEFAULT_CONCURRENCY = 4;

/** The S3 client with the options every use of it shares (the backend, presigned downloads, the tests). */
export function s3Client(opts: Pick<S3Options, 'endpoint' | 'region' | 'forcePathStyle' | 'credential' | 'maxTries'>) {
  return new S3Client({
    region: opts.region,
    ...(opts.endpoint !== undefined && { endpoint: opts.endpoint }),
    forcePathStyle: opts.forcePathStyle ?? false,
    credentials: opts.credential,
    maxAttempts: opts.maxTries ?? 3,
    // Checksums only where the API demands them: several S3-compatible servers refuse the newer default trailers,
    // and the upload activity reads every object back and compares its SHA-256, which proves more.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

export function openS3(opts: S3Options): Storage {
  const partSize = opts.partSize ?? DEFAULT_PART_SIZE;
  const concurrency = opts.concurrency ?? DEFAULT_CONCURRENCY;
  const prefix = opts.prefix ? checkPrefix(opts.prefix) : '';
  const client = s3Client(opts);
  const Bucket = opts.bucket;
  const where = `S3 bucket ${Bucket}${opts.endpoint ? ` at ${new URL(opts.endpoint).origin}` : ''}`;
  const objectKey = (key: string) => (prefix ? `${prefix}/${checkKey(key)}` : checkKey(key));
  const fail = (err: unknown) => s3Error(err, where);
  const lockChecked = objectLockOnce(client, Bucket, opts.objectLock);

  const storage: Storage = {
    kind: 's3',

    locationOf: (key) => `s3://${Bucket}/${objectKey(key)}`,

    async put(key: string, source: PutSource, put: PutOptions = {}): Promise<PutReport> {
      const Key = objectKey(key);
      try {
        const lock = await lockChecked(put.retainUntil);
        return await putObject(client, { Bucket, Key, ...objectSettings(opts, lock) }, source, put, {
          partSize,
          concurrency,
        });
      } catch (err) {
        rethrowIfAborted(put.signal);
        throw fail(err);
      }
    },

    async get(key, get = {}) {
      const start = get.start ?? 0;
      try {
        const res = await client.send(
          new GetObjectCommand({ Bucket, Key: objectKey(key), ...(start > 0 && { Range: `bytes=${start}-` }) }),
          { abortSignal: get.signal },
        );
        if (!(res.Body instanceof Readable)) throw new Error('the S3 SDK gave no Node.js stream');
        return res.Body;
      } catch (err) {
        rethrowIfAborted(get.signal);
        if (statusOf(err) === 404) throw notFound(`backup copy ${storage.locationOf(key)}`);
        if (statusOf(err) === 416) return Readable.from([]); // start at the very end
        throw fail(err);
      }
    },

    async stat(key) {
      try {
        const res = await client.send(new HeadObjectCommand({ Bucket, Key: objectKey(key) })).catch(ifAbsent);
        return res && { key, size: res.ContentLength ?? 0, modifiedAt: res.LastModified };
      } catch (err) {
        throw fail(err);
      }
    },

    async list(listPrefix) {
      try {
        return await listObjects(client, Bucket, prefix, listPrefix);
      } catch (err) {
        throw fail(err);
      }
    },

    async delete(key) {
      try {
        await client.send(new DeleteObjectCommand({ Bucket, Key: objectKey(key) })).catch(ifAbsent);
      } catch (err) {
        throw fail(err);
      }
    },

    probeWritable: (p) => probeWith(storage, p),

    async close() {
      client.destroy();
    },
  };
  return storage;
}

/** An object already whole at the source's size is a finished earlier put; a small one goes in one request. */
async function putObject(
  client: S3Client,
  object: PutObjectCommandInput & { Bucket: string; Key: string },
  source: PutSource,
  put: PutOptions,
  layout: { partSize: number; concurrency: number },
): Promise<PutReport> {
  const { Bucket, Key } = object;
  const abortSignal = put.signal;
  const existing = await client.send(new HeadObjectCommand({ Bucket, Key }), { abortSignal }).catch(ifAbsent);
  if (existing?.ContentLength === source.size) {
    put.onProgress?.(source.size);
    return { bytesSent: 0, resumedFrom: source.size };
  }
  if (source.size > layout.partSize) return putMultipart(client, object, source, put, layout);
  const body = await readExactly(source, abortSignal);
  await client.send(new PutObjectCommand({ ...object, Body: body, ContentLength: body.length }), { abortSignal });
  put.onProgress?.(source.size);
  return { bytesSent: source.size, resumedFrom: 0 };
}

function objectSettings(opts: S3Options, lock: LockParams | undefined) {
  return {
    ContentType: 'application/octet-stream',
    ...(opts.storageClass !== undefined && { StorageClass: opts.storageClass as StorageClass }),
    ...(lock && { ObjectLockMode: lock.mode as ObjectLockMode, ObjectLockRetainUntilDate: lock.retainUntil }),
  };
}

/** Every object under a folder of the storage's own prefix, work files left out, sorted by key. */
async function listObjects(client: S3Client, Bucket: string, prefix: string, listPrefix: string) {
  const folder = checkPrefix(listPrefix);
  const base = prefix ? `${prefix}/` : '';
  const out: StoredObject[] = [];
  let ContinuationToken: string | undefined;
  do {
    const page = await client.send(
      new ListObjectsV2Command({ Bucket, Prefix: folder ? `${base}${folder}/` : base, ContinuationToken }),
    );
    for (const o of page.Contents ?? []) {
      const k = o.Key!.slice(base.length);
      if (!isWorkFile(k)) out.push({ key: k, size: o.Size ?? 0, modifiedAt: o.LastModified });
    }
    ContinuationToken = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (ContinuationToken);
  return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

/**
 * Object lock is asked of the bucket once per opened storage: a bucket without it (it can only be switched on when
 * the bucket is made, or later by an admin with PutObjectLockConfiguration) cannot keep the promise, which the
 * admin must fix, so the upload fails without retry instead of writing an object that can be deleted.
 */
function objectLockOnce(
  client: S3Client,
  Bucket: string,
  lock: S3Options['objectLock'],
): (retainUntil: Date | undefined) => Promise<LockParams | undefined> {
  let checked: Promise<void> | undefined;
  return async (retainUntil) => {
    if (!lock) return undefined;
    checked ??= client.send(new GetObjectLockConfigurationCommand({ Bucket })).then(
      (res) => {
        if (res.ObjectLockConfiguration?.ObjectLockEnabled !== 'Enabled') throw noLock(Bucket);
      },
      (err: unknown) => {
        checked = undefined;
        if (s3Code(err) === 'ObjectLockConfigurationNotFoundError') throw noLock(Bucket);
        throw err;
      },
    );
    await checked;
    return { mode: lock.mode, retainUntil: retainUntil ?? new Date(Date.now() + lock.days * 86_400_000) };
  };
}

const noLock = (bucket: string) =>
  invalid(
    `objectLock is set but bucket ${bucket} has no object lock enabled: make the bucket with object lock, or drop objectLock`,
    'objectLock',
  );

/** A small source as one buffer, refused when it does not hold exactly the bytes it declared. */
async function readExactly(source: PutSource, signal: AbortSignal | undefined): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let got = 0;
  const body = source.open(0);
  try {
    for await (const chunk of body) {
      signal?.throwIfAborted();
      got += (chunk as Buffer).length;
      if (got > source.size) throw sizeMismatch(source.size, got);
      chunks.push(chunk as Buffer);
    }
  } finally {
    body.destroy();
  }
  if (got !== source.size) throw sizeMismatch(source.size, got);
  return Buffer.concat(chunks, got);
}

export function statusOf(err: unknown): number | undefined {
  return err instanceof S3ServiceException ? err.$metadata?.httpStatusCode : undefined;
}
const s3Code = (err: unknown) => (err instanceof S3ServiceException ? err.name : undefined);

/** HEAD and DELETE of an absent object answer 404: that is an answer, not a failure. */
function ifAbsent(err: unknown): undefined {
  if (statusOf(err) === 404 && s3Code(err) !== 'NoSuchBucket') return undefined;
  throw err;
}

/** The SDK's errors may carry the request: only the status and the service's error code are kept. */
export function s3Error(err: unknown, where: string): unknown {
  if (err instanceof BackupError) return err;
  if (err instanceof S3ServiceException) {
    const status = err.$metadata?.httpStatusCode;
    const code = err.name || (typeof status === 'number' ? `HTTP ${status}` : 'no response');
    if (code === 'NoSuchBucket')
      return invalid(`${where} does not exist: create the bucket (with object lock, if wanted) or fix the name`);
    if (status === 401 || status === 403 || code === 'InvalidAccessKeyId' || code === 'SignatureDoesNotMatch') {
      return new BackupError(
        'auth',
        `${where} refused the credentials (${code}): check the destination's access key and secret (without write permission on the bucket?)`,
        { code },
      );
    }
    if (status === 400)
      return invalid(`${where} rejected a request as invalid (${code}): check the destination's settings`);
    if (status === undefined || status === 408 || status === 429 || status >= 500 || isNetworkError(err)) {
      return new BackupError('unavailable', `${where} is not answering (${code}); will retry`, { code });
    }
    return new BackupError('unavailable', `${where} answered ${status} (${code})`, { code });
  }
  if (isNetworkError(err))
    return new BackupError('unavailable', `cannot reach ${where} (${(err as { code: string }).code})`);
  return err;
}
