// S3 multipart uploads that resume after a crash. The UploadId is not kept anywhere of ours: the bucket itself
// remembers the uploads in progress, so a retry (another process, after the worker died) finds it again with
// ListMultipartUploads by the object's key, asks ListParts which parts the server holds, sends only the others
// (several at once) and completes the upload. Part numbers follow from the offset, so a part means the same bytes
// on every try.
import {
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  ListMultipartUploadsCommand,
  ListPartsCommand,
  UploadPartCommand,
  type CreateMultipartUploadCommandInput,
  type S3Client,
} from '@aws-sdk/client-s3';
import { invalid } from '../../common/errors.ts';
import { blockBodies, type BlockBody, type Piece } from './azure-blocks.ts';
import type { PutOptions, PutReport, PutSource } from './storage.ts';

/** The service's limit on the parts of one upload. */
const MAX_PARTS = 10_000;

export interface LockParams {
  mode: 'GOVERNANCE' | 'COMPLIANCE';
  retainUntil: Date;
}

interface Part extends Piece {
  number: number;
}

export async function putMultipart(
  client: S3Client,
  object: CreateMultipartUploadCommandInput & { Bucket: string; Key: string },
  source: PutSource,
  put: PutOptions,
  layout: { partSize: number; concurrency: number },
): Promise<PutReport> {
  const { partSize, concurrency } = layout;
  const { Bucket, Key } = object;
  const abortSignal = put.signal;
  const count = Math.ceil(source.size / partSize);
  if (count > MAX_PARTS) {
    throw invalid(
      `${source.size} bytes need ${count} parts of ${partSize} bytes, more than S3's ${MAX_PARTS}: raise partSize`,
      'partSize',
    );
  }
  const parts: Part[] = Array.from({ length: count }, (_, index) => {
    const offset = index * partSize;
    return { index, number: index + 1, offset, length: Math.min(partSize, source.size - offset) };
  });

  const UploadId =
    (await uploadInProgress(client, Bucket, Key, abortSignal)) ??
    (await client.send(new CreateMultipartUploadCommand(object), { abortSignal })).UploadId!;
  const held = await partsHeld(client, Bucket, Key, UploadId, abortSignal);
  const missing = parts.filter((p) => held.get(p.number)?.size !== p.length);
  const resumedFrom = source.size - missing.reduce((sum, p) => sum + p.length, 0);
  if (resumedFrom > 0) put.onProgress?.(resumedFrom);

  const { bytesSent, etags } = await sendParts(client, { Bucket, Key, UploadId }, source, missing, resumedFrom, put, {
    concurrency,
  });
  await client.send(
    new CompleteMultipartUploadCommand({
      Bucket,
      Key,
      UploadId,
      MultipartUpload: {
        Parts: parts.map((p) => ({ PartNumber: p.number, ETag: etags.get(p.number) ?? held.get(p.number)!.etag })),
      },
    }),
    { abortSignal },
  );
  return { bytesSent, resumedFrom };
}

/** The newest upload in progress for exactly this key (a prefix listing also finds longer keys). */
async function uploadInProgress(
  client: S3Client,
  Bucket: string,
  Key: string,
  abortSignal: AbortSignal | undefined,
): Promise<string | undefined> {
  let newest: { id: string; at: number } | undefined;
  let KeyMarker: string | undefined;
  let UploadIdMarker: string | undefined;
  do {
    const page = await client.send(
      new ListMultipartUploadsCommand({ Bucket, Prefix: Key, KeyMarker, UploadIdMarker }),
      {
        abortSignal,
      },
    );
    for (const u of page.Uploads ?? []) {
      const at = u.Initiated?.getTime() ?? 0;
      if (u.Key === Key && u.UploadId && (!newest || at >= newest.at)) newest = { id: u.UploadId, at };
    }
    KeyMarker = page.IsTruncated ? page.NextKeyMarker : undefined;
    UploadIdMarker = page.IsTruncated ? page.NextUploadIdMarker : undefined;
  } while (KeyMarker);
  return newest?.id;
}

async function partsHeld(
  client: S3Client,
  Bucket: string,
  Key: string,
  UploadId: string,
  abortSignal: AbortSignal | undefined,
): Promise<Map<number, { size: number; etag: string }>> {
  const held = new Map<number, { size: number; etag: string }>();
  let PartNumberMarker: string | undefined;
  do {
    const page = await client.send(new ListPartsCommand({ Bucket, Key, UploadId, PartNumberMarker }), { abortSignal });
    for (const p of page.Parts ?? []) {
      if (p.PartNumber && p.ETag) held.set(p.PartNumber, { size: p.Size ?? -1, etag: p.ETag });
    }
    PartNumberMarker = page.IsTruncated ? page.NextPartNumberMarker : undefined;
  } while (PartNumberMarker);
  return held;
}

/**
 * Sends the missing parts, up to `concurrency` at once. Parts still in flight when something fails are awaited, so
 * a retry finds them held.
 */
async function sendParts(
  client: S3Client,
  upload: { Bucket: string; Key: string; UploadId: string },
  source: PutSource,
  missing: Part[],
  alreadyDone: number,
  put: PutOptions,
  { concurrency }: { concurrency: number },
): Promise<{ bytesSent: number; etags: Map<number, string> }> {
  let sent = 0;
  let done = alreadyDone;
  let failure: { err: unknown } | undefined;
  const etags = new Map<number, string>();
  const inflight = new Set<Promise<void>>();
  const send = (part: Part, body: BlockBody) => {
    // A source that fails (a file that changed, a disk error) is kept as it is, and wins over the request's failure
    // it causes. The request is aborted with it: the SDK would otherwise wait for bytes that never come, and the
    // server for the rest of the Content-Length.
    const part$ = new AbortController();
    const Body =
      typeof body === 'function'
        ? body().once('error', (err) => {
            failure ??= { err };
            part$.abort(err);
          })
        : body;
    const abortSignal = put.signal ? AbortSignal.any([put.signal, part$.signal]) : part$.signal;
    const p: Promise<void> = client
      .send(new UploadPartCommand({ ...upload, PartNumber: part.number, Body, ContentLength: part.length }), {
        abortSignal,
      })
      .then(
        (res) => {
          etags.set(part.number, res.ETag!);
          sent += part.length;
          done += part.length;
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
      send(block, body);
    }
    await Promise.all(inflight);
    if (failure) throw failure.err;
    return { bytesSent: sent, etags };
  } finally {
    await Promise.allSettled([...inflight]);
  }
}
