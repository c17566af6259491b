// Sync: every copy that should exist is checked at its site (size and SHA-256, read end to end); a missing or
// corrupt copy is copied again from a good one; a backup with no good copy left raises an alert.
import type { CheckResult, Repair } from '../activities/contracts.ts';
import { central, describeFailure, siteActivities } from './activities.ts';

export interface SyncWorkflowInput {
  /** One tenant (the API's sync call), or every tenant (the periodic schedule). */
  tenantId?: string;
}

export interface SyncWorkflowResult {
  checked: number;
  stored: number;
  repaired: number;
  lost: string[];
  unreachableSites: string[];
}

export async function syncWorkflow(input: SyncWorkflowInput): Promise<SyncWorkflowResult> {
  const result: SyncWorkflowResult = { checked: 0, stored: 0, repaired: 0, lost: [], unreachableSites: [] };
  const { tuning } = await central.runTuning();
  for (const batch of await central.listCopiesToCheck({ tenantId: input.tenantId })) {
    const site = siteActivities(batch.taskQueue, tuning);
    let results: CheckResult[];
    try {
      const checked = await site.long.checkCopies({ copies: batch.copies });
      results = checked.results;
      // A destination that cannot be reached says nothing about its copies: they keep their state until it answers.
      for (const u of checked.unreachable) result.unreachableSites.push(`${batch.siteName}/${u.target}: ${u.error}`);
    } catch (err) {
      result.unreachableSites.push(`${batch.siteName}: ${describeFailure(err, batch.siteName)}`);
      continue;
    }
    result.checked += results.length;
    result.stored += results.filter((r) => r.state === 'stored').length;
    const repairs: Repair[] = await central.recordCheckResults({ results });
    // A backup with no good copy left is one alert, naming every copy that is gone.
    for (const lost of Map.groupBy(
      repairs.filter((r) => !r.from),
      (r) => r.backupId,
    ).values()) {
      const what = lost.map((r) => r.what).join(', ');
      result.lost.push(what);
      await central
        .alert({
          tenantId: lost[0]!.tenantId,
          siteName: batch.siteName,
          event: 'copy.lost',
          message: `no good copy is left to repair from: ${what}`,
        })
        .catch(() => undefined);
    }
    for (const r of repairs) {
      if (!r.from) continue;
      try {
        const up = await site.long.upload({
          source: r.from,
          target: r.to.target,
          key: r.to.key,
          sizeBytes: r.sizeBytes,
          sha256: r.sha256,
        });
        await central.recordRepair({ copyId: r.copyId, from: r.from, location: up.location, ok: true });
        result.repaired++;
      } catch (err) {
        await central.recordRepair({
          copyId: r.copyId,
          from: r.from,
          ok: false,
          error: describeFailure(err, batch.siteName),
        });
      }
    }
  }
  return result;
}
