// A presigned S3 GET (Signature Version 4, query authentication) for one copy, signed with the destination's delegated
// read-only key: the client fetches the object from the bucket itself, for a few minutes, and the key stays here.
import { createHash, createHmac } from 'node:crypto';
import { secret } from '../../activities/secrets.ts';
import type { S3DestinationSettings } from '../../activities/storage/index.ts';

/** RFC 3986 encoding as SigV4 wants it: everything but unreserved characters. */
const encode = (s: string) =>
  encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
const hmac = (key: Buffer | string, data: string) => createHmac('sha256', key).update(data).digest();
const sha256 = (data: string) => createHash('sha256').update(data).digest('hex');

export function presignS3Get(
  s: S3DestinationSettings,
  objectKey: string,
  opts: { expiresSeconds: number; fileName: string; now?: Date },
): { url: string; expiresAt: Date } {
  const accessKeyId = secret('accessKeyId', s.accessKeyId, s.accessKeyIdEnv, undefined)!;
  const secretAccessKey = secret('secretAccessKey', s.secretAccessKey, s.secretAccessKeyEnv, s.secretAccessKeyFile)!;
  const endpoint = new URL(s.endpoint ?? `https://s3.${s.region}.amazonaws.com`);
  const key = s.prefix ? `${s.prefix}/${objectKey}` : objectKey;
  const keyPath = key.split('/').map(encode).join('/');
  const host = s.forcePathStyle ? endpoint.host : `${s.bucket}.${endpoint.host}`;
  const path = s.forcePathStyle ? `/${encode(s.bucket)}/${keyPath}` : `/${keyPath}`;

  const now = opts.now ?? new Date();
  const amzDate = now
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '');
  const day = amzDate.slice(0, 8);
  const scope = `${day}/${s.region}/s3/aws4_request`;
  const query: Record<string, string> = {
    'X-Amz-Algorithm': 'AWS4-HMAC-SHA256',
    'X-Amz-Credential': `${accessKeyId}/${scope}`,
    'X-Amz-Date': amzDate,
    'X-Amz-Expires': String(opts.expiresSeconds),
    'X-Amz-SignedHeaders': 'host',
    'response-content-disposition': `attachment; filename="${opts.fileName}"`,
  };
  const canonicalQuery = Object.keys(query)
    .sort()
    .map((k) => `${encode(k)}=${encode(query[k]!)}`)
    .join('&');
  const canonicalRequest = ['GET', path, canonicalQuery, `host:${host}`, '', 'host', 'UNSIGNED-PAYLOAD'].join('\n');
  const toSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256(canonicalRequest)].join('\n');
  const signingKey = ['s3', 'aws4_request'].reduce<Buffer>(
    (k, part) => hmac(k, part),
    hmac(hmac(`AWS4${secretAccessKey}`, day), s.region),
  );
  const signature = createHmac('sha256', signingKey).update(toSign).digest('hex');
  return {
    url: `${endpoint.protocol}//${host}${path}?${canonicalQuery}&X-Amz-Signature=${signature}`,
    expiresAt: new Date(now.getTime() + opts.expiresSeconds * 1000),
  };
}
