// What every route's contract is made of: path ids, date-times PostgreSQL can store, the error body and the
// OpenAPI shorthand for JSON bodies and answers.
import { z } from '@hono/zod-openapi';

export const IdParam = z.object({
  id: z
    .string()
    .uuid()
    .openapi({ param: { name: 'id', in: 'path' } }),
});

/** Any UUID PostgreSQL's uuid type takes (z.uuid() takes only RFC 9562 versions and variants). */
export const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

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
  429: err('Too many attempts: wait the Retry-After seconds'),
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
