// Tenant isolation and accountability: every row a route reads is its caller's tenant's, and every change is audited.
import { and, eq, type SQL } from 'drizzle-orm';
import type { PgColumn, PgTable } from 'drizzle-orm/pg-core';
import { notFound } from '../../common/errors.ts';
import type { Db, Tx } from '../../db/client.ts';
import { auditLog } from '../../db/schema.ts';
import type { AuthContext } from '../auth/tokens.ts';

/** Loads a row by id within the caller's tenant; another tenant's id is indistinguishable from a missing one. */
export async function findOwned<T extends PgTable & { id: PgColumn; tenantId: PgColumn }>(
  db: Db | Tx,
  table: T,
  id: string,
  tenantId: string,
  what: string,
): Promise<T['$inferSelect']> {
  const rows = await db
    .select()
    .from(table as PgTable)
    .where(and(eq(table.id, id), eq(table.tenantId, tenantId)) as SQL)
    .limit(1);
  if (!rows[0]) throw notFound(what);
  return rows[0] as T['$inferSelect'];
}

export async function audit(
  tx: Db | Tx,
  auth: AuthContext,
  action: string,
  target: { type: string; id?: string },
  details?: Record<string, unknown>,
): Promise<void> {
  await tx.insert(auditLog).values({
    tenantId: auth.tenantId,
    userId: auth.userId,
    action,
    targetType: target.type,
    targetId: target.id ?? null,
    details: details ?? null,
  });
}
