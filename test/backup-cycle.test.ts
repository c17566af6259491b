// Schedules with types: the Monday-full, weekday-differential preset over simulated weeks in the configuration's time
// zone (across DST changes, at an hour where the zone's day is not UTC's), and a mix of cron entries each with its type.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  cronMatches,
  effectiveType,
  typeAt,
  typedCronSpec,
  wallClock,
  weeklyFullCycle,
  type TypedCron,
} from '../common/backup-cycle.ts';
import { cronProblem, zonedToUtc } from '../common/schedule.ts';

const MINUTE = 60_000;

/** Each local day from `start` for `days` days: the instant of hh:mm there and its weekday in the zone's calendar. */
function days(start: [number, number, number], count: number, time: [number, number], tz: string) {
  return Array.from({ length: count }, (_, i) => {
    const day = new Date(Date.UTC(start[0], start[1] - 1, start[2] + i));
    const at = zonedToUtc(day.getUTCFullYear(), day.getUTCMonth() + 1, day.getUTCDate(), time[0], time[1], tz);
    return { label: day.toISOString().slice(0, 10), at, weekday: day.getUTCDay() };
  });
}

describe('schedules with types', () => {
  for (const [tz, start, time, dst] of [
    // 23:30 in New York is the next day in UTC; DST starts on 2026-03-08.
    ['America/New_York', [2026, 2, 16], [23, 30], '2026-03-08'],
    // DST ends on 2026-10-25 (02:00-03:00 happens twice; 01:15 once).
    ['Europe/Berlin', [2026, 10, 5], [1, 15], '2026-10-25'],
    // Auckland is ahead of UTC by 13 hours in summer: 00:30 there is the day before in UTC. DST ends 2026-04-05.
    ['Pacific/Auckland', [2026, 3, 16], [0, 30], '2026-04-05'],
  ] as const) {
    it(`full every Monday, differential on the other days, over five weeks in ${tz} (DST change ${dst})`, () => {
      const cycle = weeklyFullCycle(`${time[0]}:${String(time[1]).padStart(2, '0')}`);
      for (const e of typedCronSpec(cycle, tz).cronExpressions!) assert.equal(cronProblem(e), undefined, e);
      const seen: Record<string, string> = {};
      for (const d of days(start as unknown as [number, number, number], 35, time as unknown as [number, number], tz)) {
        const want = d.weekday === 1 ? 'full' : 'differential';
        assert.equal(typeAt(cycle, d.at, tz), want, `${d.label} ${time.join(':')} in ${tz}`);
        assert.equal(typeAt(cycle, d.at + MINUTE, tz), undefined, `${d.label}: a minute later nothing runs`);
        assert.equal(typeAt(cycle, d.at - 60 * MINUTE, tz), undefined, `${d.label}: an hour earlier nothing runs`);
        seen[d.label] = want;
      }
      assert.equal(Object.values(seen).filter((t) => t === 'full').length, 5, 'five Mondays in five weeks');
      assert.ok(dst in seen, 'the weeks cross the DST change');
    });
  }

  it('a mix of cron entries, each with its type: the stronger type wins a shared minute', () => {
    const tz = 'Europe/Berlin';
    const mix: TypedCron[] = [
      { expression: '0 3 1 * *', type: 'full' },
      { expression: '0 3 * * sun', type: 'differential' },
      { expression: '0 */6 * * *', type: 'incremental' },
      { expression: '30 12 * * mon-fri', type: 'incremental' },
    ];
    const at = (d: number, h: number, m = 0) => zonedToUtc(2026, 11, d, h, m, tz);
    assert.equal(typeAt(mix, at(1, 3), tz), 'full', 'Sunday 1 November: the monthly full wins over the differential');
    assert.equal(typeAt(mix, at(8, 3), tz), 'differential', 'the next Sunday');
    assert.equal(typeAt(mix, at(3, 3), tz), undefined, 'a Tuesday at 03:00: nothing');
    assert.equal(typeAt(mix, at(3, 6), tz), 'incremental');
    assert.equal(typeAt(mix, at(3, 0), tz), 'incremental');
    assert.equal(typeAt(mix, at(3, 12, 30), tz), 'incremental', 'weekday lunchtime');
    assert.equal(typeAt(mix, at(7, 12, 30), tz), undefined, 'not on a Saturday');
    assert.ok(cronMatches('5/15 * * * *', wallClock(at(3, 4, 50), tz)));
    assert.ok(!cronMatches('5/15 * * * *', wallClock(at(3, 4, 45), tz)));
    assert.ok(cronMatches('0 0 * * 7', wallClock(at(8, 0), tz)), '7 is Sunday too');
  });

  it('a differential without a full, or an incremental without any backup, runs as a full', () => {
    assert.equal(effectiveType('differential', { full: false, any: true }), 'full');
    assert.equal(effectiveType('incremental', { full: false, any: false }), 'full');
    assert.equal(effectiveType('incremental', { full: false, any: true }), 'incremental');
    assert.equal(effectiveType('differential', { full: true, any: true }), 'differential');
  });
});
