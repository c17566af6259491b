// Servers in the database. A rename reaches the schedules too: they carry the server's name for operators to filter on.
import { and, eq } from 'drizzle-orm';
import { conflict, invalid } from '../../common/errors.ts';
import type { Engine } from '../../common/model.ts';
import type { Db } from '../../db/client.ts';
import { backupConfigs, backups, restores, servers, sites } from '../../db/schema.ts';
import type { AuthContext } from '../auth/tokens.ts';
import { uniqueViolation } from '../lib/errors.ts';
import type { Services } from '../lib/services.ts';
import { audit, findOwned } from '../lib/tenancy.ts';
import { withScheduleWrites } from '../temporal/schedule-writes.ts';

type ServerRow = typeof servers.$inferSelect;

const duplicate = (err: unknown) =>
  uniqueViolation(err) ? conflict('a server with this name exists at this site') : err;

export function list(db: Db, tenantId: string, siteId: string | undefined): Promise<ServerRow[]> {
  const where = and(eq(servers.tenantId, tenantId), siteId ? eq(servers.siteId, siteId) : undefined);
  return db.select().from(servers).where(where).orderBy(servers.name);
}

export async function create(
  db: Db,
  auth: AuthContext,
  input: { siteId: string; name: string; engine: Engine },
): Promise<ServerRow> {
  return db
    .transaction(async (tx) => {
      const site = await findOwned(tx, sites, input.siteId, auth.tenantId, 'site');
      // The site's worker said which engines it has tools for; before its first check-in nothing is known yet.
      if (site.engines && !site.engines.includes(input.engine)) {
        throw invalid(
          `site '${site.name}' cannot back up ${input.engine}: its worker found no ${input.engine} dump tool (it can back up ${site.engines.join(', ') || 'nothing yet'}). Install the client tools at the site and restart its worker`,
          'engine',
        );
      }
      const [row] = await tx
        .insert(servers)
        .values({ ...input, tenantId: auth.tenantId })
        .returning();
      await audit(tx, auth, 'server.create', { type: 'server', id: row!.id }, input);
      return row!;
    })
    .catch((e: unknown) => {
      throw duplicate(e);
    });
}

export async function rename(s: Services, auth: AuthContext, id: string, patch: { name: string }): Promise<ServerRow> {
  return withScheduleWrites(s.db, s.logger, { server: id }, async (tx, writes) => {
    const before = await findOwned(tx, servers, id, auth.tenantId, 'server');
    const [row] = await tx.update(servers).set(patch).where(eq(servers.id, id)).returning();
    await audit(tx, auth, 'server.update', { type: 'server', id }, { from: before.name, to: row!.name });
    // Schedules carry the server name as a search attribute: they follow, or the rename does not happen.
    const configs = await tx.select().from(backupConfigs).where(eq(backupConfigs.serverId, id));
    for (const cfg of configs) await s.schedules.upsert({ ...cfg, siteId: row!.siteId, serverName: row!.name }, writes);
    return row!;
  }).catch((e: unknown) => {
    throw duplicate(e);
  });
}

/** A server with configurations, backups or restores on record stays: the history points at it. */
export async function remove(db: Db, auth: AuthContext, id: string): Promise<void> {
  await db.transaction(async (tx) => {
    const server = await findOwned(tx, servers, id, auth.tenantId, 'server');
    const [used] = await tx
      .select({ id: backupConfigs.id })
      .from(backupConfigs)
      .where(eq(backupConfigs.serverId, id))
      .limit(1);
    if (used) throw conflict('the server still has backup configurations: delete them first');
    const [history] = await tx.select({ id: backups.id }).from(backups).where(eq(backups.serverId, id)).limit(1);
    if (history) throw conflict('the server has backups on record; they are kept, so the server is too');
    const [restored] = await tx
      .select({ id: restores.id })
      .from(restores)
      .where(eq(restores.targetServerId, id))
      .limit(1);
    if (restored) throw conflict('the server has restores on record; they are kept, so the server is too');
    await tx.delete(servers).where(eq(servers.id, id));
    await audit(tx, auth, 'server.delete', { type: 'server', id }, { name: server.name });
  });
}
