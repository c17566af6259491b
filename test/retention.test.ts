// Retention plans checked against expectations worked out here by brute force, never by the code under test.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BackupError } from '../common/errors.ts';
import {
  describePolicy,
  planRetention,
  RetentionPolicySchema,
  type RetainedItem,
  type RetentionPolicy,
} from '../common/retention.ts';

const DAY_MS = 86_400_000;
const pad = (n: number) => String(n).padStart(2, '0');
const ymd = (t: number) => new Date(t).toISOString().slice(0, 10);

/** 02:30 in Berlin on a 2025 date, from the 2025 switch dates (30 March, 26 October) written down by hand. */
function berlin0230In2025(m: number, d: number): Date {
  const summer = (m > 3 && m < 10) || (m === 3 && d > 30) || (m === 10 && d < 26);
  return new Date(Date.UTC(2025, m - 1, d, summer ? 0 : 1, 30));
}

const keptIds = (items: RetainedItem[], policy: RetentionPolicy, tz: string, now?: Date) =>
  new Set(planRetention(items, policy, tz, now).keep.map((k) => k.id));

function assertIdempotent(items: RetainedItem[], policy: RetentionPolicy, tz: string, now?: Date) {
  const first = planRetention(items, policy, tz, now);
  const byId = new Map(items.map((i) => [i.id, i]));
  const again = planRetention(
    first.keep.map((k) => byId.get(k.id)!),
    policy,
    tz,
    now,
  );
  assert.deepEqual(again.remove, [], 'a second pass over the kept set removes nothing');
  assert.deepEqual(again.keep, first.keep);
}

describe('retention', () => {
  it('keeps the right backups of a year of daily backups in Berlin', () => {
    const items: (RetainedItem & { local: string })[] = [];
    for (let t = Date.UTC(2025, 0, 1); t <= Date.UTC(2025, 11, 31); t += DAY_MS) {
      const d = new Date(t);
      const local = ymd(t);
      items.push({ id: local, local, takenAt: berlin0230In2025(d.getUTCMonth() + 1, d.getUTCDate()) });
    }
    assert.equal(items.length, 365);
    const policy = { daily: 7, weekly: 4, monthly: 12, yearly: 2 };

    // Brute force over the local dates the generator knows. ISO weeks count from Monday 30 December 2024, the first
    // day of 2025-W01; 2025 has 52 weeks, so the 53rd block is 2026-W01.
    const week = (local: string) => {
      const n = Math.floor((Date.parse(local) - Date.UTC(2024, 11, 30)) / (7 * DAY_MS));
      return n === 52 ? '2026-W01' : `2025-W${pad(n + 1)}`;
    };
    const bucketsOf: Record<string, (local: string) => string> = {
      daily: (l) => l,
      weekly: week,
      monthly: (l) => l.slice(0, 7),
      yearly: (l) => l.slice(0, 4),
    };
    const expected = new Map<string, string[]>();
    for (const [rule, count] of Object.entries(policy)) {
      const newestOfBucket = new Map<string, string>();
      for (const item of items) newestOfBucket.set(bucketsOf[rule]!(item.local), item.id); // ascending: last wins
      for (const [bucket, id] of [...newestOfBucket].slice(-count)) {
        expected.set(id, [...(expected.get(id) ?? []), `${rule} ${bucket}`]);
      }
    }
    const expectedKeep = [...expected].sort(([a], [b]) => (a < b ? 1 : -1)).map(([id, reasons]) => ({ id, reasons }));

    const plan = planRetention(items, policy, 'Europe/Berlin');
    assert.deepEqual(plan.keep, expectedKeep);
    // The same, worked out by hand: 25-31 Dec, the Sundays 14 and 21 Dec, the last day of January to November.
    assert.equal(plan.keep.length, 7 + 2 + 11);
    assert.deepEqual(plan.keep.find((k) => k.id === '2025-12-31')?.reasons, [
      'daily 2025-12-31',
      'weekly 2026-W01',
      'monthly 2025-12',
      'yearly 2025',
    ]);
    assert.deepEqual(plan.keep.find((k) => k.id === '2025-03-31')?.reasons, ['monthly 2025-03']);
    assert.deepEqual(plan.keep.find((k) => k.id === '2025-10-31')?.reasons, ['monthly 2025-10']);
    assert.equal(plan.remove.length, 365 - 20);
    assert.equal(plan.remove[0]!.id, '2025-12-24');
    assert.ok(
      plan.remove.every((r, i, all) => i === 0 || all[i - 1]!.takenAt > r.takenAt),
      'removals newest first',
    );
    assertIdempotent(items, policy, 'Europe/Berlin');
  });

  it('counts a backup in the local day, month and week of the zone, across DST', () => {
    // 00:30 on 2 July in Berlin is still 1 July in UTC.
    const july = [
      { id: 'evening', takenAt: new Date('2025-07-01T20:00:00Z') },
      { id: 'after-midnight', takenAt: new Date('2025-07-01T22:30:00Z') },
    ];
    assert.deepEqual(planRetention(july, { daily: 2 }, 'Europe/Berlin').keep, [
      { id: 'after-midnight', reasons: ['daily 2025-07-02'] },
      { id: 'evening', reasons: ['daily 2025-07-01'] },
    ]);
    assert.deepEqual([...keptIds(july, { daily: 2 }, 'UTC')], ['after-midnight'], 'in UTC both fall on one day');

    // 26 October 2025 in Berlin has 25 hours: 00:30 CEST, 02:30 twice, 23:30 CET are all one day.
    const fallBack = [
      { id: 'sat-23:59', takenAt: new Date('2025-10-25T21:59:00Z') },
      { id: 'sun-00:30', takenAt: new Date('2025-10-25T22:30:00Z') },
      { id: 'sun-02:30-cest', takenAt: new Date('2025-10-26T00:30:00Z') },
      { id: 'sun-02:30-cet', takenAt: new Date('2025-10-26T01:30:00Z') },
      { id: 'sun-23:30', takenAt: new Date('2025-10-26T22:30:00Z') },
    ];
    assert.deepEqual(planRetention(fallBack, { daily: 2 }, 'Europe/Berlin').keep, [
      { id: 'sun-23:30', reasons: ['daily 2025-10-26'] },
      { id: 'sat-23:59', reasons: ['daily 2025-10-25'] },
    ]);

    // 20:00 on 28 February in New York is 1 March in UTC: it is February's backup there.
    const newYork = [
      { id: 'feb', takenAt: new Date('2025-03-01T01:00:00Z') },
      { id: 'mar', takenAt: new Date('2025-03-01T15:00:00Z') },
    ];
    assert.deepEqual(planRetention(newYork, { monthly: 2 }, 'America/New_York').keep, [
      { id: 'mar', reasons: ['monthly 2025-03'] },
      { id: 'feb', reasons: ['monthly 2025-02'] },
    ]);

    // ISO weeks at year ends: Monday 30 Dec 2024 opens 2025-W01, Saturday 2 Jan 2027 closes 2026-W53.
    const weeks = [
      { id: 'a', takenAt: new Date('2024-12-30T12:00:00Z') },
      { id: 'b', takenAt: new Date('2027-01-02T12:00:00Z') },
      { id: 'c', takenAt: new Date('2024-12-29T12:00:00Z') },
    ];
    assert.deepEqual(
      planRetention(weeks, { weekly: 3 }, 'UTC').keep.map((k) => k.reasons[0]),
      ['weekly 2026-W53', 'weekly 2025-W01', 'weekly 2024-W52'],
    );
  });

  it('keeps the newest N with keepLast alone', () => {
    const items = Array.from({ length: 10 }, (_, i) => ({
      id: `b${i}`,
      takenAt: new Date(Date.UTC(2026, 0, 1 + i, 3)),
    }));
    const shuffled = [
      items[4]!,
      items[9]!,
      items[0]!,
      items[7]!,
      items[2]!,
      items[8]!,
      items[1]!,
      items[3]!,
      items[6]!,
      items[5]!,
    ];
    const plan = planRetention(shuffled, { keepLast: 3 }, 'Europe/Berlin');
    assert.deepEqual(plan.keep, [
      { id: 'b9', reasons: ['last 3'] },
      { id: 'b8', reasons: ['last 3'] },
      { id: 'b7', reasons: ['last 3'] },
    ]);
    assert.deepEqual(
      plan.remove.map((r) => r.id),
      ['b6', 'b5', 'b4', 'b3', 'b2', 'b1', 'b0'],
    );
    assert.equal(plan.remove[0]!.takenAt.getTime(), items[6]!.takenAt.getTime());
    assert.equal(planRetention(items, { keepLast: 50 }, 'UTC').remove.length, 0);
    assert.deepEqual(planRetention([], { keepLast: 3 }, 'UTC'), { keep: [], remove: [] });
  });

  it('breaks ties in takenAt by id, whatever the input order', () => {
    const at = new Date('2026-02-10T02:30:00Z');
    const orders = [
      ['a', 'b', 'c'],
      ['c', 'a', 'b'],
      ['b', 'c', 'a'],
    ];
    for (const order of orders) {
      const items = order.map((id) => ({ id, takenAt: at }));
      assert.deepEqual(planRetention(items, { keepLast: 1 }, 'UTC'), {
        keep: [{ id: 'c', reasons: ['last 1'] }],
        remove: [
          { id: 'b', takenAt: at },
          { id: 'a', takenAt: at },
        ],
      });
      assert.deepEqual([...keptIds(items, { daily: 1, monthly: 1 }, 'UTC')], ['c']);
    }
  });

  it('does the monthly clean-up: all of this month, the latest of every month before', () => {
    // Full backups at 02:30 and 14:30 Berlin time; the run on 1 March at 00:30 local is 28 February in UTC.
    const items: RetainedItem[] = [];
    for (let t = Date.UTC(2025, 10, 15); t < Date.UTC(2026, 2, 1); t += DAY_MS) {
      const day = ymd(t);
      items.push(
        { id: `${day} 02:30`, takenAt: new Date(t + 1.5 * 3_600_000) },
        { id: `${day} 14:30`, takenAt: new Date(t + 13.5 * 3_600_000) },
      );
    }
    items.push({ id: '2026-03-01 00:30', takenAt: new Date('2026-02-28T23:30:00Z') });
    const now = new Date('2026-03-01T02:00:00Z');

    const plan = planRetention(items, { monthlyCleanup: true }, 'Europe/Berlin', now);
    assert.deepEqual(plan.keep, [
      { id: '2026-03-01 00:30', reasons: ['current month 2026-03'] },
      { id: '2026-02-28 14:30', reasons: ['last of 2026-02'] },
      { id: '2026-01-31 14:30', reasons: ['last of 2026-01'] },
      { id: '2025-12-31 14:30', reasons: ['last of 2025-12'] },
      { id: '2025-11-30 14:30', reasons: ['last of 2025-11'] },
    ]);
    assert.equal(plan.remove.length, items.length - 5);
    assertIdempotent(items, { monthlyCleanup: true }, 'Europe/Berlin', now);

    // Mid-month every backup of the month so far stays.
    const midMonth = new Date('2026-02-10T12:00:00Z');
    const feb = items.filter((i) => i.id.startsWith('2026-02-') && i.takenAt <= midMonth).map((i) => i.id);
    const kept = keptIds(
      items.filter((i) => i.takenAt <= midMonth),
      { monthlyCleanup: true },
      'Europe/Berlin',
      midMonth,
    );
    assert.deepEqual([...kept].sort(), [...feb, '2025-11-30 14:30', '2025-12-31 14:30', '2026-01-31 14:30'].sort());

    // Plain GFS says the same only with one backup a day and a `daily` that follows the day of the month.
    const oncePerDay = items.filter((i) => i.id.endsWith('14:30') && i.takenAt <= midMonth);
    assert.deepEqual(
      keptIds(oncePerDay, { daily: 9, monthly: 12 }, 'Europe/Berlin'),
      keptIds(oncePerDay, { monthlyCleanup: true }, 'Europe/Berlin', midMonth),
    );
    const twicePerDay = items.filter((i) => i.takenAt <= midMonth);
    assert.notDeepEqual(
      keptIds(twicePerDay, { daily: 10, monthly: 12 }, 'Europe/Berlin'),
      keptIds(twicePerDay, { monthlyCleanup: true }, 'Europe/Berlin', midMonth),
    );

    // Combined with other rules it only adds.
    const withLast = keptIds(items, { monthlyCleanup: true, keepLast: 4 }, 'Europe/Berlin', now);
    assert.equal(withLast.size, 5 + 2, 'two of the four newest are kept by the clean-up already');
  });

  it('agrees with a brute-force reading of the rules on random histories', () => {
    let seed = 0x2f6b1d;
    const random = () => {
      seed = (seed + 0x6d2b79f5) | 0;
      let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
    };
    const zones = [
      'Europe/Berlin',
      'America/New_York',
      'Australia/Lord_Howe',
      'Asia/Kolkata',
      'Pacific/Chatham',
      'UTC',
    ];

    // The local date by another road (toLocaleDateString), ISO weeks by walking back to Monday.
    const localDate = (at: Date, tz: string) => at.toLocaleDateString('en-CA', { timeZone: tz });
    const isoWeekByWalking = (date: string) => {
      let monday = Date.parse(date);
      while (new Date(monday).getUTCDay() !== 1) monday -= DAY_MS;
      const year = new Date(monday + 3 * DAY_MS).getUTCFullYear();
      let n = 1;
      while (new Date(monday - 7 * DAY_MS * n + 3 * DAY_MS).getUTCFullYear() === year) n++;
      return `${year}-W${pad(n)}`;
    };
    const bucket = {
      daily: (d: string) => d,
      weekly: isoWeekByWalking,
      monthly: (d: string) => d.slice(0, 7),
      yearly: (d: string) => d.slice(0, 4),
    };
    const newer = (a: RetainedItem, b: RetainedItem) =>
      a.takenAt.getTime() > b.takenAt.getTime() || (a.takenAt.getTime() === b.takenAt.getTime() && a.id > b.id);

    for (let round = 0; round < 40; round++) {
      const tz = zones[round % zones.length]!;
      const items: RetainedItem[] = [];
      let t = Date.UTC(2023, 0, 1);
      for (let i = 0; i < 150; i++) {
        t += Math.floor(random() * 6 * DAY_MS) * (random() < 0.1 ? 0 : 1); // some share a time exactly
        items.push({ id: `x${Math.floor(random() * 1e9)}-${i}`, takenAt: new Date(t) });
      }
      const policy: RetentionPolicy = {};
      for (const rule of ['keepLast', 'daily', 'weekly', 'monthly', 'yearly'] as const)
        if (random() < 0.6) policy[rule] = Math.floor(random() * 12);
      if (!(['keepLast', 'daily', 'weekly', 'monthly', 'yearly'] as const).some((k) => (policy[k] ?? 0) > 0))
        policy.daily = 1;

      const dates = new Map(items.map((i) => [i.id, localDate(i.takenAt, tz)]));
      const expected = new Set<string>();
      for (const x of items) {
        const newerItems = items.filter((y) => newer(y, x));
        if (newerItems.length < (policy.keepLast ?? 0)) expected.add(x.id);
        for (const rule of ['daily', 'weekly', 'monthly', 'yearly'] as const) {
          const key = (i: RetainedItem) => bucket[rule](dates.get(i.id)!);
          const newestInBucket = newerItems.every((y) => key(y) !== key(x));
          const newerBuckets = new Set(newerItems.map(key));
          if (newestInBucket && newerBuckets.size < (policy[rule] ?? 0)) expected.add(x.id);
        }
      }
      const plan = planRetention([...items].reverse(), policy, tz);
      assert.deepEqual(
        new Set(plan.keep.map((k) => k.id)),
        expected,
        `round ${round}, ${tz}, ${JSON.stringify(policy)}`,
      );
      assert.equal(plan.keep.length + plan.remove.length, items.length);
      assertIdempotent(items, policy, tz);
    }
  });

  it('refuses policies that keep nothing or are not whole numbers, and bad input', () => {
    const refused = (fn: () => unknown, message: RegExp) =>
      assert.throws(
        fn,
        (err: unknown) => err instanceof BackupError && err.kind === 'invalid' && message.test(err.message),
      );
    const items = [{ id: 'a', takenAt: new Date('2026-01-01T00:00:00Z') }];
    refused(() => planRetention(items, {}, 'UTC'), /must keep something/);
    refused(() => planRetention(items, { daily: 0, monthly: 0 }, 'UTC'), /must keep something/);
    refused(() => planRetention(items, { daily: -1, monthly: 3 }, 'UTC'), /retention\.daily: must be 0 or more/);
    refused(() => planRetention(items, { weekly: 1.5 }, 'UTC'), /retention\.weekly: must be a whole number/);
    refused(() => planRetention(items, { weeky: 3 } as RetentionPolicy, 'UTC'), /weeky/);
    refused(() => planRetention(items, { daily: 1 }, 'Mars/Olympus'), /unknown time zone "Mars\/Olympus"/);
    refused(
      () => planRetention([{ id: 'bad', takenAt: new Date('nope') }], { daily: 1 }, 'UTC'),
      /backup bad has no valid time/,
    );
    refused(() => planRetention([...items, ...items], { daily: 1 }, 'UTC'), /appears twice/);
    refused(() => planRetention(items, { monthlyCleanup: true }, 'UTC'), /needs the current time/);

    const empty = RetentionPolicySchema.safeParse({});
    assert.equal(empty.success, false);
    assert.match(empty.error!.issues[0]!.message, /must keep something/);
    assert.ok(RetentionPolicySchema.safeParse({ monthlyCleanup: true }).success);
    assert.ok(RetentionPolicySchema.safeParse({ keepLast: 1 }).success);
  });

  it('describes a policy in a few words', () => {
    assert.equal(describePolicy({ keepLast: 7, daily: 30, monthly: 12 }), 'last 7, 30 daily, 12 monthly');
    assert.equal(describePolicy({ weekly: 4, yearly: 2, daily: 0 }), '4 weekly, 2 yearly');
    assert.equal(describePolicy({ monthlyCleanup: true }), 'monthly clean-up');
    assert.equal(describePolicy({}), 'nothing');
  });
});
