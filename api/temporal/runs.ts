// Every workflow the API starts or watches. Names and arguments are checked against the workflow functions' own types
// (`import type`: the API never loads workflow code), so a renamed workflow or a changed input fails the type check
// here instead of failing at run time in the worker.
import {
  WorkflowNotFoundError,
  type Client,
  type ScheduleOptionsStartWorkflowAction,
  type WorkflowHandle,
  type WorkflowStartOptions,
} from '@temporalio/client';
import {
  channelTestWorkflowId,
  drillWorkflowId,
  dryRunWorkflowId,
  pruneWorkflowId,
  restoreWorkflowId,
  syncWorkflowId,
  transferWorkflowId,
  verifyWorkflowId,
} from '../../common/names.ts';
import type * as workflows from '../../workflows/index.ts';

type Workflows = typeof workflows;
export type WorkflowName = keyof Workflows;

/** How a schedule starts `workflowType`: the action of its Temporal Schedule. */
export function scheduledStart<N extends WorkflowName>(
  workflowType: N,
  action: Omit<ScheduleOptionsStartWorkflowAction<Workflows[N]>, 'type' | 'workflowType'>,
): ScheduleOptionsStartWorkflowAction<Workflows[N]> {
  return { type: 'startWorkflow', workflowType, ...action } as ScheduleOptionsStartWorkflowAction<Workflows[N]>;
}

/** Starts the central workflows on demand, each with the id its business keys give it. */
export class Runs {
  readonly #client: Client;
  readonly #taskQueue: string;
  constructor(client: Client, centralTaskQueue: string) {
    this.#client = client;
    this.#taskQueue = centralTaskQueue;
  }

  #start<N extends WorkflowName>(
    workflowType: N,
    options: Omit<WorkflowStartOptions<Workflows[N]>, 'taskQueue'>,
  ): Promise<WorkflowHandle<Workflows[N]>> {
    return this.#client.workflow.start<Workflows[N]>(workflowType, {
      ...options,
      taskQueue: this.#taskQueue,
    } as WorkflowStartOptions<Workflows[N]>);
  }

  /** Checks every copy of the tenant's backups now; answers the workflow id. */
  async startSync(tenantId: string): Promise<string> {
    const workflowId = syncWorkflowId(tenantId, new Date());
    await this.#start('syncWorkflow', { workflowId, args: [{ tenantId }] });
    return workflowId;
  }

  /** A dry run of a configuration; its handle's result is the report. */
  startDryRun(configId: string) {
    return this.#start('dryRunWorkflow', { workflowId: dryRunWorkflowId(configId, new Date()), args: [{ configId }] });
  }

  /** Applies the retention of every target of a configuration now; answers the workflow id. */
  async startPrune(configId: string): Promise<string> {
    const workflowId = pruneWorkflowId(configId, new Date());
    await this.#start('pruneWorkflow', { workflowId, args: [{ configId }] });
    return workflowId;
  }

  /** Reads every copy of a configuration back now; answers the workflow id. */
  async startVerify(tenantId: string, configId: string): Promise<string> {
    const workflowId = verifyWorkflowId(configId, new Date());
    await this.#start('verifyWorkflow', { workflowId, args: [{ tenantId, configId }] });
    return workflowId;
  }

  /** A restore drill of a configuration now; answers the workflow id. */
  async startDrill(configId: string): Promise<string> {
    const workflowId = drillWorkflowId(configId, new Date());
    await this.#start('drillWorkflow', { workflowId, args: [{ configId }] });
    return workflowId;
  }

  /** Runs the restore its row describes (the row's workflow id is `restoreWorkflowId(restoreId)`). */
  async startRestore(restoreId: string): Promise<void> {
    await this.#start('restoreWorkflow', { workflowId: restoreWorkflowId(restoreId), args: [{ restoreId }] });
  }

  /** A test message to one channel, sent by the central worker; answers when it was sent or failed. */
  async testChannel(tenantId: string, channelId: string, nonce: string) {
    const key = channelTestWorkflowId(channelId, nonce);
    const handle = await this.#start('channelTestWorkflow', { workflowId: key, args: [{ tenantId, channelId, key }] });
    return handle.result();
  }

  /** Has the site send one copy of a backup to the download waiting for `transferId`. */
  startTransfer(input: Parameters<Workflows['transferWorkflow']>[0]) {
    return this.#start('transferWorkflow', { workflowId: transferWorkflowId(input.transferId), args: [input] });
  }

  /** Erases a tenant (workflows/erase-tenant.ts); one erasure per tenant, under the id `erase-tenant-<tenant>`. */
  async startTenantErasure(input: Parameters<Workflows['eraseTenantWorkflow']>[0]): Promise<string> {
    // No tenant search attribute: the erasure deletes every execution that carries one, and must not delete itself.
    const workflowId = `erase-tenant-${input.tenantId}`;
    await this.#start('eraseTenantWorkflow', { workflowId, args: [input] });
    return workflowId;
  }

  /** The step a run is at and its last heartbeat (bytes so far), or null when it has none or cannot be asked. */
  async progress(workflowId: string): Promise<Record<string, unknown> | null> {
    const d = await this.#client.workflow
      .getHandle(workflowId)
      .describe()
      .catch(() => undefined);
    const pending = d?.raw.pendingActivities?.[0];
    if (!pending) return null;
    const details = pending.heartbeatDetails?.payloads?.[0]?.data;
    return {
      step: pending.activityType?.name ?? null,
      attempt: pending.attempt ?? null,
      ...(details ? (JSON.parse(Buffer.from(details).toString()) as Record<string, unknown>) : {}),
    };
  }

  /** Asks a run to stop; one that already ended is no error. */
  async cancel(workflowId: string): Promise<void> {
    await this.#client.workflow
      .getHandle(workflowId)
      .cancel()
      .catch((e: unknown) => {
        if (!(e instanceof WorkflowNotFoundError)) throw e;
      });
  }
}
