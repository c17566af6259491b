// Retention over backup chains: a differential needs its full, an incremental the backup before it. The policy
// decides as for independent backups (common/retention.ts), then every kept backup keeps what it depends on, so no
// policy ever deletes a backup that a kept one needs to be restored. The monthly clean-up keeps, of each earlier
// month, its latest full and the backups of that month that depend on it (the month's last restorable point).
// Pure, like planRetention: workflow code and the API's preview import it.
import type { BackupType } from './model.ts';
import { planRetention, type RetainedItem, type RetentionDecision, type RetentionPolicy } from './retention.ts';

export interface ChainItem extends RetainedItem {
  /** Absent: full (a database dump). */
  type?: BackupType;
  /** The backup this one is applied on: the full of a differential, the previous backup of an incremental. */
  baseId?: string | null;
}

export interface ChainView {
  /** The full at the chain's root, or the first member whose base is gone (`broken`). */
  rootId: string;
  broken: boolean;
  /** Oldest first. */
  members: { id: string; type: BackupType; takenAt: Date; keep: boolean }[];
}

export interface ChainDecision extends RetentionDecision {
  chains: ChainView[];
}

const monthOf = (at: Date, timeZone: string) =>
  new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit' }).format(at);

/** The clean-up's own choice in each earlier month: its latest full and what in that month depends on it. */
function monthlyChainKeeps(items: ChainItem[], timeZone: string, now: Date): Map<string, string> {
  const reasons = new Map<string, string>();
  const current = monthOf(now, timeZone);
  const byMonth = Map.groupBy(items, (i) => monthOf(i.takenAt, timeZone));
  for (const [month, inMonth] of byMonth) {
    if (month >= current) {
      for (const i of inMonth) reasons.set(i.id, `current month ${month}`);
      continue;
    }
    const newestFirst = [...inMonth].sort(
      (a, b) => b.takenAt.getTime() - a.takenAt.getTime() || (a.id < b.id ? 1 : -1),
    );
    const full = newestFirst.find((i) => (i.type ?? 'full') === 'full');
    if (!full) {
      // No full this month: its latest backup (and, through the closure, what that needs).
      reasons.set(newestFirst[0]!.id, `last of ${month}`);
      continue;
    }
    reasons.set(full.id, `last full of ${month}`);
    const inChain = new Set([full.id]);
    for (const i of [...newestFirst].reverse())
      if (i.baseId && inChain.has(i.baseId) && i.takenAt >= full.takenAt) {
        inChain.add(i.id);
        reasons.set(i.id, `on the last full of ${month}`);
      }
  }
  return reasons;
}

export function planChainRetention(
  items: ChainItem[],
  policy: RetentionPolicy,
  timeZone: string,
  now?: Date,
): ChainDecision {
  const { monthlyCleanup, ...counts } = policy;
  // Checks the policy, the items and `now`; without the clean-up it is the whole decision before the closure.
  const plain = planRetention(items, policy, timeZone, now);
  let kept = plain.keep;
  if (monthlyCleanup) {
    // The clean-up's rule for earlier months is the chain one below, not "the month's latest backup".
    const hasCounts = Object.values(counts).some((n) => (n ?? 0) > 0);
    kept = hasCounts ? planRetention(items, counts, timeZone, now).keep : [];
  }
  const reasons = new Map<string, string[]>(kept.map((k) => [k.id, [...k.reasons]]));
  if (monthlyCleanup)
    for (const [id, why] of monthlyChainKeeps(items, timeZone, now!))
      reasons.set(id, [...(reasons.get(id) ?? []), why]);
  const byId = new Map(items.map((i) => [i.id, i]));
  // Every kept backup keeps its base, and that base its own, down to the full.
  for (const id of [...reasons.keys()]) {
    let at = byId.get(id);
    while (at?.baseId && byId.has(at.baseId)) {
      const b = at.baseId;
      const why = `base of ${at.id}`;
      const list = reasons.get(b) ?? [];
      if (list.includes(why)) break;
      reasons.set(b, [...list, why]);
      at = byId.get(b);
    }
  }
  const newestFirst = [...items].sort((a, b) => b.takenAt.getTime() - a.takenAt.getTime() || (a.id < b.id ? 1 : -1));
  return {
    keep: newestFirst.filter((i) => reasons.has(i.id)).map((i) => ({ id: i.id, reasons: reasons.get(i.id)! })),
    remove: newestFirst.filter((i) => !reasons.has(i.id)).map((i) => ({ id: i.id, takenAt: i.takenAt })),
    chains: chainsOf(items, (id) => reasons.has(id)),
  };
}

/** The chains of the items, for the preview: each member with its type and whether it stays. */
export function chainsOf(items: ChainItem[], kept: (id: string) => boolean): ChainView[] {
  const byId = new Map(items.map((i) => [i.id, i]));
  const rootOf = (i: ChainItem): { id: string; broken: boolean } => {
    let at = i;
    for (let guard = 0; at.baseId && guard <= items.length; guard++) {
      const b = byId.get(at.baseId);
      if (!b) return { id: at.id, broken: true };
      at = b;
    }
    return { id: at.id, broken: false };
  };
  const chains = new Map<string, ChainView>();
  const oldestFirst = [...items].sort((a, b) => a.takenAt.getTime() - b.takenAt.getTime() || (a.id < b.id ? -1 : 1));
  for (const i of oldestFirst) {
    const root = rootOf(i);
    const chain = chains.get(root.id) ?? { rootId: root.id, broken: root.broken, members: [] };
    chain.members.push({ id: i.id, type: i.type ?? 'full', takenAt: i.takenAt, keep: kept(i.id) });
    chains.set(root.id, chain);
  }
  return [...chains.values()];
}
