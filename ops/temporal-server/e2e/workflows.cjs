// Workflows for the end-to-end proof, run by the platform (central) worker. Each schedules activities on
// a site's task queue, as the real backup workflows do.
'use strict';
const { proxyActivities, ApplicationFailure } = require('@temporalio/workflow');

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

module.exports = { backupOnSite, oneStep };
