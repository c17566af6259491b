// The copies of a backup, one row per target (the site and each destination), with an event for every change of
// state. A backup is downloadable while one of its copies is stored.
import { and, eq, inArray, ne, sql } from 'drizzle-orm';
import { SITE_TARGET, type CopyState } from '../../common/model.ts';
import type { Db } from '../../db/client.ts';
import { planTargetRetention, retentionTargets } from '../../db/retention.ts';
import { backupConfigs, backupCopies, backups, copyEvents } from '../../db/schema.ts';
import type { CopyRef } from '../contracts.ts';
import { asActivity } from '../failure.ts';
import type { CentralContext } from './context.ts';

export interface CopyOutcome {
  backupId: string;
  target: string;
  destinationId: string | null;
  key: string;
  state: CopyState;
  location?: string;
  sizeBytes?: number;
  sha256?: string;
  error?: string;
  /** Recorded in the copy's events: stored, missing, corrupt, repaired, deleted, verified. */
  event: string;
}

/** A backup is downloadable while one of its copies is stored. */
export async function refreshAvailability(tx: Pick<Db, 'update' | 'select'>, backupId: string): Promise<void> {
  await tx
    .update(backups)
    .set({
      availableForDownload: sql`exists (select 1 from ${backupCopies} where ${backupCopies.backupId} = ${backupId} and ${backupCopies.state} = 'stored')`,
    })
    .where(eq(backups.id, backupId));
}

async function writeCopy(
  db: Db,
  o: CopyOutcome,
  tenantId: string,
  run: { workflowId: string; activityKey: string } | null,
): Promise<string> {
  return db.transaction(async (tx) => {
    const now = new Date();
    const values = {
      objectKey: o.key,
      location: o.location ?? null,
      sizeBytes: o.sizeBytes ?? null,
      sha256: o.sha256 ?? null,
      state: o.state,
      error: o.error ?? null,
      updatedAt: now,
      ...(o.state === 'stored' && { storedAt: now, checkedAt: now }),
    };
    const [row] = await tx
      .insert(backupCopies)
      .values({ tenantId, backupId: o.backupId, target: o.target, destinationId: o.destinationId, ...values })
      .onConflictDoUpdate({ target: [backupCopies.backupId, backupCopies.target], set: values })
      .returning({ id: backupCopies.id });
    await tx
      .insert(copyEvents)
      .values({
        tenantId,
        copyId: row!.id,
        event: o.event,
        detail: o.error ?? null,
        workflowId: run?.workflowId ?? null,
        activityKey: run?.activityKey ?? null,
      })
      .onConflictDoNothing();
    await refreshAvailability(tx, o.backupId);
    return row!.id;
  });
}

export function createRecordCopy(central: CentralContext) {
  /** The key of a backup's copy at a destination: `<tenant>/<site>/<server>/<database>/<file>`. */
  return async function recordCopy(input: CopyOutcome & { tenantId: string }): Promise<void> {
    return asActivity(async () => {
      await writeCopy(central.db, input, input.tenantId, central.runInfo());
      if (input.state !== 'stored') {
        // The dump is safe at the site, but a promised copy is not: the run is partial, and says which copy failed.
        const failure = `copy to ${input.target} failed: ${input.error ?? input.state}`;
        await central.db
          .update(backups)
          .set({
            status: 'partial',
            // Said once: a retried recordCopy does not repeat it.
            error: sql`case when strpos(coalesce(${backups.error}, ''), ${failure}::text) > 0 then ${backups.error} else concat_ws('; ', ${backups.error}, ${failure}::text) end`,
          })
          .where(and(eq(backups.id, input.backupId), inArray(backups.status, ['succeeded', 'partial'])));
      }
      central.runLogger({ tenant_id: input.tenantId }).info(
        {
          event: { outcome: input.state === 'stored' ? 'success' : 'failure' },
          labels: { target: input.target },
          file: { path: input.key, size: input.sizeBytes },
        },
        `copy ${input.event}`,
      );
    });
  };
}

export function createRecordRepair(central: CentralContext) {
  /** A repaired copy is stored again; its events say it was repaired and from where. */
  return async function recordRepair(input: {
    copyId: string;
    from: CopyRef;
    location?: string;
    ok: boolean;
    error?: string;
  }): Promise<void> {
    return asActivity(async () => {
      const run = central.runInfo();
      const [copy] = await central.db.select().from(backupCopies).where(eq(backupCopies.id, input.copyId));
      if (!copy) return;
      await writeCopy(
        central.db,
        {
          backupId: copy.backupId,
          target: copy.target,
          destinationId: copy.destinationId,
          key: copy.objectKey,
          state: input.ok ? 'stored' : copy.state,
          location: input.location ?? copy.location ?? undefined,
          sizeBytes: copy.sizeBytes ?? undefined,
          sha256: copy.sha256 ?? undefined,
          event: input.ok ? 'repaired' : 'repair-failed',
          error: input.ok ? `copied again from ${input.from.target}` : input.error,
        },
        copy.tenantId,
        run,
      );
    });
  };
}

export function createPlanPrune(central: CentralContext) {
  /**
   * What retention removes now from each target of a configuration, per database: the same decision the API's
   * preview shows. Only copies that exist (stored, corrupt or missing) count; deleted ones are history.
   */
  return async function planPrune(input: {
    configId: string;
  }): Promise<{ target: string; copies: { copyId: string; key: string }[] }[]> {
    return asActivity(async () => {
      const [cfg] = await central.db.select().from(backupConfigs).where(eq(backupConfigs.id, input.configId));
      if (!cfg) return [];
      const out: { target: string; copies: { copyId: string; key: string }[] }[] = [];
      for (const t of await retentionTargets(central.db, cfg)) {
        const doomed = await planTargetRetention(central.db, cfg, t.target, t.policy);
        out.push({ target: t.target, copies: doomed.remove.map((r) => ({ copyId: r.copyId, key: r.key })) });
      }
      return out;
    });
  };
}

export function createMarkCopiesDeleted(central: CentralContext) {
  /** The site removed these copies. */
  return async function markCopiesDeleted(input: { copyIds: string[] }): Promise<number> {
    return asActivity(async () => {
      if (input.copyIds.length === 0) return 0;
      const { workflowId } = central.runInfo();
      return central.db.transaction(async (tx) => {
        const rows = await tx
          .update(backupCopies)
          .set({ state: 'deleted', updatedAt: new Date() })
          .where(and(inArray(backupCopies.id, input.copyIds), ne(backupCopies.state, 'deleted')))
          .returning({
            id: backupCopies.id,
            backupId: backupCopies.backupId,
            tenantId: backupCopies.tenantId,
            target: backupCopies.target,
          });
        for (const r of rows) {
          await tx
            .insert(copyEvents)
            .values({ tenantId: r.tenantId, copyId: r.id, event: 'deleted', detail: 'retention', workflowId });
          if (r.target === SITE_TARGET)
            await tx.update(backups).set({ location: null }).where(eq(backups.id, r.backupId));
          await refreshAvailability(tx, r.backupId);
        }
        return rows.length;
      });
    });
  };
}
