// A download: the site worker reads the copy from where it is stored and streams it to the API that asked for it.
// Bytes go over HTTP between the two; Temporal carries only the transfer's id and the copy's name.
import { proxyActivities } from '@temporalio/workflow';
import type { CopyRef } from '../activities/contracts.ts';
import type { SiteActivities } from '../activities/site/index.ts';

export interface TransferWorkflowInput {
  transferId: string;
  taskQueue: string;
  copy: CopyRef;
  sizeBytes: number;
  heartbeatTimeoutMs: number;
}

export async function transferWorkflow(input: TransferWorkflowInput): Promise<{ bytes: number }> {
  const site = proxyActivities<SiteActivities>({
    taskQueue: input.taskQueue,
    // Someone is waiting on the other end of the HTTP request: a site that is not there should fail fast.
    scheduleToStartTimeout: '30 seconds',
    startToCloseTimeout: '12 hours',
    heartbeatTimeout: input.heartbeatTimeoutMs,
    // The response a retry would stream into is already gone; the admin downloads again instead.
    retry: { maximumAttempts: 1 },
  });
  return site.sendCopy({ transferId: input.transferId, copy: input.copy, sizeBytes: input.sizeBytes });
}
