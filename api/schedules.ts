// Keeps one Temporal Schedule per backup configuration in step with the database.
import {
  ScheduleAlreadyRunning,
  ScheduleNotFoundError,
  ScheduleOverlapPolicy,
  type Client,
  type ScheduleDescription,
  type ScheduleOptions,
  type ScheduleSpec as TemporalSpec,
} from '@temporalio/client';
import { BackupError } from '../common/errors.ts';
import {
  backupWorkflowIdPrefix,
  drillScheduleId,
  scheduleId,
  SearchAttr,
  SYNC_SCHEDULE_ID,
  verifyScheduleId,
  WATCHDOG_SCHEDULE_ID,
} from '../common/names.ts';
import type { Db, Tx } from '../db/client.ts';
import type { Logger } from '../common/logger.ts';
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
    new Intl.DateTimeFormat('en-US', {
      timeZone: tz,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    })
      .formatToParts(at)
      .map((p) => [p.type, Number(p.value)]),
  );
  return (
    Date.UTC(parts.year!, parts.month! - 1, parts.day!, parts.hour!, parts.minute!, parts.second!) -
    Math.floor(at / 1000) * 1000
  );
}

const hm = (time: string) => time.split(':').map(Number) as [number, number];

const MONTHS = [
  'january',
  'february',
  'march',
  'april',
  'may',
  'june',
  'july',
  'august',
  'september',
  'october',
  'november',
  'december',
];
const WEEKDAYS = ['sunday', 'monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday'];
const CRON_FIELDS = [
  { name: 'minute', min: 0, max: 59 },
  { name: 'hour', min: 0, max: 23 },
  { name: 'day-of-month', min: 1, max: 31 },
  { name: 'month', min: 1, max: 12, names: MONTHS, first: 1, shortest: 3 },
  { name: 'day-of-week', min: 0, max: 7, names: WEEKDAYS, first: 0, shortest: 2 },
];

/**
 * Why Temporal would refuse a five-field cron expression, or undefined if it takes it: its parser's rules (lists of
 * `*`, `n`, `n-m`, each with an optional `/step`; month and weekday names), checked before anything is written so a
 * configuration's schedules are all valid or none is touched.
 */
export function cronProblem(expression: string): string | undefined {
  const fields = expression.trim().split(/\s+/);
  if (fields.length !== 5) return 'five fields: minute hour day-of-month month day-of-week';
  for (const [i, text] of fields.entries()) {
    const f = CRON_FIELDS[i]!;
    const value = (v: string | undefined): number | undefined => {
      if (v === undefined) return undefined;
      const named = f.names && v.length >= f.shortest ? f.names.findIndex((n) => n.startsWith(v.toLowerCase())) : -1;
      if (named >= 0) return named + f.first!;
      const n = /^\d{1,2}$/.test(v) ? Number(v) : NaN;
      return n >= f.min && n <= f.max ? n : undefined;
    };
    const allowed = `${f.name} is ${f.min}-${f.max}${f.names ? ` or a name such as ${f.names[0]!.slice(0, 3)}` : ''}, *, a range n-m, a list, each with an optional /step`;
    for (const part of text.split(',')) {
      const [range, step, ...more] = part.split('/');
      if (more.length > 0 || (step !== undefined && !/^[1-9]\d*$/.test(step))) return `'${text}': ${allowed}`;
      if (range === '*') continue;
      const ends = range!.split('-');
      const [start, end] = [value(ends[0]), value(ends.length === 2 ? ends[1] : ends[0])];
      if (ends.length > 2 || start === undefined || end === undefined) return `'${text}': ${allowed}`;
      if (end < start) return `'${text}': a range runs from the lower value to the higher`;
    }
  }
  return undefined;
}

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
      return {
        calendars: [
          { dayOfMonth: spec.dayOfMonth, hour, minute, comment: `monthly on day ${spec.dayOfMonth} at ${spec.time}` },
        ],
        timezone,
      };
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
          typedSearchAttributes: [
            { key: SearchAttr.tenant, value: cfg.tenantId },
            { key: SearchAttr.config, value: cfg.id },
          ],
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

/** A call to Temporal that failed for a reason the caller cannot fix: 503, with Temporal's own words. */
export function temporalUnavailable(err: unknown): BackupError {
  if (err instanceof BackupError) return err;
  const e = err as { message?: string; cause?: { details?: string } };
  return new BackupError('unavailable', `Temporal is unavailable: ${e.cause?.details ?? e.message ?? String(err)}`);
}
