// Downloads straight from a cloud copy, so a backup can be had while the site that made it is offline (or gone).
// The site's write credentials never leave the site: the central side is given, per destination, a DELEGATED
// READ-ONLY credential (S3: the key pair of an identity that may only read the bucket/prefix; Azure: a SAS with read
// permission only, best tied to a stored access policy so it can be revoked) in a file of its own, CLOUD_READ_FILE,
// never in the database and never logged. The file is read at each download, so a rotated credential or a new
// destination is taken without a restart. Its shape:
//   { "destinations": { "<destination id>": { "type": "s3", "bucket": ..., "secretAccessKeyFile": ... }, ... } }
// with the same settings as the site's configuration of that destination (storage/index.ts).
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { Readable, Transform } from 'node:stream';
import { z } from 'zod';
import { BackupError, invalid } from '../../common/errors.ts';
import { destinationSettingsSchema, openStorage, type DestinationSettings } from '../../activities/storage/index.ts';
import type { Storage } from '../../activities/storage/storage.ts';

const cloudReadFileSchema = z.object({ destinations: z.record(z.string().uuid(), destinationSettingsSchema) }).strict();

export interface CopyRow {
  target: string;
  destinationId: string | null;
  objectKey: string;
  location: string | null;
}

/** The delegated credentials of every destination that has one; none when CLOUD_READ_FILE is not set. */
export async function readCloudReadFile(file: string | undefined): Promise<Record<string, DestinationSettings>> {
  if (!file) return {};
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new BackupError('unavailable', `CLOUD_READ_FILE ${file} cannot be read (${(err as { code?: string }).code})`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new BackupError('unavailable', `CLOUD_READ_FILE ${file} is not JSON`); // the parser's message may quote a key
  }
  const parsed = cloudReadFileSchema.safeParse(json);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    throw new BackupError('unavailable', `CLOUD_READ_FILE ${file} is invalid: ${lines.join('; ')}`);
  }
  return parsed.data.destinations;
}

/**
 * The copy's storage opened with its destination's delegated credential, or why it cannot be. The storage must name
 * the copy where the history says it is: a credential for another bucket or prefix is refused, not guessed at.
 */
export function openCloudCopy(
  delegated: Record<string, DestinationSettings>,
  copy: CopyRow,
): { storage: Storage; settings: DestinationSettings } | { reason: string; detail?: string } {
  const settings = copy.destinationId ? delegated[copy.destinationId] : undefined;
  if (!settings) return { reason: `${copy.target}: no delegated read credential for it in CLOUD_READ_FILE` };
  if (settings.type !== 's3' && settings.type !== 'azure')
    return { reason: `${copy.target}: CLOUD_READ_FILE may only name S3 or Azure destinations` };
  let storage: Storage;
  try {
    storage = openStorage(settings);
  } catch (err) {
    // The reason goes to the tenant; the detail (which may name the operator's files) to the API's log only.
    return {
      reason: `${copy.target}: its delegated read credential cannot be used (the operator's log says why)`,
      detail: (err as Error).message,
    };
  }
  if (copy.location && storage.locationOf(copy.objectKey) !== copy.location) {
    void storage.close();
    return {
      reason: `${copy.target}: the delegated credential's storage is not where the copy is (${copy.location}): check bucket/container and prefix`,
    };
  }
  return { storage, settings };
}

/**
 * The copy's bytes, checked as they pass: a stream that ends with other bytes than the history's size and SHA-256
 * fails instead of ending, so the client never holds a silently wrong file.
 */
export async function streamVerified(
  storage: Storage,
  copy: CopyRow,
  expected: { sizeBytes: number; sha256: string },
): Promise<ReadableStream<Uint8Array>> {
  const stat = await storage.stat(copy.objectKey);
  if (!stat) throw new BackupError('not_found', `${copy.target}: the copy is not in the storage`);
  if (stat.size !== expected.sizeBytes)
    throw invalid(`${copy.target}: the stored copy has ${stat.size} bytes, the backup ${expected.sizeBytes}`);
  const body = await storage.get(copy.objectKey);
  const hash = createHash('sha256');
  let size = 0;
  const check = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      size += chunk.length;
      hash.update(chunk);
      cb(null, chunk);
    },
    flush(cb) {
      const sha = hash.digest('hex');
      if (size === expected.sizeBytes && sha === expected.sha256) cb();
      else cb(new Error(`${copy.target}: the copy read has ${size} bytes with SHA-256 ${sha}, not the backup's`));
    },
  });
  body.once('error', (err) => check.destroy(err));
  check.once('close', () => {
    body.destroy();
    void storage.close();
  });
  return Readable.toWeb(body.pipe(check)) as ReadableStream<Uint8Array>;
}
