// A backup's copies as the history records them, and its download: straight from a cloud copy with a delegated read
// credential (cloud-read.ts), else the site worker streams the best copy it can read through the API's relay
// (agent/relay.ts), started by a transfer workflow.
import { and, asc, desc, eq, inArray, sql } from 'drizzle-orm';
import { BackupError } from '../../common/errors.ts';
import { SITE_TARGET } from '../../common/model.ts';
import type { Db } from '../../db/client.ts';
import { backupCopies, backups, copyEvents, sites } from '../../db/schema.ts';
import { ONLINE_WINDOW_MS, siteLastSeen } from '../../common/temporal.ts';
import { iso } from '../lib/http.ts';
import type { Services } from '../lib/services.ts';
import { openCloudCopy, readCloudReadFile, streamVerified } from './cloud-read.ts';
import { presignS3Get } from './presign.ts';

type BackupRow = typeof backups.$inferSelect;

/** Every copy of a backup (the site's first, then destinations by name), each with its events in order. */
export async function copies(db: Db, b: BackupRow) {
  const rows = await db
    .select()
    .from(backupCopies)
    .where(eq(backupCopies.backupId, b.id))
    .orderBy(sql`${backupCopies.target} = ${SITE_TARGET} desc`, asc(backupCopies.target));
  const events = rows.length
    ? await db
        .select()
        .from(copyEvents)
        .where(
          inArray(
            copyEvents.copyId,
            rows.map((x) => x.id),
          ),
        )
        .orderBy(asc(copyEvents.at))
    : [];
  return rows.map((x) => ({
    id: x.id,
    target: x.target,
    destinationId: x.destinationId,
    location: x.location,
    sizeBytes: x.sizeBytes,
    sha256: x.sha256,
    state: x.state,
    error: x.error,
    storedAt: iso(x.storedAt),
    checkedAt: iso(x.checkedAt),
    events: events
      .filter((e) => e.copyId === x.id)
      .map((e) => ({ event: e.event, detail: e.detail, workflowId: e.workflowId, at: e.at.toISOString() })),
  }));
}

/** What a download answers: the bytes as the site worker sends them, and what the headers say of them. */
export interface Download {
  body: ReadableStream<Uint8Array>;
  target: string;
  fileName: string;
  sizeBytes: number;
  sha256: string;
}

/**
 * The backup's bytes. First from a cloud copy whose destination has a delegated read credential (cloud-read.ts): that
 * needs neither the site nor Temporal, and works with the site burned down. Else the site streams its best copy,
 * and if it cannot read that one (gone since it was last checked), the next. 409 says why no copy could be had.
 */
export async function download(s: Services, b: BackupRow): Promise<Download> {
  const { stored, sizeBytes, sha256, fileName } = await storedCopies(s.db, b);
  const problems: string[] = [];
  const delegated = await delegatedCredentials(s);
  for (const copy of stored) {
    if (copy.target === SITE_TARGET || !copy.destinationId || !delegated[copy.destinationId]) continue;
    const opened = openCloudCopy(delegated, copy);
    if ('reason' in opened) {
      if (opened.detail) s.logger.error({ target: copy.target }, `delegated read credential: ${opened.detail}`);
      problems.push(opened.reason);
      continue;
    }
    try {
      const body = await streamVerified(opened.storage, copy, { sizeBytes, sha256 });
      return { body, target: copy.target, fileName, sizeBytes, sha256 };
    } catch (e) {
      await opened.storage.close();
      problems.push(`${copy.target}: ${(e as Error).message}`);
    }
  }
  const [site] = await s.db.select().from(sites).where(eq(sites.id, b.siteId));
  const lastSeen = await siteLastSeen(s.temporal, site!.taskQueue).catch(() => undefined);
  if (!lastSeen || Date.now() - lastSeen.getTime() > ONLINE_WINDOW_MS) {
    problems.push(`site ${site!.name} is offline (last seen ${lastSeen?.toISOString() ?? 'never'})`);
    throw new BackupError('conflict', `no copy of this backup can be reached: ${problems.join('; ')}`);
  }
  for (const copy of stored) {
    const transfer = s.relay.open(b.siteId, 60_000);
    const handle = await s.runs.startTransfer({
      transferId: transfer.id,
      taskQueue: site!.taskQueue,
      copy: { target: copy.target, key: copy.objectKey },
      sizeBytes,
      heartbeatTimeoutMs: 30_000,
    });
    // Either the site starts sending, or the workflow says why it cannot (the copy is gone, the site is offline).
    const failed = handle.result().then(
      () => new Promise<never>(() => {}),
      (e: Error) => {
        transfer.cancel();
        throw new BackupError('unavailable', `${copy.target}: ${(e.cause as Error | undefined)?.message ?? e.message}`);
      },
    );
    try {
      const body = await Promise.race([transfer.body, failed]);
      return { body, target: copy.target, fileName, sizeBytes, sha256 };
    } catch (e) {
      problems.push(`site ${site!.name}: ${(e as Error).message}`);
    }
  }
  throw new BackupError('conflict', `no copy of this backup can be reached: ${problems.join('; ')}`);
}

/** A short-lived presigned URL of an S3 copy, signed with its destination's delegated read-only key. */
export async function downloadUrl(s: Services, b: BackupRow, expiresSeconds: number) {
  const { stored, sizeBytes, sha256, fileName } = await storedCopies(s.db, b);
  const delegated = await delegatedCredentials(s);
  const problems: string[] = [];
  for (const copy of stored) {
    if (copy.target === SITE_TARGET) continue;
    const opened = openCloudCopy(delegated, copy);
    if ('reason' in opened) {
      if (opened.detail) s.logger.error({ target: copy.target }, `delegated read credential: ${opened.detail}`);
      problems.push(opened.reason);
      continue;
    }
    try {
      if (opened.settings.type !== 's3') {
        problems.push(`${copy.target}: only S3 copies have presigned URLs; download it through /download`);
        continue;
      }
      const st = await opened.storage.stat(copy.objectKey);
      if (st?.size !== sizeBytes) {
        problems.push(
          `${copy.target}: ${st ? `the stored copy has ${st.size} bytes` : 'the copy is not in the bucket'}`,
        );
        continue;
      }
      const signed = presignS3Get(opened.settings, copy.objectKey, { expiresSeconds, fileName });
      return { url: signed.url, expiresAt: signed.expiresAt.toISOString(), target: copy.target, sizeBytes, sha256 };
    } catch (e) {
      problems.push(`${copy.target}: ${(e as Error).message}`);
    } finally {
      await opened.storage.close();
    }
  }
  throw new BackupError(
    'conflict',
    `no S3 copy of this backup can be handed out: ${problems.join('; ') || 'it has no off-site copy'}`,
  );
}

async function storedCopies(db: Db, b: BackupRow) {
  const stored = await db
    .select()
    .from(backupCopies)
    .where(and(eq(backupCopies.backupId, b.id), eq(backupCopies.state, 'stored')))
    .orderBy(sql`${backupCopies.target} = ${SITE_TARGET} desc`, desc(backupCopies.checkedAt));
  if (stored.length === 0 || !b.sha256 || b.sizeBytes === null || !b.fileName)
    throw new BackupError('conflict', 'this backup has no stored copy to download');
  return { stored, sizeBytes: b.sizeBytes, sha256: b.sha256, fileName: b.fileName };
}

/**
 * CLOUD_READ_FILE's credentials. What is wrong with the file is the operator's to read in the API's log: it names the
 * file and other tenants' destinations, so the tenant hears only that downloads from the cloud are not set up right.
 */
async function delegatedCredentials(s: Services) {
  try {
    return await readCloudReadFile(s.cloudReadFile);
  } catch (err) {
    s.logger.error({ err }, 'CLOUD_READ_FILE cannot be used');
    throw new BackupError(
      'unavailable',
      "the delegated read credentials (CLOUD_READ_FILE) are misconfigured: the operator's log says why",
    );
  }
}
