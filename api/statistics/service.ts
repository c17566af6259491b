// Statistics, computed in SQL: each part is one grouped query that reads only the tenant's rows in the range through
// an index (backups by tenant and start time, copies by tenant and state, drills by configuration).
import { and, desc, eq, gte, lt, sql, type SQL } from 'drizzle-orm';
import type { Db } from '../../db/client.ts';
import { backupCopies, backups, restores } from '../../db/schema.ts';
import type { StatisticsInput } from './schemas.ts';

const DAY_MS = 86_400_000;

export async function statistics(db: Db, tenantId: string, q: StatisticsInput) {
  const to = q.to ? new Date(q.to) : new Date();
  const from = q.from ? new Date(q.from) : new Date(to.getTime() - 30 * DAY_MS);
  const filters: SQL[] = [];
  if (q.configId) filters.push(eq(backups.configId, q.configId));
  if (q.serverId) filters.push(eq(backups.serverId, q.serverId));
  const [days, storage, drills] = await Promise.all([
    perDay(db, tenantId, from, to, filters),
    perTarget(db, tenantId, filters),
    lastDrills(db, tenantId, q.configId),
  ]);
  return { from: from.toISOString(), to: to.toISOString(), days, storage, drills };
}

function perDay(db: Db, tenantId: string, from: Date, to: Date, filters: SQL[]) {
  const succeeded = sql`${backups.status} = 'succeeded'`;
  return db
    .select({
      day: sql<string>`to_char(${backups.startedAt} at time zone 'UTC', 'YYYY-MM-DD')`,
      configId: backups.configId,
      serverId: backups.serverId,
      succeeded: sql<number>`(count(*) filter (where ${succeeded}))::int`,
      failed: sql<number>`(count(*) filter (where ${backups.status} in ('failed', 'partial')))::int`,
      bytes: sql<number>`coalesce(sum(${backups.sizeBytes}) filter (where ${succeeded}), 0)::float8`,
      avgSeconds: sql<
        number | null
      >`(avg(extract(epoch from ${backups.finishedAt} - ${backups.startedAt})) filter (where ${succeeded}))::float8`,
    })
    .from(backups)
    .where(
      and(
        eq(backups.tenantId, tenantId),
        gte(backups.startedAt, from),
        lt(backups.startedAt, to),
        eq(backups.kind, 'backup'),
        ...filters,
      ),
    )
    .groupBy(sql`1, 2, 3`)
    .orderBy(sql`1, 2, 3`);
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
