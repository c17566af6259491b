// Schemas shared by several routes, and the small helpers every route uses.
import { z } from '@hono/zod-openapi';
import { and, eq, type SQL } from 'drizzle-orm';
import type { PgColumn, PgTable } from 'drizzle-orm/pg-core';
import { notFound } from '../common/errors.ts';
import type { Db, Tx } from '../db/client.ts';
import { auditLog } from '../db/schema.ts';
import type { AuthContext } from './auth.ts';

export const IdParam = z.object({ id: z.string().uuid().openapi({ param: { name: 'id', in: 'path' } }) });

export const ErrorBody = z
  .object({
    error: z.object({
      code: z.string(),
      message: z.string(),
      issues: z.array(z.object({ field: z.string(), reason: z.string() })).optional(),
    }),
  })
  .openapi('Error');

const err = (description: string) => ({ content: { 'application/json': { schema: ErrorBody } }, description });
export const errors = {
  400: err('Invalid input: each issue names the field and the reason'),
  401: err('Not signed in'),
  403: err('The role does not allow this'),
  404: err('Not found in your tenant'),
  409: err('Conflicts with the current state'),
};

export const json = <T extends z.ZodType>(schema: T, description = 'OK') => ({
  content: { 'application/json': { schema } },
  description,
});
export const body = <T extends z.ZodType>(schema: T) => ({ body: { content: { 'application/json': { schema } }, required: true } });

export const iso = (d: Date | null | undefined): string | null => (d ? d.toISOString() : null);

/** Loads a row by id within the caller's tenant; another tenant's id is indistinguishable from a missing one. */
export async function findOwned<T extends PgTable & { id: PgColumn; tenantId: PgColumn }>(
  db: Db | Tx,
  table: T,
  id: string,
  tenantId: string,
  what: string,
): Promise<T['$inferSelect']> {
  const rows = await db.select().from(table as PgTable).where(and(eq(table.id, id), eq(table.tenantId, tenantId)) as SQL).limit(1);
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
  await tx.insert(auditLog).values({ tenantId: auth.tenantId, userId: auth.userId, action, targetType: target.type, targetId: target.id ?? null, details: details ?? null });
}

/** Postgres unique violations become a 409 naming what already exists. */
export function uniqueViolation(err: unknown): boolean {
  const e = err as { code?: string; cause?: { code?: string } };
  return e.code === '23505' || e.cause?.code === '23505';
}
