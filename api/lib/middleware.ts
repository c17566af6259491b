// What runs before every route: the access log line, the deadline of calls to Temporal, the body size limit and the
// refusal of NUL characters.
import type { MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { BackupError, invalid } from '../../common/errors.ts';
import type { Logger } from '../../common/logger.ts';
import { withTemporalCallDeadline } from '../../common/temporal.ts';
import type { AppEnv } from '../auth/tokens.ts';

/**
 * How long a request waits for one answer from the metadata database (the API's pool gets it too) or Temporal before
 * it answers 503 with Retry-After: a client learns within 2 s that a dependency is away, not after 20. The setting
 * DEPENDENCY_TIMEOUT_MS changes it (a loaded test machine wants more).
 */
export const DEPENDENCY_TIMEOUT_MS = 1500;

/** Every Temporal call a request makes gets `ms` (waiting for a run's result excepted). */
export const temporalDeadlines =
  (ms: number): MiddlewareHandler<AppEnv> =>
  (c, next) =>
    withTemporalCallDeadline(ms, next);

/** The largest request body the API reads (the site worker's transfer PUT streams and has no limit). */
const MAX_BODY_BYTES = 1024 * 1024;

/**
 * The access line holds only what this middleware puts in it (method, path without the query, status, duration), none
 * of which can carry a secret: it skips the redaction every other line gets, a tenth of a small request's CPU.
 */
export function accessLog(logger: Logger): MiddlewareHandler<AppEnv> {
  const access = logger.child({}, { redact: [] });
  return async (c, next) => {
    const started = performance.now();
    await next();
    access.info(
      {
        http: { request: { method: c.req.method }, response: { status_code: c.res.status } },
        url: { path: c.req.path },
        event: { duration: Math.round((performance.now() - started) * 1e6) },
      },
      'request',
    );
  };
}

/**
 * Requests are small documents, read whole; only a site worker's download stream (its transfer PUT) is large, and it is
 * streamed. Anything else above 1 MiB is refused before it is read (sign-in and sign-up included).
 */
export function limitBodies(): MiddlewareHandler<AppEnv> {
  const limit = bodyLimit({
    maxSize: MAX_BODY_BYTES,
    // The rest of the body is not read, so the connection cannot carry another request: say so, then close it.
    onError: (c) =>
      c.json({ error: { code: 'invalid', message: `the request body is over ${MAX_BODY_BYTES} bytes` } }, 413, {
        connection: 'close',
      }),
  });
  return (c, next) => (c.req.path.startsWith('/api/v1/agent/transfers/') ? next() : limit(c, next));
}

/**
 * PostgreSQL's text cannot hold U+0000, in any field of any route: refused here, before it reaches a query, naming the
 * field. Only queries with %00 and JSON bodies with \u0000 are looked into.
 */
export const refuseNul: MiddlewareHandler<AppEnv> = async (c, next) => {
  const fields: string[] = [];
  if (c.req.url.includes('%00')) {
    for (const [name, values] of Object.entries(c.req.queries()))
      if (name.includes('\0') || values.some((v) => v.includes('\0'))) fields.push(name);
  }
  if (c.req.header('content-type')?.includes('json')) {
    const text = await c.req.text();
    if (text.includes('\\u0000') || LONE_SURROGATE_ESCAPE.test(text)) {
      try {
        const surrogates = malformedFields(JSON.parse(text));
        if (surrogates[0])
          throw invalid(
            'contains half of a UTF-16 surrogate pair, which is not text and cannot be stored',
            surrogates[0],
          );
        fields.push(...nulFields(JSON.parse(text)));
      } catch (err) {
        if (err instanceof BackupError) throw err;
        // Not JSON: the route's validator answers 400.
      }
    }
  }
  if (fields[0]) throw invalid('contains a NUL character (\\u0000), which cannot be stored', fields[0]);
  await next();
};

/** A JSON escape of a surrogate (\\uD800-\\uDFFF): only then can a parsed string hold one alone. */
const LONE_SURROGATE_ESCAPE = /\\u[dD][89a-fA-F][0-9a-fA-F]{2}/;

/** The fields (or keys) of a JSON body whose strings are not well-formed UTF-16. */
function malformedFields(value: unknown, path: string[] = []): string[] {
  if (typeof value === 'string') return value.isWellFormed() ? [] : [path.join('.') || 'body'];
  if (!value || typeof value !== 'object') return [];
  return Object.entries(value).flatMap(([k, v]) =>
    k.isWellFormed() ? malformedFields(v, [...path, k]) : [path.join('.') || 'body'],
  );
}

/** PostgreSQL's text and jsonb cannot hold U+0000: the fields of a JSON body that do, as a validation issue names them. */
export function nulFields(value: unknown, path: string[] = []): string[] {
  if (typeof value === 'string') return value.includes('\0') ? [path.join('.') || 'body'] : [];
  if (!value || typeof value !== 'object') return [];
  return Object.entries(value).flatMap(([k, v]) =>
    k.includes('\0') ? [path.join('.') || 'body'] : nulFields(v, [...path, k]),
  );
}
