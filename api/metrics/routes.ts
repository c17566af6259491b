// GET /metrics (outside /api/v1): the process's metrics and the per-configuration gauges, for Prometheus. It needs
// `Authorization: Bearer <METRICS_TOKEN>`; without a token set the route does not exist (404), so metrics are never
// open by accident. The latency middleware labels each request with the route's pattern, never its raw path.
import { timingSafeEqual, createHash } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';
import { routePath } from 'hono/route';
import type { AppEnv } from '../auth/tokens.ts';
import { httpRequestSeconds, metricsText, METRICS_CONTENT_TYPE } from '../../common/metrics.ts';
import type { Db } from '../../db/client.ts';
import type { Router } from '../lib/router.ts';
import { configRegistry } from './config-gauges.ts';

export function requestLatency(): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const end = httpRequestSeconds.startTimer();
    try {
      await next();
    } finally {
      // After next() the route index is the handler that answered; an unmatched path keeps a middleware's pattern.
      end({ route: routePath(c) || 'unmatched', method: c.req.method, status: `${Math.floor(c.res.status / 100)}xx` });
    }
  };
}

const digest = (s: string) => createHash('sha256').update(s).digest();

export function mountMetrics(app: Router, db: Db, token: string | undefined): void {
  if (!token) return;
  const registry = configRegistry(db);
  const expected = digest(`Bearer ${token}`);
  app.get('/metrics', async (c) => {
    // Compared as digests in constant time: the answer's timing says nothing about the token.
    if (!timingSafeEqual(digest(c.req.header('authorization') ?? ''), expected))
      return c.json({ error: { code: 'unauthorized', message: 'send Authorization: Bearer <METRICS_TOKEN>' } }, 401);
    return c.body(await metricsText(registry), 200, { 'content-type': METRICS_CONTENT_TYPE });
  });
}
