// Restores and restore drills. A restore tries the stored copies the target site can read, best first: a copy that
// proves corrupt is marked so (with an alert) and the next one is tried; any other failure ends the restore.
import {
  ApplicationFailure,
  CancellationScope,
  CancelledFailure,
  isCancellation,
  log,
  patched,
} from '@temporalio/workflow';
import type { DryRunCheck, RestorePlan, RestoreResult } from '../activities/contracts.ts';
import { bookkeeping, central, describeFailure, siteActivities } from './activities.ts';

export interface RestoreWorkflowResult {
  copyTarget: string;
  restoreSeconds: number;
  /** Unknown when a retry found the restore finished by an attempt whose worker died. */
  rawBytes?: number;
}

export async function restoreWorkflow(input: { restoreId: string }): Promise<RestoreWorkflowResult> {
  const plan = await bookkeeping().loadRestorePlan({ restoreId: input.restoreId });
  try {
    const done = await restoreFromBestCopy(plan);
    await bookkeeping(plan.tuning).recordRestore({
      restoreId: plan.restoreId,
      status: 'succeeded',
      copyTarget: done.copyTarget,
      restoreSeconds: done.restoreSeconds,
      rawBytes: done.rawBytes,
    });
    if (patched('restore-finished-notice'))
      await central
        .alert({
          tenantId: plan.tenantId,
          siteName: plan.siteName,
          serverName: plan.serverName,
          database: plan.database,
          event: 'restore.finished',
          message: `restored ${plan.fileName} into ${plan.database} from ${done.copyTarget} in ${done.restoreSeconds} s`,
        })
        .catch(() => undefined);
    return done;
  } catch (err) {
    // A cancel that reaches an attempt whose worker died ends in that attempt's timeout: the restore was cancelled.
    const cancelled =
      isCancellation(err) || (CancellationScope.current().consideredCancelled && patched('restore-cancel-wins'));
    const error = describeFailure(err, plan.siteName);
    await CancellationScope.nonCancellable(async () => {
      await bookkeeping(plan.tuning).recordRestore({
        restoreId: plan.restoreId,
        status: cancelled ? 'cancelled' : 'failed',
        error,
      });
      if (!cancelled)
        await central
          .alert({
            tenantId: plan.tenantId,
            siteName: plan.siteName,
            serverName: plan.serverName,
            database: plan.database,
            event: 'restore.failed',
            message: error,
          })
          .catch(() => undefined);
      // An attempt that died (its worker killed) cleaned nothing up: its staging database goes now, unless it is the
      // complete restore the error asks to rename by hand. After the record, so a site that is down delays only this.
      if (plan.overwrite && failureType(err) !== 'RenameFailed' && patched('restore-drops-staging'))
        await siteActivities(plan.taskQueue, plan.tuning)
          .quick.dropRestoreStaging({ serverName: plan.serverName, restoreId: plan.restoreId })
          .catch((e: unknown) => log.warn('staging database not dropped', { error: String(e) }));
    });
    if (cancelled) throw isCancellation(err) ? err : new CancelledFailure(error);
    throw ApplicationFailure.nonRetryable(error, 'RestoreFailed');
  }
}

async function restoreFromBestCopy(plan: RestorePlan): Promise<RestoreWorkflowResult> {
  const site = siteActivities(plan.taskQueue, plan.tuning);
  // What crashed restores and drills left on this server goes first; a failure to sweep is not this restore's.
  if (plan.sweepMadeBefore && patched('restore-sweeps-scratch'))
    await site.quick
      .sweepRestoreScratch({ serverName: plan.serverName, madeBefore: plan.sweepMadeBefore })
      .catch((e: unknown) => log.warn('scratch databases not swept', { error: String(e) }));
  // With globals: the roles first (owners and grantees must exist), the dump with its owners and privileges, then
  // the database's own owner, grants and settings.
  const globals = plan.globals && patched('apply-globals') ? plan.globals : undefined;
  if (globals) await applyGlobalsStep(plan, globals, 'roles');
  const refused: string[] = [];
  for (const copy of plan.candidates) {
    let result: RestoreResult;
    try {
      result = await site.long.restore({
        source: { target: copy.target, key: copy.key },
        sizeBytes: plan.sizeBytes,
        sha256: plan.sha256,
        fileName: plan.fileName,
        serverName: plan.serverName,
        database: plan.database,
        overwrite: plan.overwrite,
        restoreId: plan.restoreId,
        drill: plan.kind === 'drill',
        ...(globals && { keepOwners: true }),
      });
    } catch (err) {
      if (failureType(err) !== 'CopyCorrupt') throw err;
      const detail = describeFailure(err, plan.siteName);
      refused.push(`${copy.target}: ${detail}`);
      await central.recordCheckResults({ results: [{ copyId: copy.copyId, state: 'corrupt', detail }] });
      await central
        .alert({
          tenantId: plan.tenantId,
          siteName: plan.siteName,
          event: 'copy.corrupt',
          message: `restore of ${plan.fileName} refused the copy at ${copy.target}: ${detail}`,
        })
        .catch(() => undefined);
      log.warn('copy refused; trying the next one', { target: copy.target });
      continue;
    }
    if (globals) await applyGlobalsStep(plan, globals, 'database');
    return {
      copyTarget: copy.target,
      restoreSeconds: result.seconds,
      rawBytes: result.recovered ? undefined : result.rawBytes,
    };
  }
  throw ApplicationFailure.nonRetryable(
    plan.candidates.length === 0
      ? `no stored copy of ${plan.fileName} is readable from site '${plan.siteName}'`
      : `every copy of ${plan.fileName} was refused: ${refused.join('; ')}`,
    'NoGoodCopy',
  );
}

/** One step of applying the run's globals, from the first copy that proves good (a corrupt one is marked so). */
async function applyGlobalsStep(
  plan: RestorePlan,
  globals: NonNullable<RestorePlan['globals']>,
  step: 'roles' | 'database',
): Promise<void> {
  const site = siteActivities(plan.taskQueue, plan.tuning);
  const refused: string[] = [];
  for (const copy of globals.candidates) {
    try {
      await site.quick.applyGlobals({
        source: { target: copy.target, key: copy.key },
        sizeBytes: globals.sizeBytes,
        sha256: globals.sha256,
        fileName: globals.fileName,
        serverName: plan.serverName,
        step,
        sourceDatabase: globals.sourceDatabase,
        database: plan.database,
      });
      return;
    } catch (err) {
      if (failureType(err) !== 'CopyCorrupt') throw err;
      const detail = describeFailure(err, plan.siteName);
      refused.push(`${copy.target}: ${detail}`);
      await central.recordCheckResults({ results: [{ copyId: copy.copyId, state: 'corrupt', detail }] });
    }
  }
  throw ApplicationFailure.nonRetryable(
    globals.candidates.length === 0
      ? `no stored copy of the globals ${globals.fileName} is readable from site '${plan.siteName}': restore without applyGlobals`
      : `every copy of the globals ${globals.fileName} was refused: ${refused.join('; ')}`,
    'NoGoodCopy',
  );
}

function failureType(err: unknown): string | undefined {
  let e: unknown = err;
  while (e && typeof e === 'object' && 'cause' in e && (e as { cause?: unknown }).cause) {
    if ((e as { type?: string }).type) break;
    e = (e as { cause: unknown }).cause;
  }
  return (e as { type?: string } | undefined)?.type;
}

export interface DrillWorkflowResult {
  ok: boolean;
  databases: { database: string; ok: boolean; restoreSeconds?: number; checks: DryRunCheck[] }[];
}

/**
 * Restores the newest backup of each database into a scratch database at the site, checks it against what was
 * recorded at backup time and the configuration's assertions, drops it, records the measured time, and alerts when
 * a check fails.
 */
export async function drillWorkflow(input: { configId: string }): Promise<DrillWorkflowResult> {
  const targets = await central.planDrill({ configId: input.configId });
  const result: DrillWorkflowResult = { ok: true, databases: [] };
  for (const t of targets) {
    if (!t.plan) {
      result.ok = false;
      result.databases.push({
        database: t.database,
        ok: false,
        checks: [{ name: 'a backup to drill', ok: false, detail: 'no successful backup with a stored copy' }],
      });
      continue;
    }
    const plan = t.plan;
    const site = siteActivities(plan.taskQueue, plan.tuning);
    let checks: DryRunCheck[] = [];
    let restored: RestoreWorkflowResult | undefined;
    try {
      restored = await restoreFromBestCopy(plan);
      checks = await site.quick.inspectRestore({
        serverName: plan.serverName,
        database: plan.database,
        expected: plan.tableCounts,
        tolerancePercent: t.drill.tolerancePercent,
        assertions: t.drill.assertions,
      });
    } catch (err) {
      if (isCancellation(err)) {
        await CancellationScope.nonCancellable(() => cleanUp(site, plan, 'cancelled', 'cancelled'));
        throw err;
      }
      checks.push({ name: 'restore', ok: false, detail: describeFailure(err, plan.siteName) });
    }
    const ok = checks.every((c) => c.ok);
    const failed = checks.filter((c) => !c.ok);
    await CancellationScope.nonCancellable(async () => {
      await site.quick
        .dropDatabase({ serverName: plan.serverName, database: plan.database })
        .catch((e: unknown) => log.warn('scratch database not dropped', { error: String(e) }));
      await bookkeeping(plan.tuning).recordRestore({
        restoreId: plan.restoreId,
        status: ok ? 'succeeded' : 'failed',
        checks,
        error: ok ? undefined : failed.map((c) => `${c.name}: ${c.detail}`).join('; '),
        copyTarget: restored?.copyTarget,
        restoreSeconds: restored?.restoreSeconds,
        rawBytes: restored?.rawBytes,
      });
      if (!ok) {
        await central
          .alert({
            tenantId: plan.tenantId,
            configId: input.configId,
            configName: t.configName,
            siteName: plan.siteName,
            serverName: plan.serverName,
            database: t.database,
            event: 'drill.failed',
            message: `restore drill of ${plan.fileName} failed: ${failed.map((c) => `${c.name}: ${c.detail}`).join('; ')}`,
          })
          .catch(() => undefined);
      }
    });
    result.ok &&= ok;
    result.databases.push({ database: t.database, ok, restoreSeconds: restored?.restoreSeconds, checks });
  }
  return result;
}

async function cleanUp(
  site: ReturnType<typeof siteActivities>,
  plan: RestorePlan,
  status: 'cancelled',
  error: string,
): Promise<void> {
  await site.quick.dropDatabase({ serverName: plan.serverName, database: plan.database }).catch(() => undefined);
  await bookkeeping(plan.tuning).recordRestore({ restoreId: plan.restoreId, status, error });
}
