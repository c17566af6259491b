// The HTTP API: `createApp(deps)` builds it; api/main.ts serves it; tests call `app.request(...)`.
import { OpenAPIHono } from '@hono/zod-openapi';
import { Scalar } from '@scalar/hono-api-reference';
import { DrizzleQueryError } from 'drizzle-orm';
import { bodyLimit } from 'hono/body-limit';
import { HTTPException } from 'hono/http-exception';
import { ServiceError } from '@temporalio/client';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { BackupError, invalid, type ErrorKind } from '../common/errors.ts';
import type { Logger } from '../common/logger.ts';
import type { TemporalHandles } from '../common/temporal.ts';
import type { Db } from '../db/client.ts';
import { UserRoles } from './auth/roles.ts';
import { requireUser, type AppEnv } from './auth/tokens.ts';
import { nulFields } from './schemas.ts';
import { Schedules, temporalUnavailable } from './schedules.ts';
import { agentRoutes } from './routes/agent.ts';
import { authRoutes } from './routes/auth.ts';
import { backupRoutes } from './routes/backups.ts';
import { configRoutes } from './routes/configs.ts';
import { serverRoutes } from './routes/servers.ts';
import { siteRoutes } from './routes/sites.ts';
import { tenantRoutes } from './routes/tenant.ts';
import { destinationRoutes } from './routes/destinations.ts';
import { syncRoutes } from './routes/sync.ts';
import { restoreRoutes } from './routes/restores.ts';
import { transferRoutes } from './routes/transfers.ts';
import { Transfers } from './transfers.ts';

export interface AppDeps {
  db: Db;
  temporal: TemporalHandles;
  logger: Logger;
  jwtSecret: string;
  jwtTtlSeconds: number;
  centralTaskQueue: string;
}

export interface Services extends AppDeps {
  schedules: Schedules;
  transfers: Transfers;
  roles: UserRoles;
}

/** The largest request body the API reads (the transfers route streams and has no limit). */
const MAX_BODY_BYTES = 1024 * 1024;

const STATUS: Record<ErrorKind, ContentfulStatusCode> = {
  invalid: 400,
  auth: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  unavailable: 503,
};

/** Every router validates with the same hook: 400 naming each field and what is wrong with it. */
export function router() {
  return new OpenAPIHono<AppEnv>({
    defaultHook: (result, c) => {
      if (result.success) return;
      // A strict schema's unknown keys come as one issue: each key is named as its own field.
      const issues = result.error.issues.flatMap((i) =>
        i.code === 'unrecognized_keys'
          ? i.keys.map((k) => ({ field: [...i.path, k].join('.'), reason: 'not a field of this request' }))
          : [{ field: i.path.join('.') || result.target, reason: i.message }],
      );
      return c.json(
        { error: { code: 'invalid', message: issues.map((i) => `${i.field}: ${i.reason}`).join('; '), issues } },
        400,
      );
    },
  });
}

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

export function createApp(deps: AppDeps) {
  const services: Services = {
    ...deps,
    schedules: new Schedules(deps.temporal.client, deps.centralTaskQueue),
    transfers: new Transfers(),
    roles: new UserRoles(deps.db),
  };
  const app = router();

  // The access line holds only what this middleware puts in it (method, path without the query, status, duration),
  // none of which can carry a secret: it skips the redaction every other line gets, a tenth of a small request's CPU.
  const access = deps.logger.child({}, { redact: [] });
  app.use('*', async (c, next) => {
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
  });

  // Requests are small documents, read whole; only a site's download stream (the transfers route) is large, and it
  // is streamed. Anything else above 1 MiB is refused before it is read (sign-in and sign-up included).
  const limit = bodyLimit({
    maxSize: MAX_BODY_BYTES,
    onError: (c) =>
      c.json({ error: { code: 'invalid', message: `the request body is over ${MAX_BODY_BYTES} bytes` } }, 413),
  });
  app.use('/api/v1/*', (c, next) => (c.req.path.startsWith('/api/v1/agent/transfers/') ? next() : limit(c, next)));

  // PostgreSQL's text cannot hold U+0000, in any field of any route: refused here, before it reaches a query, naming
  // the field. Only queries with %00 and JSON bodies with \u0000 are looked into.
  app.use('/api/v1/*', async (c, next) => {
    const fields: string[] = [];
    if (c.req.url.includes('%00')) {
      for (const [name, values] of Object.entries(c.req.queries()))
        if (name.includes('\0') || values.some((v) => v.includes('\0'))) fields.push(name);
    }
    if (c.req.header('content-type')?.includes('json')) {
      const text = await c.req.text();
      if (text.includes('\\u0000')) {
        try {
          fields.push(...nulFields(JSON.parse(text)));
        } catch {
          // Not JSON: the route's validator answers 400.
        }
      }
    }
    if (fields[0]) throw invalid('contains a NUL character (\\u0000), which cannot be stored', fields[0]);
    await next();
  });

  app.onError((err, c) => {
    if (err instanceof BackupError) {
      const issues = err.details.field ? [{ field: err.details.field, reason: err.message }] : undefined;
      return c.json({ error: { code: err.kind, message: err.message, ...(issues && { issues }) } }, STATUS[err.kind]);
    }
    if (temporalNotAnswering(err)) {
      // Any route that starts a workflow or touches a schedule: the client may try again once Temporal is back.
      const e = temporalUnavailable(err);
      return c.json({ error: { code: e.kind, message: e.message } }, STATUS[e.kind]);
    }
    if (err instanceof HTTPException) {
      // Hono's own validators (e.g. a body that is not JSON) answer 400 here.
      return c.json(
        { error: { code: err.status === 400 ? 'invalid' : 'http', message: err.message || 'bad request' } },
        err.status,
      );
    }
    deps.logger.error({ err: loggable(err), url: { path: c.req.path } }, 'unhandled error');
    return c.json({ error: { code: 'internal', message: 'internal error; the details are in the API log' } }, 500);
  });
  app.notFound((c) => c.json({ error: { code: 'not_found', message: `no route ${c.req.method} ${c.req.path}` } }, 404));

  app.get('/healthz', (c) => c.json({ ok: true }));
  app.openAPIRegistry.registerComponent('securitySchemes', 'bearer', {
    type: 'http',
    scheme: 'bearer',
    bearerFormat: 'JWT',
  });
  app.doc31('/openapi.json', {
    openapi: '3.1.0',
    info: { title: 'Backup platform API', version: '1' },
    security: [{ bearer: [] }],
  });
  app.get('/docs', Scalar({ url: '/openapi.json', pageTitle: 'Backup platform API' }));

  // Open routes first; everything else under /api/v1 needs a signed-in user.
  app.route('/api/v1', authRoutes(services));
  app.route('/api/v1', agentRoutes(services));
  app.route('/api/v1', transferRoutes(services));
  app.use('/api/v1/*', requireUser(deps.jwtSecret, services.roles));
  app.route('/api/v1', tenantRoutes(services));
  app.route('/api/v1', siteRoutes(services));
  app.route('/api/v1', serverRoutes(services));
  app.route('/api/v1', configRoutes(services));
  app.route('/api/v1', backupRoutes(services));
  app.route('/api/v1', destinationRoutes(services));
  app.route('/api/v1', syncRoutes(services));
  app.route('/api/v1', restoreRoutes(services));
  return app;
}

export type App = ReturnType<typeof createApp>;

/** Temporal did not answer (down, unreachable, out of time): gRPC UNAVAILABLE or DEADLINE_EXCEEDED, or no code at all. */
function temporalNotAnswering(err: unknown): boolean {
  if (!(err instanceof ServiceError)) return false;
  const code = (err.cause as { code?: number } | undefined)?.code;
  return code === undefined || code === 14 || code === 4;
}
