// Destinations in the database: registered at a site, removed only once no configuration sends copies there.
import { and, eq, sql } from 'drizzle-orm';
import { conflict } from '../../common/errors.ts';
import type { DestinationKind } from '../../common/model.ts';
import type { Db } from '../../db/client.ts';
import { backupConfigs, destinations, sites } from '../../db/schema.ts';
import type { AuthContext } from '../auth/tokens.ts';
import { uniqueViolation } from '../lib/errors.ts';
import { audit, findOwned } from '../lib/tenancy.ts';

type DestinationRow = typeof destinations.$inferSelect;

export function list(db: Db, tenantId: string, siteId: string | undefined): Promise<DestinationRow[]> {
  return db
    .select()
    .from(destinations)
    .where(and(eq(destinations.tenantId, tenantId), siteId ? eq(destinations.siteId, siteId) : undefined))
    .orderBy(destinations.name);
}

export async function create(
  db: Db,
  auth: AuthContext,
  input: { siteId: string; name: string; kind: DestinationKind },
): Promise<DestinationRow> {
  return db
    .transaction(async (tx) => {
      await findOwned(tx, sites, input.siteId, auth.tenantId, 'site');
      const [row] = await tx
        .insert(destinations)
        .values({ ...input, tenantId: auth.tenantId })
        .returning();
      await audit(tx, auth, 'destination.create', { type: 'destination', id: row!.id }, input);
      return row!;
    })
    .catch((e: unknown) => {
      throw uniqueViolation(e) ? conflict('a destination with this name exists at this site') : e;
    });
}

/** The history of its copies stays; a configuration still sending there keeps it. */
export async function remove(db: Db, auth: AuthContext, id: string): Promise<void> {
  await db.transaction(async (tx) => {
    const d = await findOwned(tx, destinations, id, auth.tenantId, 'destination');
    const [used] = await tx
      .select({ name: backupConfigs.name })
      .from(backupConfigs)
      .where(
        and(
          eq(backupConfigs.tenantId, auth.tenantId),
          sql`${backupConfigs.destinations} @> ${JSON.stringify([{ destinationId: id }])}::jsonb`,
        ),
      )
      .limit(1);
    if (used)
      throw conflict(`the destination is used by the backup configuration '${used.name}': remove it there first`);
    await tx.delete(destinations).where(eq(destinations.id, id));
    await audit(tx, auth, 'destination.delete', { type: 'destination', id }, { name: d.name });
  });
}
