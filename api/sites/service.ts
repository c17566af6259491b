// Sites in the database: each change in a transaction with its audit entry, and a site's status read from Temporal.
import { randomUUID } from 'node:crypto';
import { and, eq } from 'drizzle-orm';
import { conflict } from '../../common/errors.ts';
import { siteTaskQueue } from '../../common/names.ts';
import { ONLINE_WINDOW_MS, siteLastSeen, type TemporalHandles } from '../../common/temporal.ts';
import type { Db } from '../../db/client.ts';
import { destinations, servers, sites } from '../../db/schema.ts';
import { newSiteKey } from '../auth/site-keys.ts';
import type { AuthContext } from '../auth/tokens.ts';
import { uniqueViolation } from '../lib/errors.ts';
import { audit, findOwned } from '../lib/tenancy.ts';

type SiteRow = typeof sites.$inferSelect;

const duplicate = (err: unknown) => {
  if (uniqueViolation(err)) return conflict('a site with this name exists in your tenant');
  return err;
};

export function list(db: Db, tenantId: string): Promise<SiteRow[]> {
  return db.select().from(sites).where(eq(sites.tenantId, tenantId)).orderBy(sites.name);
}

/** A new site with its connection key: the key is answered this once and stored only as a hash. */
export async function create(db: Db, auth: AuthContext, name: string): Promise<{ site: SiteRow; key: string }> {
  const id = randomUUID();
  const { key, hash } = newSiteKey(id);
  const site = await db
    .transaction(async (tx) => {
      const [row] = await tx
        .insert(sites)
        .values({ id, tenantId: auth.tenantId, name, keyHash: hash, taskQueue: siteTaskQueue(id) })
        .returning();
      await audit(tx, auth, 'site.create', { type: 'site', id }, { name: row!.name });
      return row!;
    })
    .catch((e: unknown) => {
      throw duplicate(e);
    });
  return { site, key };
}

export async function rename(db: Db, auth: AuthContext, id: string, name: string): Promise<SiteRow> {
  return db
    .transaction(async (tx) => {
      await findOwned(tx, sites, id, auth.tenantId, 'site');
      const [row] = await tx.update(sites).set({ name }).where(eq(sites.id, id)).returning();
      await audit(tx, auth, 'site.update', { type: 'site', id }, { name: row!.name });
      return row!;
    })
    .catch((e: unknown) => {
      throw duplicate(e);
    });
}

/** A new connection key; the old one stops working with the commit. */
export async function rotateKey(db: Db, auth: AuthContext, id: string): Promise<{ site: SiteRow; key: string }> {
  const { key, hash } = newSiteKey(id);
  const site = await db.transaction(async (tx) => {
    await findOwned(tx, sites, id, auth.tenantId, 'site');
    const [row] = await tx.update(sites).set({ keyHash: hash }).where(eq(sites.id, id)).returning();
    await audit(tx, auth, 'site.rotate-key', { type: 'site', id });
    return row!;
  });
  return { site, key };
}

/** Only a site with no servers and no destinations goes: they would lose the site that holds their settings. */
export async function remove(db: Db, auth: AuthContext, id: string): Promise<void> {
  await db.transaction(async (tx) => {
    const site = await findOwned(tx, sites, id, auth.tenantId, 'site');
    const [used] = await tx
      .select({ id: servers.id })
      .from(servers)
      .where(and(eq(servers.siteId, id), eq(servers.tenantId, auth.tenantId)))
      .limit(1);
    if (used) throw conflict('the site still has servers: delete them first');
    const [destination] = await tx
      .select({ name: destinations.name })
      .from(destinations)
      .where(and(eq(destinations.siteId, id), eq(destinations.tenantId, auth.tenantId)))
      .limit(1);
    if (destination)
      throw conflict(`the site still has destinations (such as '${destination.name}'): remove them first`);
    await tx.delete(sites).where(eq(sites.id, id));
    await audit(tx, auth, 'site.delete', { type: 'site', id }, { name: site.name });
  });
}

/** Online: a worker polled the site's task queue within ONLINE_WINDOW_MS. */
export async function status(temporal: TemporalHandles, site: SiteRow) {
  const lastSeen = await siteLastSeen(temporal, site.taskQueue);
  const online = !!lastSeen && Date.now() - lastSeen.getTime() < ONLINE_WINDOW_MS;
  return { online, lastSeenAt: lastSeen?.toISOString() ?? null, taskQueue: site.taskQueue };
}
