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
import { sendPieces, type Piece } from './azure-blocks.ts';
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

  const etags = new Map<number, string>();
  const bytesSent = await sendPieces(source, missing, resumedFrom, put, concurrency, async (part, body, failed) => {
    // A failing source also aborts its request: the SDK would otherwise wait for bytes that never come, and the
    // server for the rest of the Content-Length.
    const part$ = new AbortController();
    const Body =
      typeof body === 'function'
        ? body().once('error', (err) => {
            failed(err);
            part$.abort(err);
          })
        : body;
    const signal = put.signal ? AbortSignal.any([put.signal, part$.signal]) : part$.signal;
    const res = await client.send(
      new UploadPartCommand({ Bucket, Key, UploadId, PartNumber: part.number, Body, ContentLength: part.length }),
      { abortSignal: signal },
    );
    etags.set(part.number, res.ETag!);
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
