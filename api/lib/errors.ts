// Every error a route throws becomes its answer here, in one place: a BackupError by its kind, the metadata database or
// Temporal being away as 503 with Retry-After, anything else as a 500 whose details go only to the log, with the
// secrets drizzle would print taken out.
import { DrizzleQueryError } from 'drizzle-orm';
import type { Context, ErrorHandler, NotFoundHandler } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { BackupError, type ErrorKind } from '../../common/errors.ts';
import type { Logger } from '../../common/logger.ts';
import { databaseUnavailable } from '../../db/outage.ts';
import type { AppEnv } from '../auth/tokens.ts';
import { temporalNotAnswering, temporalUnavailable } from '../temporal/errors.ts';

const STATUS: Record<ErrorKind, ContentfulStatusCode> = {
  invalid: 400,
  auth: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  unavailable: 503,
};

/** Seconds a client is asked to wait before it tries again after a 503: a dependency that restarts is back by then. */
export const RETRY_AFTER_SECONDS = 5;

export function errorHandler(logger: Logger): ErrorHandler<AppEnv> {
  return (err, c) => {
    if (err instanceof BackupError) return answer(c, err);
    const outage = dependencyOutage(err);
    if (outage) {
      logger.warn({ url: { path: c.req.path }, error: { message: outage.reason } }, 'dependency unavailable');
      return answer(c, outage.error);
    }
    if (err instanceof HTTPException) {
      // Hono's own validators (e.g. a body that is not JSON) answer 400 here.
      return c.json(
        { error: { code: err.status === 400 ? 'invalid' : 'http', message: err.message || 'bad request' } },
        err.status,
      );
    }
    logger.error({ err: loggable(err), url: { path: c.req.path } }, 'unhandled error');
    return c.json({ error: { code: 'internal', message: 'internal error; the details are in the API log' } }, 500);
  };
}

function answer(c: Context<AppEnv>, err: BackupError): Response {
  const issues = err.details.field ? [{ field: err.details.field, reason: err.message }] : undefined;
  // Any route may meet a dependency that is away: the client may try again once it is back.
  if (err.kind === 'unavailable') c.header('Retry-After', String(RETRY_AFTER_SECONDS));
  return c.json({ error: { code: err.kind, message: err.message, ...(issues && { issues }) } }, STATUS[err.kind]);
}

/**
 * The metadata database or Temporal did not answer (down, hung, restarting): a 503, never the API's own fault. The
 * database's reason (its address, its words) goes to the log only.
 */
export function dependencyOutage(err: unknown): { error: BackupError; reason: string } | undefined {
  if (temporalNotAnswering(err)) {
    const error = temporalUnavailable(err);
    return { error, reason: error.message };
  }
  const reason = databaseUnavailable(err);
  if (!reason) return undefined;
  const error = new BackupError('unavailable', 'the metadata database is unavailable; try again in a few seconds');
  return { error, reason: `the metadata database is unavailable: ${reason}` };
}

export const noRoute: NotFoundHandler<AppEnv> = (c) =>
  c.json({ error: { code: 'not_found', message: `no route ${c.req.method} ${c.req.path}` } }, 404);

/**
 * An unexpected error as it may be logged. drizzle's DrizzleQueryError writes the query's parameters (password hashes,
 * webhook URLs, whatever was being stored) into its message and so its stack: only the query text, the database's
 * reason and the stack frames are kept.
 */
export function loggable(err: unknown): unknown {
  if (!(err instanceof DrizzleQueryError)) return err;
  const reason = err.cause instanceof Error ? err.cause.message : 'no reason given';
  const safe = new Error(`Failed query: ${err.query}: ${reason}`);
  safe.name = 'DrizzleQueryError';
  const header = `${err.name}: ${err.message}`;
  safe.stack = `${safe.name}: ${safe.message}${err.stack?.startsWith(header) ? err.stack.slice(header.length) : ''}`;
  return safe;
}

/** Postgres unique violations become a 409 naming what already exists. */
export function uniqueViolation(err: unknown): boolean {
  const e = err as { code?: string; cause?: { code?: string } };
  return e.code === '23505' || e.cause?.code === '23505';
}
