// Statistics, computed in SQL: the days' totals from backup_daily (kept by a trigger on backups), copies grouped by
// target through their (tenant, state) index, the last drill per configuration.
import { and, desc, eq, gte, lte, sql, type SQL } from 'drizzle-orm';
import type { Db } from '../../db/client.ts';
import { backupCopies, backupDaily, backups, restores } from '../../db/schema.ts';
import type { StatisticsInput } from './schemas.ts';

const DAY_MS = 86_400_000;

export async function statistics(db: Db, tenantId: string, q: StatisticsInput) {
  const to = q.to ? new Date(q.to) : new Date();
  const from = q.from ? new Date(q.from) : new Date(to.getTime() - 30 * DAY_MS);
  const filters: SQL[] = [];
  if (q.configId) filters.push(eq(backups.configId, q.configId));
  if (q.serverId) filters.push(eq(backups.serverId, q.serverId));
  const [days, storage, drills] = await Promise.all([
    perDay(db, tenantId, from, to, q),
    perTarget(db, tenantId, filters),
    lastDrills(db, tenantId, q.configId),
  ]);
  return { from: from.toISOString(), to: to.toISOString(), days, storage, drills };
}

const NO_CONFIG = '00000000-0000-0000-0000-000000000000';

/**
 * The days' totals as the `backups` trigger keeps them (backup_daily): a month is a few dozen rows read by the primary
 * key, however many backups it holds. Whole UTC days: from `from`'s day to the day of the last instant before `to`.
 */
async function perDay(db: Db, tenantId: string, from: Date, to: Date, q: StatisticsInput) {
  const d = backupDaily;
  const rows = await db
    .select({
      day: sql<string>`${d.day}::text`,
      configKey: d.configKey,
      serverId: d.serverId,
      succeeded: d.succeeded,
      failed: d.failed,
      bytes: d.bytes,
      avgSeconds: sql<number | null>`case when ${d.timed} > 0 then ${d.seconds} / ${d.timed} end`,
    })
    .from(d)
    .where(
      and(
        eq(d.tenantId, tenantId),
        gte(d.day, from.toISOString().slice(0, 10)),
        lte(d.day, new Date(to.getTime() - 1).toISOString().slice(0, 10)),
        q.configId ? eq(d.configKey, q.configId) : undefined,
        q.serverId ? eq(d.serverId, q.serverId) : undefined,
        // Every contribution taken away again (a deleted or re-dated row) leaves zeros behind: not a day with backups.
        sql`(${d.succeeded} > 0 or ${d.failed} > 0)`,
      ),
    )
    .orderBy(d.day, d.configKey, d.serverId);
  return rows.map(({ configKey, ...r }) => ({ ...r, configId: configKey === NO_CONFIG ? null : configKey }));
}

function perTarget(db: Db, tenantId: string, filters: SQL[]) {
  const stored = and(eq(backupCopies.tenantId, tenantId), eq(backupCopies.state, 'stored'));
  const base = db
    .select({
      target: backupCopies.target,
      copies: sql<number>`count(*)::int`,
      bytes: sql<number>`coalesce(sum(${backupCopies.sizeBytes}), 0)::float8`,
    })
    .from(backupCopies);
  // Only a filtered view needs the backups' configuration and server: the tenant-wide one reads copies alone.
  const query = filters.length
    ? base.innerJoin(backups, eq(backups.id, backupCopies.backupId)).where(and(stored, ...filters))
    : base.where(stored);
  return query.groupBy(backupCopies.target).orderBy(backupCopies.target);
}

async function lastDrills(db: Db, tenantId: string, configId: string | undefined) {
  const rows = await db
    .selectDistinctOn([restores.configId], {
      configId: restores.configId,
      at: restores.finishedAt,
      restoreSeconds: restores.restoreSeconds,
    })
    .from(restores)
    .where(
      and(
        eq(restores.tenantId, tenantId),
        eq(restores.kind, 'drill'),
        eq(restores.status, 'succeeded'),
        ...(configId ? [eq(restores.configId, configId)] : []),
      ),
    )
    .orderBy(restores.configId, desc(restores.finishedAt));
  return rows.flatMap((r) =>
    r.configId && r.at ? [{ configId: r.configId, at: r.at.toISOString(), restoreSeconds: r.restoreSeconds }] : [],
  );
}
