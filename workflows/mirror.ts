// One run of an object mirror: its plan, the application's new versions batch by batch at the site (each batch's
// outcome recorded before the next, so the cursor only moves over versions on record), failures alerted once, then
// the deletions whose grace period has passed. No I/O here.
import { ApplicationFailure, isCancellation, log, workflowInfo } from '@temporalio/workflow';
import type { MirrorRunCounts } from '../activities/central/mirrors.ts';
import type { MirrorBatchResult, MirrorPlan } from '../common/mirror.ts';
import { bookkeeping, central, describeFailure, siteActivities } from './activities.ts';

export interface MirrorWorkflowInput {
  mirrorId: string;
  /** The run's "now" for the delete grace period; the run's start time unless given (tests inject it). */
  asOf?: string;
}

/** Rows per batch: small enough for a payload of references, large enough that a big backlog takes few steps. */
const BATCH = 200;

export async function mirrorWorkflow(input: MirrorWorkflowInput): Promise<MirrorRunCounts> {
  const plan = await bookkeeping().loadMirrorPlan({ mirrorId: input.mirrorId });
  const ledger = bookkeeping(plan.tuning);
  const site = siteActivities(plan.taskQueue, plan.tuning);
  const startedAt = workflowInfo().startTime.toISOString();
  const ref = { tenantId: plan.tenantId, mirrorId: plan.mirrorId, startedAt };
  await ledger.recordMirrorRun({ ...ref, status: 'running' });
  const counts: MirrorRunCounts = { fetched: 0, reused: 0, failed: 0, superseded: 0, pruned: 0, deleted: 0, bytes: 0 };
  try {
    let cursor = plan.cursor;
    for (let more = true; more;) {
      const batch = await site.long.mirrorObjects({
        serverName: plan.serverName,
        database: plan.database,
        layout: plan.layout,
        cursor,
        limit: BATCH,
        keepVersions: plan.keepVersions,
        concurrency: plan.concurrency,
        maxBytesPerSecond: plan.maxBytesPerSecond,
      });
      count(counts, batch);
      const { unalerted } = await ledger.recordMirrorBatch({ tenantId: plan.tenantId, mirrorId: plan.mirrorId, batch });
      await alertFailures(plan, unalerted);
      cursor = batch.cursor;
      more = batch.more;
    }
    const deletions = await site.quick.applyMirrorDeletions({
      serverName: plan.serverName,
      database: plan.database,
      layout: plan.layout,
      graceDays: plan.deleteGraceDays,
      asOf: input.asOf ?? startedAt,
      since: plan.deleteCursor,
    });
    counts.deleted = deletions.removed.reduce((n, r) => n + r.files, 0);
    await ledger.recordMirrorDeletions({ mirrorId: plan.mirrorId, removed: deletions.removed, since: deletions.since });
  } catch (err) {
    const error = describeFailure(err, plan.siteName);
    await ledger.recordMirrorRun({ ...ref, status: 'failed', counts, error });
    if (!isCancellation(err)) await alert(plan, `object mirror '${plan.mirrorName}' failed: ${error}`);
    throw err;
  }
  await ledger.recordMirrorRun({ ...ref, status: counts.failed > 0 ? 'partial' : 'succeeded', counts });
  if (counts.failed > 0)
    throw ApplicationFailure.nonRetryable(
      `${counts.failed} object versions could not be mirrored (see the mirror's versions)`,
      'MirrorPartial',
      counts,
    );
  return counts;
}

function count(counts: MirrorRunCounts, batch: MirrorBatchResult): void {
  for (const v of batch.versions) {
    if (v.state === 'failed') counts.failed++;
    else if (v.state === 'superseded') counts.superseded++;
    else if (v.reused) counts.reused++;
    else counts.fetched++;
  }
  counts.pruned += batch.pruned.length;
  counts.bytes += batch.fetchedBytes;
}

/** One alert per batch for the failures not yet alerted; then they are marked, so each is alerted once. */
async function alertFailures(
  plan: MirrorPlan,
  unalerted: { id: string; bucket: string; path: string; version: number; error: string | null }[],
): Promise<void> {
  if (unalerted.length === 0) return;
  const list = unalerted.map((f) => `${f.bucket}:${f.path} v${f.version}: ${f.error ?? 'failed'}`).join('; ');
  const sent = await alert(plan, `${unalerted.length} object versions not mirrored: ${list}`);
  if (sent) await central.markMirrorAlerted({ ids: unalerted.map((f) => f.id) });
}

async function alert(plan: MirrorPlan, message: string): Promise<boolean> {
  return central
    .alert({
      tenantId: plan.tenantId,
      configName: plan.mirrorName,
      serverName: plan.serverName,
      siteName: plan.siteName,
      database: plan.database,
      message,
      event: 'mirror.failed',
    })
    .then(() => true)
    .catch((e: unknown) => {
      log.warn('alert not delivered', { error: String(e) });
      return false;
    });
}
