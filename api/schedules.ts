// Keeps one Temporal Schedule per backup configuration in step with the database.
import {
  ScheduleAlreadyRunning,
  ScheduleNotFoundError,
  ScheduleOverlapPolicy,
  type Client,
  type ScheduleDescription,
  type ScheduleOptions,
} from '@temporalio/client';
import { BackupError } from '../common/errors.ts';
import {
  backupWorkflowIdPrefix,
  drillScheduleId,
  scheduleId,
  runSearchAttributes,
  SYNC_SCHEDULE_ID,
  verifyScheduleId,
  WATCHDOG_SCHEDULE_ID,
} from '../common/names.ts';
import type { Db, Tx } from '../db/client.ts';
import { temporalUnavailable } from './temporal/errors.ts';
import type { Logger } from '../common/logger.ts';
import type { ScheduleSpec } from '../common/model.ts';
import { toTemporalSpec } from '../common/schedule.ts';

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

/**
 * The schedule writes of one configuration change, each with how to take it back: when a later write or the database
 * transaction fails, `undo` puts Temporal back as it was, so no schedule runs a configuration that was not saved.
 */
export class ScheduleWrites {
  readonly #undo: (() => Promise<unknown>)[] = [];

  add(undo: () => Promise<unknown>): void {
    this.#undo.push(undo);
  }

  /** Takes back every write, the newest first; one that cannot be taken back does not stop the others. */
  async undo(): Promise<void> {
    const failed: unknown[] = [];
    for (const undo of this.#undo.splice(0).reverse()) await undo().catch((e: unknown) => failed.push(e));
    if (failed.length > 0)
      throw new AggregateError(
        failed,
        `${failed.length} schedule write(s) could not be taken back: save the configuration again`,
      );
  }
}

/**
 * A transaction with the Temporal schedule writes it makes: if anything fails (a schedule Temporal refuses, Temporal
 * going away part-way, the commit), the schedules already written are put back as they were. The putting back runs
 * while the transaction still holds its rows, so a save of the same rows waiting behind it cannot be overwritten.
 */
export async function withScheduleWrites<T>(
  db: Db,
  logger: Logger,
  labels: Record<string, string | undefined>,
  work: (tx: Tx, writes: ScheduleWrites) => Promise<T>,
): Promise<T> {
  const writes = new ScheduleWrites();
  const undo = () =>
    writes
      .undo()
      .catch((e: unknown) => logger.error({ err: e, labels }, 'Temporal schedules may not match the database'));
  try {
    return await db.transaction(async (tx) => {
      try {
        return await work(tx, writes);
      } catch (err) {
        await undo();
        throw err;
      }
    });
  } catch (err) {
    await undo(); // the commit itself failed (after the undo above, nothing is left to put back)
    throw err;
  }
}

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
      action: {
        type: 'startWorkflow' as const,
        workflowType: 'backupWorkflow',
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
      },
      policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: '1 hour' as const, pauseOnFailure: false },
    };
  }

  /** Creates the schedule, or brings an existing one to the configuration's spec, action and paused state. */
  async upsert(cfg: ScheduledConfig, writes?: ScheduleWrites): Promise<void> {
    await this.put(scheduleId(cfg.id), this.options(cfg), cfg.paused, 'schedule', writes);
  }

  /** The platform's own schedules: the sync of every copy (`backup-sync`) and the missed-backup watch; safe at every start. */
  async ensureSync(everyMs: number): Promise<void> {
    await this.ensureInterval(SYNC_SCHEDULE_ID, 'syncWorkflow', everyMs);
    await this.ensureInterval(WATCHDOG_SCHEDULE_ID, 'watchdogWorkflow', 3_600_000);
  }

  private async ensureInterval(id: string, workflowType: string, everyMs: number): Promise<void> {
    const opts = {
      spec: { intervals: [{ every: everyMs }] },
      action: {
        type: 'startWorkflow' as const,
        workflowType,
        workflowId: id,
        taskQueue: this.centralTaskQueue,
        args: [{}],
      },
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
      if (!(err instanceof ScheduleNotFoundError)) throw translate(err, field);
      try {
        await this.client.schedule.create({ scheduleId: id, ...opts, ...(state && { state }) });
        writes?.add(() => this.removeSchedule(id));
      } catch (e) {
        if (!(e instanceof ScheduleAlreadyRunning)) throw translate(e, field);
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
    for (const [id, workflowType, spec, args, field] of [
      [
        verifyScheduleId(cfg.id),
        'verifyWorkflow',
        cfg.verification?.schedule,
        [{ tenantId: cfg.tenantId, configId: cfg.id }],
        'verification.schedule',
      ],
      [drillScheduleId(cfg.id), 'drillWorkflow', cfg.drill?.schedule, [{ configId: cfg.id }], 'drill.schedule'],
    ] as const) {
      if (!spec) {
        await this.removeSchedule(id, writes);
        continue;
      }
      const opts = {
        spec: toTemporalSpec(spec, cfg.timezone),
        action: {
          type: 'startWorkflow' as const,
          workflowType,
          workflowId: id.replace('-config-', '-'),
          taskQueue: this.centralTaskQueue,
          args: [...args],
          typedSearchAttributes: runSearchAttributes({ tenantId: cfg.tenantId, configId: cfg.id }),
        },
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
      if (!(err instanceof ScheduleNotFoundError)) throw translate(err);
    }
  }

  async remove(configId: string, writes?: ScheduleWrites): Promise<void> {
    for (const id of [scheduleId(configId), verifyScheduleId(configId), drillScheduleId(configId)])
      await this.removeSchedule(id, writes);
  }

  /** Starts a run now through the schedule, so the overlap policy (SKIP) applies to it as to scheduled runs. */
  async runNow(configId: string): Promise<void> {
    const handle = this.client.schedule.getHandle(scheduleId(configId));
    const desc = await handle.describe().catch((e: unknown) => {
      throw translate(e);
    });
    const running = desc.info.runningActions[0];
    if (running)
      throw new BackupError(
        'conflict',
        `a run of this configuration is in progress (${running.workflow.workflowId}); it was not started twice`,
      );
    await handle.trigger(ScheduleOverlapPolicy.SKIP);
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
      throw translate(err);
    }
  }
}

type ScheduleSpecInput = Pick<
  ScheduledConfig,
  'id' | 'tenantId' | 'siteId' | 'serverName' | 'databases' | 'schedule' | 'timezone'
>;

/** Temporal's INVALID_ARGUMENT (a spec it cannot take) is the admin's to fix, naming `field`; anything else is an outage. */
function translate(err: unknown, field = 'schedule'): Error {
  if (err instanceof BackupError) return err;
  // The SDK checks a spec before sending it (e.g. "Minute is not in range [0-59]") and throws a TypeError.
  if (err instanceof TypeError)
    return new BackupError('invalid', `the schedule is not valid: ${err.message}`, { field });
  const e = err as { code?: number; message?: string; cause?: { code?: number; details?: string } };
  const code = e.code ?? e.cause?.code;
  const message = e.cause?.details ?? e.message ?? String(err);
  if (code === 3) return new BackupError('invalid', `Temporal rejected the schedule: ${message}`, { field });
  if (err instanceof ScheduleNotFoundError)
    return new BackupError(
      'not_found',
      'the schedule of this configuration is missing in Temporal; save the configuration again to recreate it',
    );
  return temporalUnavailable(err);
}
