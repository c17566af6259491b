// Keeps one Temporal Schedule per backup configuration in step with the database.
import {
  ScheduleAlreadyRunning, ScheduleNotFoundError, ScheduleOverlapPolicy, type Client, type ScheduleOptions, type ScheduleSpec as TemporalSpec,
} from '@temporalio/client';
import { BackupError } from '../common/errors.ts';
import { backupWorkflowIdPrefix, drillScheduleId, scheduleId, SearchAttr, SYNC_SCHEDULE_ID, verifyScheduleId, WATCHDOG_SCHEDULE_ID } from '../common/names.ts';
import type { ScheduleSpec } from '../db/schema.ts';

const DAY_MS = 86_400_000;

export function isValidTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

/** The UTC instant at which a wall-clock time occurs in a zone (two passes settle DST edges). */
export function zonedToUtc(y: number, mo: number, d: number, h: number, mi: number, tz: string): number {
  const wall = Date.UTC(y, mo - 1, d, h, mi);
  let guess = wall;
  for (let i = 0; i < 2; i++) guess = wall - zoneOffsetMs(guess, tz);
  return guess;
}

function zoneOffsetMs(at: number, tz: string): number {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat('en-US', { timeZone: tz, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric' })
      .formatToParts(at)
      .map((p) => [p.type, Number(p.value)]),
  );
  return Date.UTC(parts.year!, parts.month! - 1, parts.day!, parts.hour!, parts.minute!, parts.second!) - Math.floor(at / 1000) * 1000;
}

const hm = (time: string) => time.split(':').map(Number) as [number, number];

/**
 * Our presets as a Temporal spec. Every 14 days is an interval (calendars cannot say it), anchored so that runs fall
 * on the chosen weekday and time in the zone; an interval does not follow DST, so half the year it runs an hour off.
 */
export function toTemporalSpec(spec: ScheduleSpec, timezone: string): TemporalSpec {
  switch (spec.kind) {
    case 'daily': {
      const [hour, minute] = hm(spec.time);
      return { calendars: [{ hour, minute, comment: `daily at ${spec.time}` }], timezone };
    }
    case 'monthly': {
      const [hour, minute] = hm(spec.time);
      return { calendars: [{ dayOfMonth: spec.dayOfMonth, hour, minute, comment: `monthly on day ${spec.dayOfMonth} at ${spec.time}` }], timezone };
    }
    case 'biweekly': {
      const [hour, minute] = hm(spec.time);
      // 2024-01-07 was a Sunday: the anchor week is fixed, so the phase does not depend on when the config was saved.
      const first = zonedToUtc(2024, 1, 7 + spec.weekday, hour, minute, timezone);
      const offset = ((first % (14 * DAY_MS)) + 14 * DAY_MS) % (14 * DAY_MS);
      return { intervals: [{ every: 14 * DAY_MS, offset }], timezone };
    }
    case 'cron':
      return { cronExpressions: [spec.expression], timezone };
  }
}

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
        typedSearchAttributes: [
          { key: SearchAttr.tenant, value: cfg.tenantId },
          { key: SearchAttr.site, value: cfg.siteId },
          { key: SearchAttr.server, value: cfg.serverName },
          { key: SearchAttr.database, value: cfg.databases },
          { key: SearchAttr.config, value: cfg.id },
        ],
      },
      policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: '1 hour' as const, pauseOnFailure: false },
    };
  }

  /** Creates the schedule, or brings an existing one to the configuration's spec, action and paused state. */
  async upsert(cfg: ScheduledConfig): Promise<void> {
    const opts = this.options(cfg);
    const state = { paused: cfg.paused, note: cfg.paused ? 'paused by an admin' : '' };
    try {
      await this.client.schedule.getHandle(scheduleId(cfg.id)).update((prev) => ({ ...prev, ...opts, state: { ...prev.state, ...state } }));
    } catch (err) {
      if (!(err instanceof ScheduleNotFoundError)) throw translate(err);
      try {
        await this.client.schedule.create({ scheduleId: scheduleId(cfg.id), ...opts, state });
      } catch (e) {
        if (!(e instanceof ScheduleAlreadyRunning)) throw translate(e);
      }
    }
  }

  /** The platform's own schedules: the sync of every copy (`backup-sync`) and the missed-backup watch; safe at every start. */
  async ensureSync(everyMs: number): Promise<void> {
    await this.ensureInterval(SYNC_SCHEDULE_ID, 'syncWorkflow', everyMs);
    await this.ensureInterval(WATCHDOG_SCHEDULE_ID, 'watchdogWorkflow', 3_600_000);
  }

  private async ensureInterval(id: string, workflowType: string, everyMs: number): Promise<void> {
    const opts = {
      spec: { intervals: [{ every: everyMs }] },
      action: { type: 'startWorkflow' as const, workflowType, workflowId: id, taskQueue: this.centralTaskQueue, args: [{}] },
      policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: '1 hour' as const },
    };
    await this.put(id, opts, undefined);
  }

  /** Creates or updates a schedule; `paused` undefined keeps its state. */
  private async put(id: string, opts: Omit<ScheduleOptions, 'scheduleId' | 'state'>, paused: boolean | undefined): Promise<void> {
    const state = paused === undefined ? undefined : { paused, note: paused ? 'paused by an admin' : '' };
    try {
      await this.client.schedule.getHandle(id).update((prev) => ({ ...prev, ...opts, state: { ...prev.state, ...state } }));
    } catch (err) {
      if (!(err instanceof ScheduleNotFoundError)) throw translate(err);
      try {
        await this.client.schedule.create({ scheduleId: id, ...opts, ...(state && { state }) });
      } catch (e) {
        if (!(e instanceof ScheduleAlreadyRunning)) throw translate(e);
      }
    }
  }

  /** A configuration's verification and drill schedules follow its settings: created, changed, paused or removed. */
  async upsertChecks(cfg: ScheduledConfig & { verification: { schedule: ScheduleSpec } | null; drill: { schedule: ScheduleSpec } | null }): Promise<void> {
    for (const [id, workflowType, spec, args] of [
      [verifyScheduleId(cfg.id), 'verifyWorkflow', cfg.verification?.schedule, [{ tenantId: cfg.tenantId, configId: cfg.id }]],
      [drillScheduleId(cfg.id), 'drillWorkflow', cfg.drill?.schedule, [{ configId: cfg.id }]],
    ] as const) {
      if (!spec) {
        await this.removeSchedule(id);
        continue;
      }
      const opts = {
        spec: toTemporalSpec(spec, cfg.timezone),
        action: {
          type: 'startWorkflow' as const, workflowType, workflowId: id.replace('-config-', '-'), taskQueue: this.centralTaskQueue, args: [...args],
          typedSearchAttributes: [{ key: SearchAttr.tenant, value: cfg.tenantId }, { key: SearchAttr.config, value: cfg.id }],
        },
        policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: '1 hour' as const },
      };
      await this.put(id, opts, cfg.paused);
    }
  }

  private async removeSchedule(id: string): Promise<void> {
    try {
      await this.client.schedule.getHandle(id).delete();
    } catch (err) {
      if (!(err instanceof ScheduleNotFoundError)) throw translate(err);
    }
  }

  async remove(configId: string): Promise<void> {
    for (const id of [scheduleId(configId), verifyScheduleId(configId), drillScheduleId(configId)]) await this.removeSchedule(id);
  }

  /** Starts a run now through the schedule, so the overlap policy (SKIP) applies to it as to scheduled runs. */
  async runNow(configId: string): Promise<void> {
    const handle = this.client.schedule.getHandle(scheduleId(configId));
    const desc = await handle.describe().catch((e: unknown) => {
      throw translate(e);
    });
    const running = desc.info.runningActions[0];
    if (running) throw new BackupError('conflict', `a run of this configuration is in progress (${running.workflow.workflowId}); it was not started twice`);
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
        recent: d.info.recentActions.slice(-5).map((a) => ({ workflowId: a.action.workflow.workflowId, scheduledAt: a.scheduledAt.toISOString() })),
      };
    } catch (err) {
      if (err instanceof ScheduleNotFoundError) return undefined;
      throw translate(err);
    }
  }
}

type ScheduleSpecInput = Pick<ScheduledConfig, 'id' | 'tenantId' | 'siteId' | 'serverName' | 'databases' | 'schedule' | 'timezone'>;

/** Temporal's INVALID_ARGUMENT (a cron it cannot parse) is the admin's to fix; anything else is an outage. */
function translate(err: unknown): Error {
  if (err instanceof BackupError) return err;
  // The SDK checks a spec before sending it (e.g. "Minute is not in range [0-59]") and throws a TypeError.
  if (err instanceof TypeError) return new BackupError('invalid', `the schedule is not valid: ${err.message}`, { field: 'schedule' });
  const e = err as { code?: number; message?: string; cause?: { code?: number; details?: string } };
  const code = e.code ?? e.cause?.code;
  const message = e.cause?.details ?? e.message ?? String(err);
  if (code === 3) return new BackupError('invalid', `Temporal rejected the schedule: ${message}`, { field: 'schedule' });
  if (err instanceof ScheduleNotFoundError) return new BackupError('not_found', 'the schedule of this configuration is missing in Temporal; save the configuration again to recreate it');
  return new BackupError('unavailable', `Temporal is unavailable: ${message}`);
}
