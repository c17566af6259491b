// An object mirror's bookkeeping: its plan (read once per run), each batch's versions and cursor, the deletions the
// site applied, which failures were alerted, and the run's row with its counts. Each write is safe to run twice.
import { and, eq, inArray, isNull, lte, sql } from 'drizzle-orm';
import { BackupError } from '../../common/errors.ts';
import type { MirrorBatchResult, MirrorPlan, MirrorRemoved } from '../../common/mirror.ts';
import { objectMirrorRuns, objectMirrors, objectMirrorVersions, servers, sites } from '../../db/schema.ts';
import { asActivity } from '../failure.ts';
import type { CentralContext } from './context.ts';

export interface MirrorRunCounts {
  fetched: number;
  reused: number;
  failed: number;
  superseded: number;
  pruned: number;
  deleted: number;
  bytes: number;
}

export interface UnalertedFailure {
  id: string;
  bucket: string;
  path: string;
  version: number;
  error: string | null;
}

export function createLoadMirrorPlan(central: CentralContext) {
  return async function loadMirrorPlan(input: { mirrorId: string }): Promise<MirrorPlan> {
    return asActivity(async () => {
      const [row] = await central.db
        .select({ mirror: objectMirrors, server: servers, site: sites })
        .from(objectMirrors)
        .innerJoin(servers, eq(servers.id, objectMirrors.serverId))
        .innerJoin(sites, eq(sites.id, servers.siteId))
        .where(eq(objectMirrors.id, input.mirrorId));
      if (!row)
        throw new BackupError('invalid', `object mirror ${input.mirrorId} no longer exists; delete its schedule`, {
          code: 'MirrorNotFound',
        });
      const m = row.mirror;
      return {
        tenantId: m.tenantId,
        mirrorId: m.id,
        mirrorName: m.name,
        siteId: row.site.id,
        siteName: row.site.name,
        taskQueue: row.site.taskQueue,
        serverName: row.server.name,
        database: m.database,
        layout: m.layout,
        keepVersions: m.keepVersions,
        deleteGraceDays: m.deleteGraceDays,
        concurrency: m.concurrency,
        maxBytesPerSecond: m.maxBytesPerSecond,
        cursor: m.cursor,
        deleteCursor: m.deleteCursor?.toISOString() ?? null,
        tuning: central.tuning,
      };
    });
  };
}

export function createRecordMirrorRun(central: CentralContext) {
  /** The run's row: written as running at its start, with its counts and outcome at its end. */
  return async function recordMirrorRun(input: {
    tenantId: string;
    mirrorId: string;
    startedAt: string;
    status: 'running' | 'succeeded' | 'partial' | 'failed';
    counts?: MirrorRunCounts;
    error?: string;
  }): Promise<void> {
    return asActivity(async () => {
      const { workflowId, runId } = central.runInfo();
      const end = input.status === 'running' ? {} : { finishedAt: new Date(), ...input.counts };
      await central.db
        .insert(objectMirrorRuns)
        .values({
          tenantId: input.tenantId,
          mirrorId: input.mirrorId,
          workflowId,
          runId,
          status: input.status,
          startedAt: new Date(input.startedAt),
          error: input.error ?? null,
          ...end,
        })
        .onConflictDoUpdate({
          target: objectMirrorRuns.runId,
          set: { status: input.status, error: input.error ?? null, ...end },
        });
    });
  };
}

export function createRecordMirrorBatch(central: CentralContext) {
  /**
   * Each version's state, the pruned ones, and the cursor, in one transaction; answers the failures of this mirror
   * not yet alerted (this batch's and any an earlier run could not alert).
   */
  return async function recordMirrorBatch(input: {
    tenantId: string;
    mirrorId: string;
    batch: MirrorBatchResult;
  }): Promise<{ unalerted: UnalertedFailure[] }> {
    return asActivity(async () => {
      const { tenantId, mirrorId, batch } = input;
      const now = new Date();
      return central.db.transaction(async (tx) => {
        for (const v of batch.versions) {
          const values = {
            state: v.state,
            key: v.key ?? null,
            sourceBytes: v.sourceBytes ?? null,
            storedBytes: v.storedBytes ?? null,
            sha256: v.sha256 ?? null,
            failure: v.failure ?? null,
            error: v.error ?? null,
            updatedAt: now,
            ...(v.state === 'stored' && !v.reused ? { storedAt: now } : {}),
          };
          await tx
            .insert(objectMirrorVersions)
            .values({
              tenantId,
              mirrorId,
              fileId: v.fileId,
              bucket: v.bucket,
              path: v.path,
              version: v.version,
              ...values,
            })
            .onConflictDoUpdate({
              target: [
                objectMirrorVersions.mirrorId,
                objectMirrorVersions.bucket,
                objectMirrorVersions.path,
                objectMirrorVersions.version,
              ],
              set: values,
            });
        }
        await markRemoved(tx, mirrorId, batch.pruned, 'pruned', now);
        await tx.update(objectMirrors).set({ cursor: batch.cursor }).where(eq(objectMirrors.id, mirrorId));
        const unalerted = await tx
          .select({
            id: objectMirrorVersions.id,
            bucket: objectMirrorVersions.bucket,
            path: objectMirrorVersions.path,
            version: objectMirrorVersions.version,
            error: objectMirrorVersions.error,
          })
          .from(objectMirrorVersions)
          .where(
            and(
              eq(objectMirrorVersions.mirrorId, mirrorId),
              eq(objectMirrorVersions.state, 'failed'),
              isNull(objectMirrorVersions.alertedAt),
            ),
          )
          .limit(50);
        return { unalerted };
      });
    });
  };
}

type Tx = Parameters<Parameters<CentralContext['db']['transaction']>[0]>[0];

async function markRemoved(
  tx: Tx,
  mirrorId: string,
  removed: MirrorRemoved[],
  state: 'pruned' | 'deleted',
  now: Date,
  upTo = false,
) {
  for (const r of removed)
    await tx
      .update(objectMirrorVersions)
      .set({ state, removedAt: now, updatedAt: now })
      .where(
        and(
          eq(objectMirrorVersions.mirrorId, mirrorId),
          eq(objectMirrorVersions.bucket, r.bucket),
          eq(objectMirrorVersions.path, r.path),
          upTo ? lte(objectMirrorVersions.version, r.version) : eq(objectMirrorVersions.version, r.version),
          inArray(objectMirrorVersions.state, ['stored', 'superseded']),
        ),
      );
}

export function createRecordMirrorDeletions(central: CentralContext) {
  /** The deletions the site applied: every version up to the deleted one is `deleted`; the cursor moves on. */
  return async function recordMirrorDeletions(input: {
    mirrorId: string;
    removed: MirrorRemoved[];
    since: string | null;
  }): Promise<void> {
    return asActivity(async () => {
      await central.db.transaction(async (tx) => {
        await markRemoved(tx, input.mirrorId, input.removed, 'deleted', new Date(), true);
        await tx
          .update(objectMirrors)
          .set({ deleteCursor: input.since ? new Date(input.since) : null })
          .where(eq(objectMirrors.id, input.mirrorId));
      });
    });
  };
}

export function createMarkMirrorAlerted(central: CentralContext) {
  return async function markMirrorAlerted(input: { ids: string[] }): Promise<void> {
    return asActivity(async () => {
      if (input.ids.length === 0) return;
      await central.db
        .update(objectMirrorVersions)
        .set({ alertedAt: sql`now()` })
        .where(inArray(objectMirrorVersions.id, input.ids));
    });
  };
}
