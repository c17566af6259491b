// Erasing a tenant on request: its schedules paused then deleted, its workflow executions deleted from Temporal,
// every copy of its backups deleted by each of its sites (their own Backups folder and every destination), then
// every metadata row, and a signed report of it all. A site that is offline is waited for, never skipped: the
// report lists each wait.
import { ActivityFailure, proxyActivities, sleep, TimeoutFailure } from '@temporalio/workflow';
import { TimeoutType } from '@temporalio/common';
import type { SiteErasure } from '../activities/central/erasure.ts';
import type { SiteActivities } from '../activities/site/index.ts';
import type { ErasureReport } from '../common/erasure.ts';
import type { CentralActivities } from '../activities/central/index.ts';
import { bookkeeping, central, describeFailure } from './activities.ts';

export interface EraseTenantInput {
  erasureId: string;
  tenantId: string;
}

/** Listing and deleting executions waits on Temporal's visibility: a longer step that heartbeats. */
const temporalSteps = proxyActivities<CentralActivities>({
  startToCloseTimeout: '10 minutes',
  heartbeatTimeout: '1 minute',
  retry: { initialInterval: '1 second', maximumInterval: '1 minute' },
});

/** How long a target that failed for another reason than its site being offline waits before the next attempt. */
const RETRY_TARGET_AFTER = '1 minute';

export async function eraseTenantWorkflow(input: EraseTenantInput): Promise<{ erasureId: string }> {
  const { tenantId } = input;
  const { schedules } = await central.eraseTenantSchedules({ tenantId });
  // Runs stop before their files go, so none writes a file after the sweep.
  const before = await temporalSteps.eraseTenantWorkflows({ tenantId });
  const plan = await central.planTenantErasure({ tenantId });
  const { tuning } = await central.runTuning();

  const copies: ErasureReport['copies'] = [];
  const waits: ErasureReport['waits'] = [];
  for (const site of plan) {
    const acts = proxyActivities<SiteActivities>({
      taskQueue: site.taskQueue,
      scheduleToStartTimeout: tuning.sitePickupTimeoutMs,
      startToCloseTimeout: '10 minutes',
      heartbeatTimeout: tuning.dumpHeartbeatTimeoutMs,
      retry: { initialInterval: tuning.retryInitialMs, maximumInterval: '5 minutes', maximumAttempts: 5 },
    });
    for (const t of site.targets) {
      const keys = await untilDone(site, t.target, waits, async () => {
        const recorded = t.keys.length ? (await acts.deleteCopies({ target: t.target, keys: t.keys })).deleted : [];
        const swept = (await acts.sweepTenantFiles({ target: t.target, prefix: t.sweepPrefix })).deleted;
        return [...new Set([...recorded, ...swept])].sort();
      });
      copies.push({ siteId: site.siteId, target: t.target, kind: t.kind, keys });
    }
  }

  // A run a schedule started in the instant before its pause, or a download asked meanwhile, goes too.
  const after = await temporalSteps.eraseTenantWorkflows({ tenantId });
  const { rows } = await bookkeeping().deleteTenantRows({ tenantId });
  await bookkeeping().finishTenantErasure({
    erasureId: input.erasureId,
    report: {
      tenantId,
      schedules,
      workflows: [...before.workflows, ...after.workflows],
      copies,
      waits,
      rows,
    },
  });
  return { erasureId: input.erasureId };
}

/**
 * Retries the deletion at one target until it succeeds. A site that does not pick the task up (offline) is waited for
 * by the pick-up timeout itself; any other failure (a destination down) waits a minute. Each distinct reason is noted.
 */
async function untilDone(
  site: SiteErasure,
  target: string,
  waits: ErasureReport['waits'],
  attempt: () => Promise<string[]>,
): Promise<string[]> {
  for (;;) {
    try {
      return await attempt();
    } catch (err) {
      const offline = isPickupTimeout(err);
      const reason = offline ? 'site offline: waited for its worker' : describeFailure(err, site.siteId);
      if (!waits.some((w) => w.siteId === site.siteId && w.target === target && w.reason === reason))
        waits.push({ siteId: site.siteId, target, reason });
      if (!offline) await sleep(RETRY_TARGET_AFTER);
    }
  }
}

function isPickupTimeout(err: unknown): boolean {
  let e: unknown = err;
  while (e instanceof ActivityFailure && e.cause) e = e.cause;
  return e instanceof TimeoutFailure && e.timeoutType === TimeoutType.SCHEDULE_TO_START;
}
