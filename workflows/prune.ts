// Retention: each target of a configuration keeps what its policy says; the rest is deleted at the site's hands
// (only the site holds the destinations' credentials) and marked deleted in the history.
import { log } from '@temporalio/workflow';
import type { BackupPlan } from '../activities/contracts.ts';
import { central, describeFailure, siteActivities } from './activities.ts';

export interface PruneWorkflowResult {
  deleted: { target: string; keys: string[] }[];
  failed: { target: string; error: string }[];
}

/** Applies retention now, without a backup: what the API's preview listed is what this deletes. */
export async function pruneWorkflow(input: { configId: string }): Promise<PruneWorkflowResult> {
  const plan = await central.loadBackupPlan({ configId: input.configId });
  return applyRetention(plan, siteActivities(plan.taskQueue, plan.tuning));
}

export async function applyRetention(
  plan: BackupPlan,
  site: ReturnType<typeof siteActivities>,
): Promise<PruneWorkflowResult> {
  const result: PruneWorkflowResult = { deleted: [], failed: [] };
  for (const t of await central.planPrune({ configId: plan.configId })) {
    if (t.copies.length === 0) continue;
    try {
      // A target that is down keeps its copies until the next run; nothing else waits for it.
      const { deleted } = await site.quick.deleteCopies({ target: t.target, keys: t.copies.map((c) => c.key) });
      const gone = new Set(deleted);
      await central.markCopiesDeleted({ copyIds: t.copies.filter((c) => gone.has(c.key)).map((c) => c.copyId) });
      result.deleted.push({ target: t.target, keys: deleted });
    } catch (err) {
      const error = describeFailure(err, plan.siteName);
      log.warn('retention could not delete copies', { target: t.target, error });
      result.failed.push({ target: t.target, error });
    }
  }
  return result;
}
