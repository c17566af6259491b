// Azure Blob Storage as a destination. A put is a block upload that can resume (azure-blocks.ts).
import { Readable } from 'node:stream';
import {
  AnonymousCredential,
  BlobServiceClient,
  StorageSharedKeyCredential,
  isRestError,
  type ContainerClient,
  type StoragePipelineOptions,
} from '@azure/storage-blob';
import { BackupError, invalid, notFound } from '../../common/errors.ts';
import { blockCount, putBlocks } from './azure-blocks.ts';
import { isNetworkError, rethrowIfAborted } from './failures.ts';
import { probeWith } from './read-back.ts';
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

export type AzureCredential =
  | { connectionString: string }
  | { accountUrl: string; accountName?: string; accountKey: string }
  | { accountUrl: string; sasToken: string };

export interface AzureOptions {
  container: string;
  /** Folder inside the container that keys live under. */
  prefix?: string;
  credential: AzureCredential;
  /** Bytes per block (8 MiB by default): a resumed upload re-sends at most the blocks that were in flight. */
  blockSize?: number;
  /** Blocks staged at once; memory use is about (concurrency + 1) × blockSize. */
  concurrency?: number;
  /** Tries per request inside the SDK; Temporal retries the activity on top of these. */
  maxTries?: number;
}

export const DEFAULT_BLOCK_SIZE = 8 * 1024 * 1024;
const DEFAULT_CONCURRENCY = 4;

export function openAzure(opts: AzureOptions): Storage {
  const blockSize = opts.blockSize ?? DEFAULT_BLOCK_SIZE;
  const concurrency = opts.concurrency ?? DEFAULT_CONCURRENCY;
  const prefix = opts.prefix ? checkPrefix(opts.prefix) : '';
  const container = containerClient(opts);
  const account = container.accountName;
  const endpoint = new URL(container.url).origin; // the origin alone: a SAS lives in the query
  const where = `Azure Blob ${account}/${opts.container} at ${endpoint}`;
  const blobName = (key: string) => (prefix ? `${prefix}/${checkKey(key)}` : checkKey(key));
  const fail = (err: unknown) => azureError(err, where);

  const ensureContainer = containerOnFirstUse(container);

  const storage: Storage = {
    kind: 'azure',

    locationOf: (key) => `azure://${account}/${opts.container}/${blobName(key)}`,

    async put(key: string, source: PutSource, put: PutOptions = {}): Promise<PutReport> {
      const blob = container.getBlockBlobClient(blobName(key));
      const count = blockCount(source.size, blockSize);
      try {
        await ensureContainer();
        return await putBlocks(blob, source, put, { count, blockSize, concurrency });
      } catch (err) {
        rethrowIfAborted(put.signal);
        throw fail(err);
      }
    },

    async get(key, get = {}) {
      const blob = container.getBlobClient(blobName(key));
      try {
        const res = await blob.download(get.start ?? 0, undefined, { abortSignal: get.signal, maxRetryRequests: 5 });
        if (!res.readableStreamBody) throw new Error('the Azure SDK gave no Node.js stream');
        return res.readableStreamBody as Readable;
      } catch (err) {
        rethrowIfAborted(get.signal);
        if (isRestError(err) && err.statusCode === 404) throw notFound(`backup copy ${storage.locationOf(key)}`);
        if (isRestError(err) && err.statusCode === 416) return Readable.from([]); // start at the very end
        throw fail(err);
      }
    },

    async stat(key) {
      try {
        const p = await container.getBlobClient(blobName(key)).getProperties();
        return { key, size: p.contentLength ?? 0, modifiedAt: p.lastModified };
      } catch (err) {
        if (isRestError(err) && err.statusCode === 404) return undefined;
        throw fail(err);
      }
    },

    list: (listPrefix) => listBlobs(container, prefix, listPrefix, fail),

    async delete(key) {
      try {
        await container.getBlobClient(blobName(key)).deleteIfExists({ deleteSnapshots: 'include' });
      } catch (err) {
        if (isRestError(err) && err.statusCode === 404) return;
        throw fail(err);
      }
    },

    probeWritable: (p) => probeWith(storage, p),

    async close() {},
  };
  return storage;
}

/** Creates the container before the first put; a failed attempt is tried again by the next put. */
function containerOnFirstUse(container: ContainerClient): () => Promise<void> {
  let ensured: Promise<void> | undefined;
  return () =>
    (ensured ??= container.createIfNotExists().then(
      () => undefined,
      (err: unknown) => {
        // A SAS scoped to the container may not create it; if it does not exist the next request will say so.
        if (isRestError(err) && err.statusCode === 403) return;
        ensured = undefined;
        throw err;
      },
    ));
}

/** Every blob under a folder of the storage's own prefix, work files left out; no container yet is nothing stored. */
async function listBlobs(
  container: ContainerClient,
  prefix: string,
  listPrefix: string,
  fail: (err: unknown) => unknown,
): Promise<StoredObject[]> {
  const folder = checkPrefix(listPrefix);
  const base = prefix ? `${prefix}/` : '';
  const out: StoredObject[] = [];
  try {
    for await (const item of container.listBlobsFlat({ prefix: folder ? `${base}${folder}/` : base })) {
      const key = item.name.slice(base.length);
      if (isWorkFile(key)) continue;
      out.push({ key, size: item.properties.contentLength ?? 0, modifiedAt: item.properties.lastModified });
    }
  } catch (err) {
    if (isRestError(err) && err.statusCode === 404) return []; // no container yet: nothing stored
    throw fail(err);
  }
  return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

function containerClient(opts: AzureOptions): ContainerClient {
  const pipeline: StoragePipelineOptions = {
    retryOptions: { maxTries: opts.maxTries ?? 3, retryDelayInMs: 1000, maxRetryDelayInMs: 15_000 },
  };
  const c = opts.credential;
  let service: BlobServiceClient;
  if ('connectionString' in c) {
    try {
      service = BlobServiceClient.fromConnectionString(c.connectionString, pipeline);
    } catch {
      // The SDK's message may quote the string, and with it the key.
      throw invalid(
        'the Azure connection string cannot be read: it needs AccountName and AccountKey (or SharedAccessSignature) and BlobEndpoint or EndpointSuffix',
        'connectionString',
      );
    }
  } else {
    const url = accountUrl(c.accountUrl);
    if ('accountKey' in c) {
      const name = c.accountName ?? accountNameOf(url);
      service = new BlobServiceClient(url.href, new StorageSharedKeyCredential(name, c.accountKey), pipeline);
    } else {
      const sas = c.sasToken.replace(/^\?/, '');
      service = new BlobServiceClient(`${url.href}?${sas}`, new AnonymousCredential(), pipeline);
    }
  }
  return service.getContainerClient(opts.container);
}

function accountUrl(raw: string): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw invalid(`accountUrl '${raw}' is not a URL: use https://<account>.blob.core.windows.net`, 'accountUrl');
  }
  if (url.search)
    throw invalid(
      'accountUrl must not carry a query: give a SAS token in sasToken, sasTokenEnv or sasTokenFile',
      'accountUrl',
    );
  url.pathname = url.pathname.replace(/\/+$/, '');
  return url;
}

/** `<account>.blob.core.windows.net`, or for emulators and IP endpoints the first path segment. */
function accountNameOf(url: URL): string {
  const host = url.hostname;
  const pathStyle = host === 'localhost' || /^[\d.]+$/.test(host) || host.includes(':');
  const name = pathStyle ? url.pathname.split('/').find(Boolean) : host.split('.')[0];
  if (!name)
    throw invalid(`cannot tell the storage account from accountUrl ${url.origin}: set accountName`, 'accountName');
  return name;
}

/**
 * The SDK's errors carry the request (its URL may hold a SAS): only the status and the service's code are kept.
 */
function azureError(err: unknown, where: string): unknown {
  if (err instanceof BackupError) return err;
  if (isRestError(err)) {
    const status = err.statusCode;
    const code = err.code ?? (typeof status === 'number' ? `HTTP ${status}` : 'no response');
    if (status === 401 || status === 403) {
      return new BackupError(
        'auth',
        `${where} refused the credentials (${code}): check the destination's account key, connection string or SAS token (expired, or without write permission?)`,
        { code },
      );
    }
    if (status === 400)
      return invalid(
        `${where} rejected a request as invalid (${code}): check the destination's container name and prefix`,
      );
    if (status === undefined || status === 408 || status === 429 || status >= 500 || isNetworkError(err)) {
      return new BackupError('unavailable', `${where} is not answering (${code}); will retry`, { code });
    }
    return new BackupError('unavailable', `${where} answered ${status} (${code})`, { code });
  }
  if (isNetworkError(err))
    return new BackupError('unavailable', `cannot reach ${where} (${(err as { code: string }).code})`);
  return err;
}
