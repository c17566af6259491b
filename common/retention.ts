// Which backups a retention policy keeps: grandfather-father-son over calendar periods of the tenant's zone, the way
// restic's `forget --keep-*` works. Pure and deterministic (no clock, no I/O, only Intl): workflow code imports it.
import { z } from 'zod';
import { invalid } from './errors.ts';

export interface RetentionPolicy {
  keepLast?: number;
  daily?: number;
  weekly?: number;
  monthly?: number;
  yearly?: number;
  /**
   * The seeds' monthly clean-up: every backup of the current month (in the zone) is kept, and of each earlier month
   * only its latest one, with no limit on how many months. It needs `now` in `planRetention`.
   *
   * Why a flag and not plain GFS: `{ daily: <day of month>, monthly: N }` says the same thing only while there is
   * exactly one backup on every day of the month so far, and its `daily` would have to change every day. A policy
   * stored once in a configuration cannot do that, so the clean-up is its own rule.
   */
  monthlyCleanup?: boolean;
}

export interface RetainedItem {
  id: string;
  takenAt: Date;
}

export interface RetentionDecision {
  /** Newest first; `reasons` name every rule that keeps the item, e.g. `['last 7', 'daily 2026-03-04']`. */
  keep: { id: string; reasons: string[] }[];
  /** Newest first. */
  remove: { id: string; takenAt: Date }[];
}

const PERIODS = ['daily', 'weekly', 'monthly', 'yearly'] as const;
type Period = (typeof PERIODS)[number];
const COUNTS = ['keepLast', ...PERIODS] as const;

const Count = z.number().int('must be a whole number').min(0, 'must be 0 or more');

export const RetentionPolicySchema = z
  .strictObject({
    keepLast: Count.optional(),
    daily: Count.optional(),
    weekly: Count.optional(),
    monthly: Count.optional(),
    yearly: Count.optional(),
    monthlyCleanup: z.boolean().optional(),
  })
  .refine((p) => COUNTS.some((k) => (p[k] ?? 0) > 0) || p.monthlyCleanup === true, {
    // Without this an empty policy would delete every backup.
    message:
      'a retention policy must keep something: set keepLast, daily, weekly, monthly or yearly above 0, or monthlyCleanup',
  });

interface Calendar {
  daily: string;
  weekly: string;
  monthly: string;
  yearly: string;
}

const DAY_MS = 86_400_000;
const pad = (n: number, width = 2) => String(n).padStart(width, '0');

/** `2026-W10`: ISO 8601 weeks start on Monday and belong to the year of their Thursday. */
function isoWeek(y: number, m: number, d: number): string {
  const day = Date.UTC(y, m - 1, d);
  const mondayBased = (new Date(day).getUTCDay() + 6) % 7;
  const thursday = day + (3 - mondayBased) * DAY_MS;
  const weekYear = new Date(thursday).getUTCFullYear();
  const week = 1 + Math.floor((thursday - Date.UTC(weekYear, 0, 1)) / (7 * DAY_MS));
  return `${pad(weekYear, 4)}-W${pad(week)}`;
}

function calendarIn(timeZone: string): (at: Date) => Calendar {
  let format: Intl.DateTimeFormat;
  try {
    format = new Intl.DateTimeFormat('en-US', {
      timeZone,
      calendar: 'gregory',
      numberingSystem: 'latn',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
    });
  } catch {
    throw invalid(`unknown time zone "${timeZone}"; use an IANA name such as Europe/Berlin`, 'timezone');
  }
  return (at) => {
    const parts: Record<string, number> = {};
    for (const p of format.formatToParts(at)) parts[p.type] = Number(p.value);
    const y = parts.year!,
      m = parts.month!,
      d = parts.day!;
    return {
      daily: `${pad(y, 4)}-${pad(m)}-${pad(d)}`,
      weekly: isoWeek(y, m, d),
      monthly: `${pad(y, 4)}-${pad(m)}`,
      yearly: pad(y, 4),
    };
  };
}

function checkedPolicy(policy: RetentionPolicy): RetentionPolicy {
  const parsed = RetentionPolicySchema.safeParse(policy);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  const field = ['retention', ...issue.path.map(String)].join('.');
  throw invalid(`${field}: ${issue.message}`, field);
}

/**
 * Each rule looks at all items on its own and an item is kept when any rule keeps it (restic's semantics; borg's
 * prune instead lets later rules skip what earlier ones kept). A period rule with count N keeps the newest item of
 * each of the N most recent periods that have an item; periods are calendar days, ISO weeks, months and years in
 * `timeZone`. Items with the same `takenAt` are ordered by id, the greater id counting as the newer, so the answer
 * never depends on input order. Applying the plan to its own kept set keeps all of it.
 *
 * `now` is read only by `monthlyCleanup` (which month is the current one); an item taken after `now` counts as current.
 */
export function planRetention(
  items: RetainedItem[],
  policy: RetentionPolicy,
  timeZone: string,
  now?: Date,
): RetentionDecision {
  const rules = checkedPolicy(policy);
  const calendar = calendarIn(timeZone);

  const ids = new Set<string>();
  for (const item of items) {
    if (!(item.takenAt instanceof Date) || Number.isNaN(item.takenAt.getTime())) {
      throw invalid(`backup ${item.id} has no valid time taken`, 'takenAt');
    }
    if (ids.has(item.id)) throw invalid(`backup ${item.id} appears twice`, 'id');
    ids.add(item.id);
  }

  const sorted = items
    .map((item) => ({
      id: item.id,
      takenAt: item.takenAt,
      at: item.takenAt.getTime(),
      cal: calendar(item.takenAt),
      reasons: [] as string[],
    }))
    .sort((a, b) => b.at - a.at || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));

  const keepLast = rules.keepLast ?? 0;
  for (const item of sorted.slice(0, keepLast)) item.reasons.push(`last ${keepLast}`);

  for (const period of PERIODS) keepNewestPerPeriod(sorted, period, rules[period] ?? 0);

  if (rules.monthlyCleanup) {
    if (!(now instanceof Date) || Number.isNaN(now.getTime())) {
      throw invalid('retention.monthlyCleanup needs the current time to know which month is the current one', 'now');
    }
    const currentMonth = calendar(now).monthly;
    const seen = new Set<string>();
    for (const item of sorted) {
      const month = item.cal.monthly;
      // 'YYYY-MM' compares as text in calendar order.
      if (month >= currentMonth) item.reasons.push(`current month ${month}`);
      else if (!seen.has(month)) item.reasons.push(`last of ${month}`);
      seen.add(month);
    }
  }

  return {
    keep: sorted.filter((i) => i.reasons.length > 0).map((i) => ({ id: i.id, reasons: i.reasons })),
    remove: sorted.filter((i) => i.reasons.length === 0).map((i) => ({ id: i.id, takenAt: i.takenAt })),
  };
}

/** Newest first, so the first item met in a period is that period's newest, and periods are met newest first. */
function keepNewestPerPeriod(sorted: { cal: Calendar; reasons: string[] }[], period: Period, count: number): void {
  const seen = new Set<string>();
  for (const item of sorted) {
    const key = item.cal[period];
    if (seen.has(key)) continue;
    if (seen.size === count) return;
    seen.add(key);
    item.reasons.push(`${period} ${key}`);
  }
}

/** `last 7, 30 daily, 12 monthly`, for lists and logs. */
export function describePolicy(policy: RetentionPolicy): string {
  const parts: string[] = [];
  if (policy.keepLast) parts.push(`last ${policy.keepLast}`);
  for (const period of PERIODS) {
    const n = policy[period];
    if (n) parts.push(`${n} ${period}`);
  }
  if (policy.monthlyCleanup) parts.push('monthly clean-up');
  return parts.length > 0 ? parts.join(', ') : 'nothing';
}
