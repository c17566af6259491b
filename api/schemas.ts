// Schemas shared by several routes, and the small helpers every route uses.
import { z } from '@hono/zod-openapi';
import { and, eq, type SQL } from 'drizzle-orm';
import type { PgColumn, PgTable } from 'drizzle-orm/pg-core';
import { notFound } from '../common/errors.ts';
import type { Db, Tx } from '../db/client.ts';
import { auditLog } from '../db/schema.ts';
import type { AuthContext } from './auth/tokens.ts';

export const IdParam = z.object({
  id: z
    .string()
    .uuid()
    .openapi({ param: { name: 'id', in: 'path' } }),
});

/** Any UUID PostgreSQL's uuid type takes (z.uuid() takes only RFC 9562 versions and variants). */
export const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** PostgreSQL's text and jsonb cannot hold U+0000: the fields of a JSON body that do, as a validation issue names them. */
export function nulFields(value: unknown, path: string[] = []): string[] {
  if (typeof value === 'string') return value.includes('\0') ? [path.join('.') || 'body'] : [];
  if (!value || typeof value !== 'object') return [];
  return Object.entries(value).flatMap(([k, v]) =>
    k.includes('\0') ? [path.join('.') || 'body'] : nulFields(v, [...path, k]),
  );
}

const OFFSET_RE = /(?:Z|([+-])(\d{2}):(\d{2}))$/;
const daysIn = (y: number, m: number) =>
  m === 2 ? (y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0) ? 29 : 28) : [4, 6, 9, 11].includes(m) ? 30 : 31;

/**
 * Why PostgreSQL would refuse an ISO 8601 date-time, or undefined: the day must exist (no 2024-02-30), the offset be
 * one in use (-12:00 to +14:00), and the instant fall in the years 0001 to 9999 in UTC.
 */
export function instantProblem(text: string): string | undefined {
  const [, y, m, d] = /^(\d{4})-(\d{2})-(\d{2})T/.exec(text) ?? [];
  if (!y || !OFFSET_RE.test(text) || Number.isNaN(Date.parse(text))) return 'an ISO 8601 date-time with an offset';
  if (+m! < 1 || +m! > 12 || +d! < 1 || +d! > daysIn(+y, +m!)) return `there is no day ${y}-${m}-${d}`;
  const [, sign, hh, mm] = OFFSET_RE.exec(text)!;
  const offset = sign ? (sign === '-' ? -1 : 1) * (+hh! * 60 + +mm!) : 0;
  if (offset < -12 * 60 || offset > 14 * 60 || +mm! > 59) return 'the UTC offset must be between -12:00 and +14:00';
  const year = new Date(text).getUTCFullYear();
  if (year < 1 || year > 9999) return 'the date must fall in the years 0001 to 9999 (UTC)';
  return undefined;
}

/** A date-time in a query or body: ISO 8601 with an offset, one PostgreSQL can store; passed on as UTC (…Z). */
export const Instant = z
  .string()
  .datetime({ offset: true, abort: true, error: 'an ISO 8601 date-time with an offset, such as 2026-01-31T02:00:00Z' })
  .superRefine((text, ctx) => {
    const problem = instantProblem(text);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  })
  .transform((text) => new Date(text).toISOString());

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
  503: err('A service the API needs (Temporal) is unavailable: try again later'),
};

export const json = <T extends z.ZodType>(schema: T, description = 'OK') => ({
  content: { 'application/json': { schema } },
  description,
});
export const body = <T extends z.ZodType>(schema: T) => ({
  body: { content: { 'application/json': { schema } }, required: true },
});

export const iso = (d: Date | null | undefined): string | null => (d ? d.toISOString() : null);

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

/** Postgres unique violations become a 409 naming what already exists. */
export function uniqueViolation(err: unknown): boolean {
  const e = err as { code?: string; cause?: { code?: string } };
  return e.code === '23505' || e.cause?.code === '23505';
}
