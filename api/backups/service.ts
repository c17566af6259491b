// A backup's copies as the history records them, and its download: the site worker streams the best copy it can
// read through the API's relay (agent/relay.ts), started by a transfer workflow.
import { and, asc, desc, eq, inArray, sql } from 'drizzle-orm';
import { BackupError } from '../../common/errors.ts';
import { SITE_TARGET } from '../../common/model.ts';
import type { Db } from '../../db/client.ts';
import { backupCopies, backups, copyEvents, sites } from '../../db/schema.ts';
import { iso } from '../lib/http.ts';
import type { Services } from '../lib/services.ts';

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

/** The backup's bytes from its best stored copy (the site's first); if the site cannot read one, the next. */
export async function download(s: Services, b: BackupRow): Promise<Download> {
  const stored = await s.db
    .select()
    .from(backupCopies)
    .where(and(eq(backupCopies.backupId, b.id), eq(backupCopies.state, 'stored')))
    .orderBy(sql`${backupCopies.target} = ${SITE_TARGET} desc`, desc(backupCopies.checkedAt));
  if (stored.length === 0 || !b.sha256 || b.sizeBytes === null || !b.fileName)
    throw new BackupError('conflict', 'this backup has no stored copy to download');
  const [site] = await s.db.select().from(sites).where(eq(sites.id, b.siteId));
  // The best copy first; if the site cannot read it (gone since it was last checked), the next one.
  const problems: string[] = [];
  for (const copy of stored) {
    const transfer = s.relay.open(b.siteId, 60_000);
    const handle = await s.runs.startTransfer({
      transferId: transfer.id,
      taskQueue: site!.taskQueue,
      copy: { target: copy.target, key: copy.objectKey },
      sizeBytes: b.sizeBytes,
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
      return { body, target: copy.target, fileName: b.fileName, sizeBytes: b.sizeBytes, sha256: b.sha256 };
    } catch (e) {
      problems.push((e as Error).message);
    }
  }
  throw new BackupError('unavailable', `the site could not send any copy of this backup: ${problems.join('; ')}`);
}
