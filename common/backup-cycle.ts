// Which type of backup a scheduled run takes: a configuration's schedule as cron entries, each with its type, in the
// configuration's time zone; the brief's preset is a full backup every Monday and a differential on the other days.
// Pure (only Intl), so the API, the workflow and the tests read a schedule the same way.
import type { ScheduleSpec as TemporalSpec } from '@temporalio/client';
import { BACKUP_TYPES, type BackupType } from './model.ts';

export interface TypedCron {
  /** Five fields, as `cronProblem` accepts them. */
  expression: string;
  type: BackupType;
}

/** The preset: full on `fullWeekday` (1 = Monday) at `time`, differential on the six other days at the same time. */
export function weeklyFullCycle(time: string, fullWeekday = 1): TypedCron[] {
  const [hour, minute] = time.split(':').map(Number) as [number, number];
  const others = [0, 1, 2, 3, 4, 5, 6].filter((d) => d !== fullWeekday).join(',');
  return [
    { expression: `${minute} ${hour} * * ${fullWeekday}`, type: 'full' },
    { expression: `${minute} ${hour} * * ${others}`, type: 'differential' },
  ];
}

export interface WallClock {
  minute: number;
  hour: number;
  day: number;
  month: number;
  /** 0 = Sunday. */
  weekday: number;
}

const WEEKDAY_NAMES = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];
const MONTH_NAMES = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];

/** The wall clock in a zone at an instant. */
export function wallClock(at: number, timezone: string): WallClock {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat('en-US', {
      timeZone: timezone,
      hourCycle: 'h23',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      weekday: 'short',
    })
      .formatToParts(at)
      .map((p) => [p.type, p.value]),
  );
  return {
    minute: Number(parts.minute),
    hour: Number(parts.hour),
    day: Number(parts.day),
    month: Number(parts.month),
    weekday: WEEKDAY_NAMES.indexOf(String(parts.weekday).slice(0, 3).toLowerCase()),
  };
}

function fieldMatches(text: string, value: number, names?: string[], first = 0): boolean {
  const num = (v: string) => {
    const i = names ? names.indexOf(v.slice(0, 3).toLowerCase()) : -1;
    return i >= 0 ? i + first : Number(v);
  };
  return text.split(',').some((part) => {
    const [range, stepText] = part.split('/');
    const step = stepText ? Number(stepText) : 1;
    // `n/step` runs from n to the field's end, as in cron.
    const [lo, hi] =
      range === '*'
        ? [-Infinity, Infinity]
        : range!.includes('-')
          ? range!.split('-').map(num)
          : [num(range!), stepText ? Infinity : num(range!)];
    const start = lo === -Infinity ? (names === WEEKDAY_NAMES ? 0 : first) : lo!;
    return value >= start && value <= hi! && (value - start) % step === 0;
  });
}

/**
 * Whether a cron expression fires at this wall-clock minute. Day of month and day of week must both match, as Temporal
 * reads them (a classic cron takes either).
 */
export function cronMatches(expression: string, w: WallClock): boolean {
  const [mi, h, dom, mon, dow] = expression.trim().split(/\s+/) as [string, string, string, string, string];
  return (
    fieldMatches(mi, w.minute) &&
    fieldMatches(h, w.hour) &&
    fieldMatches(dom, w.day, undefined, 1) &&
    fieldMatches(mon, w.month, MONTH_NAMES, 1) &&
    (fieldMatches(dow, w.weekday, WEEKDAY_NAMES) || (w.weekday === 0 && fieldMatches(dow, 7, WEEKDAY_NAMES)))
  );
}

const STRENGTH: Record<BackupType, number> = { full: 2, differential: 1, incremental: 0 };

/**
 * The type of a run scheduled at `at`: of the entries that fire at that minute, the one that carries most (a full
 * wins over a differential that falls on the same minute); undefined when none does (a run started by hand).
 */
export function typeAt(entries: TypedCron[], at: number, timezone: string): BackupType | undefined {
  const w = wallClock(at, timezone);
  let best: BackupType | undefined;
  for (const e of entries)
    if (cronMatches(e.expression, w) && (!best || STRENGTH[e.type] > STRENGTH[best])) best = e.type;
  return best;
}

/**
 * What a run takes when its base is missing: a differential needs a full, an incremental any earlier backup; without
 * one (the first run, or the base was deleted or failed its checks) the run is a full backup.
 */
export function effectiveType(wanted: BackupType, has: { full: boolean; any: boolean }): BackupType {
  if (wanted === 'differential' && !has.full) return 'full';
  if (wanted === 'incremental' && !has.any) return 'full';
  return wanted;
}

/** One Temporal schedule for all entries; each run finds its type with `typeAt` from its scheduled time. */
export function typedCronSpec(entries: TypedCron[], timezone: string): TemporalSpec {
  return { cronExpressions: [...new Set(entries.map((e) => e.expression))], timezone };
}

export const isBackupType = (v: unknown): v is BackupType => (BACKUP_TYPES as readonly unknown[]).includes(v);
