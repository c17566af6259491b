// One Temporal Schedule per backup configuration (and one each for its verification and drill), kept in step with
// the database, and the platform's own schedules. The rules that turn a configuration's schedule into a Temporal spec
// are common/schedule.ts's.
import { setTimeout as sleep } from 'node:timers/promises';
import {
  ScheduleAlreadyRunning,
  ScheduleNotFoundError,
  ScheduleOverlapPolicy,
  type Client,
  type ScheduleDescription,
  type ScheduleOptions,
  type ScheduleOptionsAction,
} from '@temporalio/client';
import { BackupError } from '../../common/errors.ts';
import type { ScheduleSpec } from '../../common/model.ts';
import {
  backupWorkflowIdPrefix,
  drillScheduleId,
  runSearchAttributes,
  scheduleId,
  SYNC_SCHEDULE_ID,
  verifyScheduleId,
  WATCHDOG_SCHEDULE_ID,
  SITE_WATCH_SCHEDULE_ID,
} from '../../common/names.ts';
import { toTemporalSpec } from '../../common/schedule.ts';
import { scheduleError } from './errors.ts';
import { scheduledStart } from './runs.ts';
import type { ScheduleWrites } from './schedule-writes.ts';

export interface ScheduledConfig {
  id: string;
  tenantId: string;
  siteId: string;
  serverName: string;
  databases: string[];
  schedule: ScheduleSpec;
  timezone: string;
  paused: boolean;
}

type ScheduleSpecInput = Pick<
  ScheduledConfig,
  'id' | 'tenantId' | 'siteId' | 'serverName' | 'databases' | 'schedule' | 'timezone'
>;

export class Schedules {
  private readonly client: Client;
  private readonly centralTaskQueue: string;
  constructor(client: Client, centralTaskQueue: string) {
    this.client = client;
    this.centralTaskQueue = centralTaskQueue;
  }

  private options(cfg: ScheduleSpecInput) {
    return {
      spec: toTemporalSpec(cfg.schedule, cfg.timezone),
      action: scheduledStart('backupWorkflow', {
        workflowId: backupWorkflowIdPrefix(cfg.id),
        taskQueue: this.centralTaskQueue,
        args: [{ configId: cfg.id }],
        typedSearchAttributes: runSearchAttributes({
          tenantId: cfg.tenantId,
          siteId: cfg.siteId,
          serverName: cfg.serverName,
          databases: cfg.databases,
          configId: cfg.id,
        }),
      }),
      policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: '1 hour' as const, pauseOnFailure: false },
    };
  }

  /** Creates the schedule, or brings an existing one to the configuration's spec, action and paused state. */
  async upsert(cfg: ScheduledConfig, writes?: ScheduleWrites): Promise<void> {
    await this.put(scheduleId(cfg.id), this.options(cfg), cfg.paused, 'schedule', writes);
  }

  /** The platform's own schedules: the sync of every copy (`backup-sync`) and the missed-backup watch; safe at every start. */
  async ensureSync(everyMs: number): Promise<void> {
    const taskQueue = this.centralTaskQueue;
    await this.ensureInterval(
      SYNC_SCHEDULE_ID,
      everyMs,
      scheduledStart('syncWorkflow', { workflowId: SYNC_SCHEDULE_ID, taskQueue, args: [{}] }),
    );
    await this.ensureInterval(
      WATCHDOG_SCHEDULE_ID,
      3_600_000,
      scheduledStart('watchdogWorkflow', { workflowId: WATCHDOG_SCHEDULE_ID, taskQueue, args: [{}] }),
    );
    await this.ensureInterval(
      SITE_WATCH_SCHEDULE_ID,
      60_000,
      scheduledStart('siteWatchWorkflow', { workflowId: SITE_WATCH_SCHEDULE_ID, taskQueue, args: [{}] }),
    );
  }

  private async ensureInterval(id: string, everyMs: number, action: ScheduleOptionsAction): Promise<void> {
    const opts = {
      spec: { intervals: [{ every: everyMs }] },
      action,
      policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: '1 hour' as const },
    };
    await this.put(id, opts, undefined, 'schedule');
  }

  /**
   * Creates or updates a schedule; `paused` undefined keeps its state. `field` is the input a refusal names; `writes`
   * learns how to take the write back.
   */
  private async put(
    id: string,
    opts: Omit<ScheduleOptions, 'scheduleId' | 'state'>,
    paused: boolean | undefined,
    field: string,
    writes?: ScheduleWrites,
  ): Promise<void> {
    const state = paused === undefined ? undefined : { paused, note: paused ? 'paused by an admin' : '' };
    const handle = this.client.schedule.getHandle(id);
    let before: ScheduleDescription | undefined;
    try {
      await handle.update((prev) => {
        before = prev;
        return { ...prev, ...opts, state: { ...prev.state, ...state } };
      });
      writes?.add(() => handle.update(() => ({ ...before! })));
    } catch (err) {
      if (!(err instanceof ScheduleNotFoundError)) throw scheduleError(err, field);
      try {
        await this.client.schedule.create({ scheduleId: id, ...opts, ...(state && { state }) });
        writes?.add(() => this.removeSchedule(id));
      } catch (e) {
        if (!(e instanceof ScheduleAlreadyRunning)) throw scheduleError(e, field);
      }
    }
  }

  /** A configuration's verification and drill schedules follow its settings: created, changed, paused or removed. */
  async upsertChecks(
    cfg: ScheduledConfig & {
      verification: { schedule: ScheduleSpec } | null;
      drill: { schedule: ScheduleSpec } | null;
    },
    writes?: ScheduleWrites,
  ): Promise<void> {
    const taskQueue = this.centralTaskQueue;
    const typedSearchAttributes = runSearchAttributes({ tenantId: cfg.tenantId, configId: cfg.id });
    const verify = verifyScheduleId(cfg.id);
    const drill = drillScheduleId(cfg.id);
    for (const { id, spec, field, action } of [
      {
        id: verify,
        spec: cfg.verification?.schedule,
        field: 'verification.schedule',
        action: scheduledStart('verifyWorkflow', {
          workflowId: verify.replace('-config-', '-'),
          taskQueue,
          args: [{ tenantId: cfg.tenantId, configId: cfg.id }],
          typedSearchAttributes,
        }),
      },
      {
        id: drill,
        spec: cfg.drill?.schedule,
        field: 'drill.schedule',
        action: scheduledStart('drillWorkflow', {
          workflowId: drill.replace('-config-', '-'),
          taskQueue,
          args: [{ configId: cfg.id }],
          typedSearchAttributes,
        }),
      },
    ]) {
      if (!spec) {
        await this.removeSchedule(id, writes);
        continue;
      }
      const opts = {
        spec: toTemporalSpec(spec, cfg.timezone),
        action,
        policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: '1 hour' as const },
      };
      await this.put(id, opts, cfg.paused, field, writes);
    }
  }

  private async removeSchedule(id: string, writes?: ScheduleWrites): Promise<void> {
    const handle = this.client.schedule.getHandle(id);
    try {
      // Taking a removal back recreates the schedule as it was.
      const before = writes && (await handle.describe());
      await handle.delete();
      if (before)
        writes.add(() =>
          this.client.schedule.create({
            scheduleId: id,
            spec: before.spec,
            action: before.action,
            policies: before.policies,
            state: before.state,
          }),
        );
    } catch (err) {
      if (!(err instanceof ScheduleNotFoundError)) throw scheduleError(err);
    }
  }

  async remove(configId: string, writes?: ScheduleWrites): Promise<void> {
    for (const id of [scheduleId(configId), verifyScheduleId(configId), drillScheduleId(configId)])
      await this.removeSchedule(id, writes);
  }

  /**
   * Starts a run now through the schedule, so the overlap policy (SKIP) applies to it as to scheduled runs. Answers
   * the run once the schedule shows it started (within `waitMs`), undefined if it has not by then.
   */
  async runNow(configId: string, waitMs = 3000): Promise<{ workflowId: string; runId: string } | undefined> {
    const handle = this.client.schedule.getHandle(scheduleId(configId));
    const describe = () =>
      handle.describe().catch((e: unknown) => {
        throw scheduleError(e);
      });
    const desc = await describe();
    const running = desc.info.runningActions[0];
    if (running)
      throw new BackupError(
        'conflict',
        `a run of this configuration is in progress (${running.workflow.workflowId}); it was not started twice`,
      );
    // By run id: the schedule names workflows to the second, so a run started in the same second as the last one
    // has its workflow id.
    const known = new Set(desc.info.recentActions.map((a) => a.action.workflow.firstExecutionRunId));
    await handle.trigger(ScheduleOverlapPolicy.SKIP);
    // The schedule starts the run a moment later; its new action names the workflow.
    for (const until = Date.now() + waitMs; Date.now() < until; await sleep(100)) {
      const { info } = await describe();
      const started = [...info.runningActions, ...info.recentActions.map((a) => a.action)].find(
        (a) => !known.has(a.workflow.firstExecutionRunId),
      );
      if (started) return { workflowId: started.workflow.workflowId, runId: started.workflow.firstExecutionRunId };
    }
    return undefined;
  }

  async describe(configId: string) {
    try {
      const d = await this.client.schedule.getHandle(scheduleId(configId)).describe();
      return {
        scheduleId: d.scheduleId,
        paused: d.state.paused,
        nextRunTimes: d.info.nextActionTimes.slice(0, 3).map((t) => t.toISOString()),
        running: d.info.runningActions.map((a) => a.workflow.workflowId),
        recent: d.info.recentActions
          .slice(-5)
          .map((a) => ({ workflowId: a.action.workflow.workflowId, scheduledAt: a.scheduledAt.toISOString() })),
      };
    } catch (err) {
      if (err instanceof ScheduleNotFoundError) return undefined;
      throw scheduleError(err);
    }
  }
}
