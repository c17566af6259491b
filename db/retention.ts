// Retention over the history: which copies of a configuration's backups each target keeps. One function answers
// the API's preview and plans the prune a run performs, so what an admin is shown is what gets deleted.
import { and, eq, inArray, ne } from 'drizzle-orm';
import { planChainRetention } from '../common/chain-retention.ts';
import type { Db, Tx } from './client.ts';
import { SITE_TARGET, type RetentionPolicy } from '../common/model.ts';
import { backupCopies, backups, destinations } from './schema.ts';

type ConfigRow = {
  id: string;
  siteId?: string;
  keepLocal: number;
  timezone: string;
  destinations: { destinationId: string; retention: RetentionPolicy }[];
};

export interface TargetPolicy {
  target: string;
  destinationId: string | null;
  policy: RetentionPolicy;
}

/** The site copy keeps the newest `keepLocal`; each destination has its own policy. */
export async function retentionTargets(db: Db | Tx, cfg: ConfigRow): Promise<TargetPolicy[]> {
  const out: TargetPolicy[] = [{ target: SITE_TARGET, destinationId: null, policy: { keepLast: cfg.keepLocal } }];
  if (cfg.destinations.length === 0) return out;
  const rows = await db
    .select()
    .from(destinations)
    .where(
      inArray(
        destinations.id,
        cfg.destinations.map((d) => d.destinationId),
      ),
    );
  for (const d of cfg.destinations) {
    const row = rows.find((r) => r.id === d.destinationId);
    if (row) out.push({ target: row.name, destinationId: row.id, policy: d.retention });
  }
  return out;
}

export interface PlannedCopy {
  copyId: string;
  backupId: string;
  key: string;
  database: string;
  fileName: string | null;
  takenAt: Date;
  reasons: string[];
}

/**
 * Applies a policy to the copies at one target of a configuration, each database on its own. Stored copies are judged
 * among themselves, so a failed upload (missing) or a damaged copy (corrupt) never takes the place of a good one: with
 * `keepLast: 2` and the two newest uploads failed, the last good copy stays. A missing or corrupt copy is kept while
 * the policy over all copies would keep it (a repair may still make it good), and goes after. Deleted copies are
 * history and neither count nor get deleted twice.
 */
export async function planTargetRetention(
  db: Db | Tx,
  cfg: ConfigRow,
  target: string,
  policy: RetentionPolicy,
  now = new Date(),
): Promise<{ keep: PlannedCopy[]; remove: PlannedCopy[] }> {
  const rows = await db
    .select({
      copyId: backupCopies.id,
      backupId: backups.id,
      key: backupCopies.objectKey,
      database: backups.database,
      fileName: backups.fileName,
      takenAt: backups.startedAt,
      state: backupCopies.state,
      type: backups.type,
      baseBackupId: backups.baseBackupId,
    })
    .from(backupCopies)
    .innerJoin(backups, eq(backups.id, backupCopies.backupId))
    .where(and(eq(backups.configId, cfg.id), eq(backupCopies.target, target), ne(backupCopies.state, 'deleted')));
  const keep: PlannedCopy[] = [];
  const remove: PlannedCopy[] = [];
  const decide = (copies: typeof rows, judged: (c: (typeof rows)[number]) => boolean) => {
    // A copy's chain link is its base backup's copy at the same target; a base with no copy here leaves it broken.
    const copyOf = new Map(copies.map((c) => [c.backupId, c.copyId]));
    const decision = planChainRetention(
      copies.map((c) => ({
        id: c.copyId,
        takenAt: c.takenAt,
        type: c.type,
        baseId: c.baseBackupId ? (copyOf.get(c.baseBackupId) ?? `gone:${c.baseBackupId}`) : null,
      })),
      policy,
      cfg.timezone,
      now,
    );
    const byId = new Map(copies.map((c) => [c.copyId, c]));
    const planned = (id: string, reasons: string[]): PlannedCopy => {
      const { copyId, backupId, key, database, fileName, takenAt } = byId.get(id)!;
      return { copyId, backupId, key, database, fileName, takenAt, reasons };
    };
    for (const k of decision.keep) if (judged(byId.get(k.id)!)) keep.push(planned(k.id, k.reasons));
    for (const r of decision.remove) if (judged(byId.get(r.id)!)) remove.push(planned(r.id, []));
  };
  for (const copies of Map.groupBy(rows, (r) => r.database).values()) {
    decide(
      copies.filter((c) => c.state === 'stored'),
      () => true,
    );
    decide(copies, (c) => c.state !== 'stored');
  }
  const newestFirst = (a: PlannedCopy, b: PlannedCopy) =>
    b.takenAt.getTime() - a.takenAt.getTime() || a.database.localeCompare(b.database);
  return { keep: keep.sort(newestFirst), remove: remove.sort(newestFirst) };
}
