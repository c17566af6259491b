// Activity stubs shared by the workflows: the central ones, and the site ones for a given task queue.
// Retry pacing comes from the plan (the central worker's environment), so tests can run with short intervals.
import { ActivityCancellationType, ActivityFailure, proxyActivities, TimeoutFailure } from '@temporalio/workflow';
import { TimeoutType, type RetryPolicy } from '@temporalio/common';
import type { CentralActivities } from '../activities/central/index.ts';
import { NON_RETRYABLE_KINDS } from '../common/errors.ts';
import type { RunTuning } from '../activities/contracts.ts';
import type { SiteActivities } from '../activities/site/index.ts';

export const central = proxyActivities<CentralActivities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', maximumInterval: '30 seconds', maximumAttempts: 10 },
});

/** Used when a run's tuning does not say (runs started before it did), and to load the plan that carries it. */
const BOOKKEEPING_TIMEOUT_MS = 12 * 3600_000;

/**
 * The central steps that write what a run did (its history row, its copies) and read its plan: they wait out a
 * metadata database outage, retrying every 30 s at most, for hours, rather than fail a run whose data is safe.
 * A failure that says it is final (bad input, a configuration deleted) still ends them at once.
 */
export function bookkeeping(tuning?: Pick<RunTuning, 'bookkeepingTimeoutMs'>) {
  return proxyActivities<CentralActivities>({
    startToCloseTimeout: '30 seconds',
    scheduleToCloseTimeout: tuning?.bookkeepingTimeoutMs ?? BOOKKEEPING_TIMEOUT_MS,
    retry: { initialInterval: '1 second', maximumInterval: '30 seconds' },
  });
}

export function siteActivities(taskQueue: string, tuning: RunTuning) {
  const retry: RetryPolicy = {
    initialInterval: tuning.retryInitialMs,
    backoffCoefficient: 2,
    maximumInterval: '5 minutes',
    maximumAttempts: 5,
    // Each BackupError's failure already says whether it may be retried (activities/failure.ts), so a code such as
    // TableNotFound needs no entry here; the kinds are listed for failures that carry no code of their own.
    nonRetryableErrorTypes: [...NON_RETRYABLE_KINDS],
  };
  const base = { taskQueue, scheduleToStartTimeout: tuning.sitePickupTimeoutMs, retry };
  return {
    /**
     * Short steps: checks, deletes. They heartbeat while they work, so a worker that dies in one (cleanTables waiting
     * for a lock) is noticed within the heartbeat timeout, not after 10 minutes. Timeouts are not part of replay's
     * command check (only the activity's type and id are), so runs under way need no patch: their later steps get it.
     */
    quick: proxyActivities<SiteActivities>({
      ...base,
      startToCloseTimeout: '10 minutes',
      heartbeatTimeout: tuning.dumpHeartbeatTimeoutMs,
    }),
    /** Steps that move a whole backup: they heartbeat their bytes, so a dead worker is noticed in seconds. */
    long: proxyActivities<SiteActivities>({
      ...base,
      startToCloseTimeout: tuning.dumpTimeoutMs,
      heartbeatTimeout: tuning.dumpHeartbeatTimeoutMs,
      // On cancel, wait until the site stopped the work and removed its partial file before recording the run.
      cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
    }),
  };
}

/** The innermost message: what went wrong at the site, not "Activity task failed". */
export function describeFailure(err: unknown, siteName: string): string {
  let e: unknown = err;
  while (e instanceof ActivityFailure && e.cause) e = e.cause;
  if (e instanceof TimeoutFailure && e.timeoutType === TimeoutType.SCHEDULE_TO_START) {
    return `the worker of site '${siteName}' did not pick up the task in time: is it running and connected to Temporal?`;
  }
  if (e instanceof TimeoutFailure)
    return `timed out (${e.timeoutType ?? 'unknown'}): the site worker stopped reporting progress or ran past its time limit`;
  if (e instanceof Error) return e.message;
  return String(e);
}
