// Workflows for the end-to-end proof, run by the platform (central) worker. Each schedules activities on
// a site's task queue, as the real backup workflows do.
'use strict';
const wf = require('@temporalio/workflow');

const { proxyActivities, ApplicationFailure, CancellationScope, ActivityCancellationType } = wf;

function onSite(taskQueue) {
  return proxyActivities({
    taskQueue,
    startToCloseTimeout: '1 minute',
    heartbeatTimeout: '30 seconds',
    retry: { maximumAttempts: 1 },
  });
}

/** Runs backupSite on the site, then a failing activity whose failure must reach the workflow. */
async function backupOnSite(taskQueue, job) {
  const site = onSite(taskQueue);
  const result = await site.backupSite(job);
  let failure = 'none';
  try {
    await site.failingStep(job);
  } catch (err) {
    failure = err.cause?.message ?? err.message;
  }
  return { result, failure };
}

/** One activity on a site, whoever answers it. */
async function oneStep(taskQueue, job) {
  const result = await onSite(taskQueue).backupSite(job);
  if (typeof result !== 'string') throw ApplicationFailure.nonRetryable('unexpected result');
  return result;
}

/** Starts a long activity on the site and cancels it: the site must report it cancelled. */
async function cancelOnSite(taskQueue) {
  const site = proxyActivities({
    taskQueue,
    startToCloseTimeout: '1 minute',
    heartbeatTimeout: '2 seconds', // cancellation reaches the activity in a heartbeat response
    cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
    retry: { maximumAttempts: 1 },
  });
  try {
    await CancellationScope.cancellable(async () => {
      const step = site.slowStep();
      await wf.sleep('1 second');
      CancellationScope.current().cancel();
      await step;
    });
    return 'not cancelled';
  } catch (err) {
    if (wf.isCancellation(err)) return 'cancelled';
    throw err;
  }
}

module.exports = { backupOnSite, oneStep, cancelOnSite };
