// Chain-aware retention over a simulated year of daily runs (a full every Monday, differentials or incrementals on
// the other days), pruning after each run as the platform does: nothing kept ever depends on something deleted, and
// the monthly clean-up leaves of each earlier month its latest full and what depends on it.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { planChainRetention, type ChainItem } from '../common/chain-retention.ts';
import type { BackupType } from '../common/model.ts';
import { planRetention, type RetentionPolicy } from '../common/retention.ts';
import { zonedToUtc } from '../common/schedule.ts';

const TZ = 'Europe/Berlin';

function assertNothingDangles(kept: Map<string, ChainItem>, when: string): void {
  for (const i of kept.values()) {
    let at: ChainItem | undefined = i;
    while (at && (at.type ?? 'full') !== 'full') {
      assert.ok(at.baseId && kept.has(at.baseId), `${when}: ${at.id} (${at.type}) lost its base ${at.baseId}`);
      at = kept.get(at.baseId);
    }
  }
}

/** A year of runs at 01:00, pruned after each one; returns what is left and whether a plain plan would have broken a chain. */
function simulateYear(policy: RetentionPolicy, weekday: Exclude<BackupType, 'full'>) {
  const kept = new Map<string, ChainItem>();
  let lastFull: string | undefined;
  let last: string | undefined;
  let plainWouldBreak = false;
  for (let d = 0; d < 365; d++) {
    const day = new Date(Date.UTC(2026, 0, 1 + d));
    const takenAt = new Date(zonedToUtc(day.getUTCFullYear(), day.getUTCMonth() + 1, day.getUTCDate(), 1, 0, TZ));
    const id = day.toISOString().slice(0, 10);
    const type: BackupType = day.getUTCDay() === 1 || !lastFull ? 'full' : weekday;
    const baseId = type === 'full' ? null : type === 'differential' ? lastFull! : last!;
    kept.set(id, { id, takenAt, type, baseId });
    if (type === 'full') lastFull = id;
    last = id;
    const now = new Date(takenAt.getTime() + 3_600_000);
    const items = [...kept.values()];
    const plan = planChainRetention(items, policy, TZ, now);
    const plain = new Set(planRetention(items, policy, TZ, now).keep.map((k) => k.id));
    for (const k of plain) {
      const base = kept.get(k)?.baseId;
      if (base && !plain.has(base)) plainWouldBreak = true;
    }
    for (const r of plan.remove) kept.delete(r.id);
    assertNothingDangles(kept, `after the run of ${id}`);
    assert.ok(kept.has(id), `${id}: the newest backup is kept`);
    for (const chain of plan.chains) assert.equal(chain.broken, false, `${id}: chain of ${chain.rootId} is whole`);
  }
  return { kept, plainWouldBreak };
}

const monthOf = (i: ChainItem) =>
  new Intl.DateTimeFormat('en-CA', { timeZone: TZ, year: 'numeric', month: '2-digit' }).format(i.takenAt);

describe('chain-aware retention over a simulated year', () => {
  for (const weekday of ['differential', 'incremental'] as const) {
    it(`monthly clean-up, full on Mondays and ${weekday}s: each earlier month keeps its latest full and its chain`, () => {
      const { kept, plainWouldBreak } = simulateYear({ monthlyCleanup: true }, weekday);
      assert.ok(plainWouldBreak, 'a plan blind to chains would have deleted a base that a kept backup needs');
      const byMonth = Map.groupBy(kept.values(), monthOf);
      for (const [month, items] of byMonth) {
        if (month === '2026-12') {
          assert.equal(items.length, 31, 'the current month keeps everything');
          continue;
        }
        const fulls = items.filter((i) => i.type === 'full');
        assert.equal(fulls.length, 1, `${month}: one full`);
        const latestFullOfMonth = fulls[0]!;
        // The kept full is the month's last Monday (or 1 January, the first run).
        const lastMonday = [...Array(31).keys()]
          .map((k) => new Date(`${month}-01T12:00:00Z`).getTime() + k * 86_400_000)
          .filter((t) => new Date(t).toISOString().slice(0, 7) === month && new Date(t).getUTCDay() === 1)
          .pop();
        assert.equal(
          latestFullOfMonth.id,
          new Date(lastMonday!).toISOString().slice(0, 10),
          `${month}: its last Monday`,
        );
        // Everything else kept from the month is on that full, after it.
        for (const i of items.filter((x) => x.type !== 'full'))
          assert.ok(i.takenAt > fulls[0]!.takenAt, `${month}: ${i.id}`);
      }
    });
  }

  it('keepLast 3 with incrementals keeps the chain back to its full', () => {
    const { kept } = simulateYear({ keepLast: 3 }, 'incremental');
    // 31 December 2026 is a Thursday: the full of Monday the 28th and the incrementals up to the 31st.
    assert.deepEqual([...kept.keys()].sort(), ['2026-12-28', '2026-12-29', '2026-12-30', '2026-12-31']);
  });

  it('GFS with differentials: what the policy keeps, and the fulls those need, nothing more', () => {
    const { kept } = simulateYear({ daily: 7, weekly: 4, monthly: 12 }, 'differential');
    const items = [...kept.values()];
    const now = new Date(Date.UTC(2026, 11, 31, 12));
    const chosen = planRetention(items, { daily: 7, weekly: 4, monthly: 12 }, TZ, now).keep.map((k) => k.id);
    const needed = new Set([...chosen, ...chosen.map((id) => kept.get(id)!.baseId).filter((b): b is string => !!b)]);
    assert.deepEqual([...kept.keys()].sort(), [...needed].sort());
    assert.ok(needed.size > chosen.length, 'some kept differential needed a full the policy alone would drop');
  });

  it('the preview shows chains: root, members oldest first, and which stay', () => {
    const at = (d: number) => new Date(Date.UTC(2026, 5, d, 1));
    const items: ChainItem[] = [
      { id: 'f1', takenAt: at(1), type: 'full' },
      { id: 'i1', takenAt: at(2), type: 'incremental', baseId: 'f1' },
      { id: 'i2', takenAt: at(3), type: 'incremental', baseId: 'i1' },
      { id: 'f2', takenAt: at(8), type: 'full' },
      { id: 'd1', takenAt: at(9), type: 'differential', baseId: 'f2' },
      { id: 'x', takenAt: at(10), type: 'incremental', baseId: 'gone' },
    ];
    const plan = planChainRetention(items, { keepLast: 1 }, TZ);
    assert.deepEqual(
      plan.keep.map((k) => [k.id, k.reasons]),
      [['x', ['last 1']]],
    );
    assert.deepEqual(
      plan.chains.map((c) => [
        c.rootId,
        c.broken,
        c.members.map((m) => `${m.id}:${m.type}:${m.keep ? 'keep' : 'remove'}`),
      ]),
      [
        ['f1', false, ['f1:full:remove', 'i1:incremental:remove', 'i2:incremental:remove']],
        ['f2', false, ['f2:full:remove', 'd1:differential:remove']],
        ['x', true, ['x:incremental:keep']],
      ],
    );
    const plan2 = planChainRetention(items.slice(0, 5), { keepLast: 1 }, TZ);
    assert.deepEqual(
      plan2.keep.map((k) => [k.id, k.reasons]),
      [
        ['d1', ['last 1']],
        ['f2', ['base of d1']],
      ],
    );
  });
});
