// The order of one backup run. No I/O here: every step is an activity the Web UI shows by name.
import {
  ActivityCancellationType, ActivityFailure, ApplicationFailure, CancellationScope, isCancellation, proxyActivities, TimeoutFailure, upsertSearchAttributes, workflowInfo,
} from '@temporalio/workflow';
import { TimeoutType, type RetryPolicy } from '@temporalio/common';
import type { CentralActivities } from '../activities/central.ts';
import type { SiteActivities } from '../activities/site.ts';
import { backupFileName, SearchAttr } from '../common/names.ts';

export interface BackupWorkflowInput {
  configId: string;
}

export interface BackupWorkflowResult {
  succeeded: string[];
  failed: { database: string; error: string }[];
}

const central = proxyActivities<CentralActivities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', maximumInterval: '30 seconds', maximumAttempts: 10 },
});

/** Failures whose cause a retry cannot fix; everything else retries with backoff. */
const NON_RETRYABLE = ['invalid', 'auth', 'AuthenticationFailed', 'DatabaseNotFound', 'TableNotFound', 'PermissionDenied', 'DumpToolMissing', 'FileExists'];

export async function backupWorkflow(input: BackupWorkflowInput): Promise<BackupWorkflowResult> {
  const plan = await central.loadBackupPlan({ configId: input.configId });
  upsertSearchAttributes([
    { key: SearchAttr.tenant, value: plan.tenantId },
    { key: SearchAttr.site, value: plan.siteId },
    { key: SearchAttr.server, value: plan.serverName },
    { key: SearchAttr.database, value: plan.databases },
    { key: SearchAttr.config, value: plan.configId },
  ]);

  const { tuning } = plan;
  const retry: RetryPolicy = { initialInterval: tuning.retryInitialMs, backoffCoefficient: 2, maximumInterval: '5 minutes', maximumAttempts: 5, nonRetryableErrorTypes: NON_RETRYABLE };
  const site = proxyActivities<SiteActivities>({
    taskQueue: plan.taskQueue,
    scheduleToStartTimeout: tuning.sitePickupTimeoutMs,
    startToCloseTimeout: '10 minutes',
    retry,
  });
  const siteDump = proxyActivities<SiteActivities>({
    taskQueue: plan.taskQueue,
    scheduleToStartTimeout: tuning.sitePickupTimeoutMs,
    startToCloseTimeout: tuning.dumpTimeoutMs,
    heartbeatTimeout: tuning.dumpHeartbeatTimeoutMs,
    // On cancel, wait until the site stopped the dump tool and removed the partial file before recording the run.
    cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
    retry,
  });

  const startedAt = workflowInfo().startTime;
  const result: BackupWorkflowResult = { succeeded: [], failed: [] };
  for (const database of plan.databases) {
    const ref = { tenantId: plan.tenantId, configId: plan.configId, siteId: plan.siteId, serverId: plan.serverId, database };
    const fileName = backupFileName(database, startedAt, 'pgdump', 'zst');
    await central.recordBackupStarted({ ...ref, startedAt: startedAt.toISOString() });
    try {
      const { excludeTableData } = await site.cleanTables({ serverName: plan.serverName, database, tables: plan.cleanTables });
      const file = await siteDump.dump({ serverName: plan.serverName, database, fileName, excludeTableData });
      await central.recordBackup({
        ...ref, status: 'succeeded', startedAt: startedAt.toISOString(),
        fileName: file.fileName, sizeBytes: file.sizeBytes, sha256: file.sha256, location: `site:${file.path}`,
      });
      result.succeeded.push(database);
      const pruned = await site.prune({ serverName: plan.serverName, database, keep: plan.keepLocal });
      await central.markPruned({ tenantId: plan.tenantId, serverId: plan.serverId, database, fileNames: pruned.deleted });
    } catch (err) {
      const cancelled = isCancellation(err);
      const error = describeFailure(err, plan.siteName);
      await CancellationScope.nonCancellable(async () => {
        await central.recordBackup({ ...ref, status: cancelled ? 'cancelled' : 'failed', startedAt: startedAt.toISOString(), error });
        if (!cancelled) {
          // An unreachable webhook must not cost the other databases their backups; the alert is logged either way.
          await central
            .alert({ tenantId: plan.tenantId, configId: plan.configId, configName: plan.configName, serverName: plan.serverName, siteName: plan.siteName, database, message: error })
            .catch(() => undefined);
        }
      });
      if (cancelled) throw err;
      result.failed.push({ database, error });
    }
  }
  if (result.failed.length > 0) {
    throw ApplicationFailure.nonRetryable(
      `${result.failed.length} of ${plan.databases.length} database backups failed: ${result.failed.map((f) => `${f.database}: ${f.error}`).join('; ')}`,
      'BackupFailed',
      result,
    );
  }
  return result;
}

/** The innermost message: what went wrong at the site, not "Activity task failed". */
function describeFailure(err: unknown, siteName: string): string {
  let e: unknown = err;
  while (e instanceof ActivityFailure && e.cause) e = e.cause;
  if (e instanceof TimeoutFailure && e.timeoutType === TimeoutType.SCHEDULE_TO_START) {
    return `the worker of site '${siteName}' did not pick up the task in time: is it running and connected to Temporal?`;
  }
  if (e instanceof TimeoutFailure) return `timed out (${e.timeoutType ?? 'unknown'}): the site worker stopped reporting progress or ran past its time limit`;
  if (e instanceof Error) return e.message;
  return String(e);
}
