// Azure Blob Storage as a destination. A put is a block upload that can resume: block ids follow from the block's
// index, so a retry asks which blocks the service already holds, stages only the others and commits the list.
import { Readable } from 'node:stream';
import {
  AnonymousCredential,
  BlobServiceClient,
  StorageSharedKeyCredential,
  isRestError,
  type BlockBlobClient,
  type ContainerClient,
  type StoragePipelineOptions,
} from '@azure/storage-blob';
import { BackupError, invalid, notFound } from '../../common/errors.ts';
import { isNetworkError, rethrowIfAborted, sizeMismatch } from './failures.ts';
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
/** The service's limit on the blocks of one blob. */
const MAX_BLOCKS = 50_000;

/** All ids of a blob must have the same length: a fixed-width index, 12 bytes, so base64 without padding. */
export const blockId = (index: number) => Buffer.from(`block-${String(index).padStart(6, '0')}`).toString('base64');

interface Block {
  index: number;
  id: string;
  offset: number;
  length: number;
}

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

  let ensured: Promise<void> | undefined;
  const ensureContainer = () =>
    (ensured ??= container.createIfNotExists().then(
      () => undefined,
      (err: unknown) => {
        // A SAS scoped to the container may not create it; if it does not exist the next request will say so.
        if (isRestError(err) && err.statusCode === 403) return;
        ensured = undefined;
        throw err;
      },
    ));

  const storage: Storage = {
    kind: 'azure',

    locationOf: (key) => `azure://${account}/${opts.container}/${blobName(key)}`,

    async put(key: string, source: PutSource, put: PutOptions = {}): Promise<PutReport> {
      const blob = container.getBlockBlobClient(blobName(key));
      const count = Math.ceil(source.size / blockSize);
      if (count > MAX_BLOCKS) {
        throw invalid(
          `${source.size} bytes need ${count} blocks of ${blockSize} bytes, more than Azure's ${MAX_BLOCKS}: raise blockSize`,
          'blockSize',
        );
      }
      const abortSignal = put.signal;
      try {
        await ensureContainer();
        const existing = await blob.getProperties({ abortSignal }).catch(ifNotFound(undefined));
        if (existing?.contentLength === source.size) {
          put.onProgress?.(source.size);
          return { bytesSent: 0, resumedFrom: source.size };
        }

        const held = await blob.getBlockList('uncommitted', { abortSignal }).catch(ifNotFound(undefined));
        const staged = new Map((held?.uncommittedBlocks ?? []).map((b) => [b.name, b.size]));
        const blocks: Block[] = Array.from({ length: count }, (_, index) => {
          const offset = index * blockSize;
          return { index, id: blockId(index), offset, length: Math.min(blockSize, source.size - offset) };
        });
        const missing = blocks.filter((b) => staged.get(b.id) !== b.length);
        const resumedFrom = source.size - missing.reduce((sum, b) => sum + b.length, 0);
        if (resumedFrom > 0) put.onProgress?.(resumedFrom);

        const bytesSent = await stageBlocks(blob, source, missing, resumedFrom, put, concurrency);
        await blob.commitBlockList(
          blocks.map((b) => b.id),
          { abortSignal, blobHTTPHeaders: { blobContentType: 'application/octet-stream' } },
        );
        return { bytesSent, resumedFrom };
      } catch (err) {
        rethrowIfAborted(abortSignal);
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

    async list(listPrefix) {
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
    },

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
 * Stages the missing blocks, up to `concurrency` at once. Returns the bytes staged; stages still in flight when
 * something fails are awaited, so a retry finds them held.
 */
async function stageBlocks(
  blob: BlockBlobClient,
  source: PutSource,
  missing: Block[],
  alreadyDone: number,
  put: PutOptions,
  concurrency: number,
): Promise<number> {
  let sent = 0;
  let done = alreadyDone;
  let failure: { err: unknown } | undefined;
  const inflight = new Set<Promise<void>>();
  const stage = (block: Block, body: BlockBody) => {
    // No per-block Content-MD5: HTTPS already protects each request, and the upload activity reads the whole object
    // back and compares its SHA-256, which proves more than a block checksum; hashing every block on this thread
    // cost a fifth of the upload's throughput (BENCHMARKS.md, case 7).
    // The SDK wraps a failing body stream in an error of its own that only keeps the message: a source that fails
    // (a file that changed, a disk error) is kept as it is, and wins over the request's failure it causes.
    const fromSource = typeof body === 'function' ? () => body().once('error', (err) => (failure ??= { err })) : body;
    const p: Promise<void> = blob
      .stageBlock(block.id, fromSource, block.length, { abortSignal: put.signal })
      .then(
        () => {
          sent += block.length;
          done += block.length;
          put.onProgress?.(done);
        },
        (err: unknown) => {
          failure ??= { err };
        },
      )
      .finally(() => inflight.delete(p));
    inflight.add(p);
  };

  try {
    for await (const { block, body } of blockBodies(source, missing)) {
      while (inflight.size >= concurrency) await Promise.race(inflight);
      if (failure) throw failure.err;
      put.signal?.throwIfAborted();
      stage(block, body);
    }
    await Promise.all(inflight);
    if (failure) throw failure.err;
    return sent;
  } finally {
    await Promise.allSettled([...inflight]);
  }
}

/** A block's bytes: in memory, or a way to stream them from the source (called again if the SDK retries the request). */
type BlockBody = Buffer | (() => Readable);

/**
 * The body of each missing block, in order. A source that can be sliced streams each block from its place, so the
 * blocks in flight cost no memory and no copy; any other is read in order, one stream per run of consecutive blocks,
 * each block gathered into a buffer.
 */
async function* blockBodies(source: PutSource, missing: Block[]): AsyncGenerator<{ block: Block; body: BlockBody }> {
  const slice = source.slice?.bind(source);
  if (slice) {
    for (const block of missing) yield { block, body: () => slice(block.offset, block.length) };
    return;
  }
  for (const run of runsOf(missing)) {
    const body = source.open(run[0]!.offset);
    const reader = new BlockReader(body);
    try {
      for (const block of run) {
        const data = await reader.read(block.length);
        if (data.length !== block.length) throw sizeMismatch(source.size, block.offset + data.length);
        yield { block, body: data };
      }
      const last = run[run.length - 1]!;
      if (last.offset + last.length === source.size && (await reader.read(1)).length > 0) {
        throw sizeMismatch(source.size, source.size + 1);
      }
    } finally {
      body.destroy();
    }
  }
}

/** Groups blocks (sorted by index) into runs of consecutive indices: each run is one sequential read of the source. */
function runsOf(blocks: Block[]): Block[][] {
  const runs: Block[][] = [];
  for (const b of blocks) {
    const run = runs[runs.length - 1];
    const prev = run?.[run.length - 1];
    if (run && prev && prev.index + 1 === b.index) run.push(b);
    else runs.push([b]);
  }
  return runs;
}

/** Cuts a stream into buffers of exact lengths; only the end of the stream gives a shorter one. */
class BlockReader {
  private readonly chunks: AsyncIterator<Buffer>;
  private rest: Buffer = Buffer.alloc(0);
  constructor(stream: Readable) {
    this.chunks = stream[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  }

  async read(length: number): Promise<Buffer> {
    const out = Buffer.allocUnsafe(length);
    let have = 0;
    while (have < length) {
      if (this.rest.length === 0) {
        const next = await this.chunks.next();
        if (next.done) return out.subarray(0, have);
        this.rest = next.value;
      }
      const n = this.rest.copy(out, have, 0, Math.min(this.rest.length, length - have));
      have += n;
      this.rest = this.rest.subarray(n);
    }
    return out;
  }
}

const ifNotFound =
  <T>(value: T) =>
  (err: unknown): T => {
    if (isRestError(err) && err.statusCode === 404) return value;
    throw err;
  };

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
