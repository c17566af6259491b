// The rules of a configuration's schedule: which time zones and cron expressions are accepted, what Temporal spec
// each kind becomes, and how often it runs. Pure (only Intl): the API writes schedules with it and the missed-backup
// watch judges silences with it, so the two cannot disagree.
import type { ScheduleSpec as TemporalSpec } from '@temporalio/client';
import type { ScheduleSpec } from './model.ts';

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

/**
 * The longest a schedule may go between two runs, for the missed-backup watch. A cron expression that runs more often
 * than daily still counts as daily, so a silent day alerts: coarse, but never a false alarm.
 */
export function expectedIntervalMs(spec: ScheduleSpec): number {
  switch (spec.kind) {
    case 'daily':
      return DAY_MS;
    case 'biweekly':
      return 14 * DAY_MS;
    case 'monthly':
      return 31 * DAY_MS;
    case 'cron': {
      const [, , dom, , dow] = spec.expression.trim().split(/\s+/);
      if (dow !== '*') return 7 * DAY_MS;
      if (dom !== '*') return 31 * DAY_MS;
      return DAY_MS;
    }
  }
}
