// The site worker's side of the API: its check-in, and the PUT that carries the bytes of a download (relay.ts).
//
// Naming: a *site* is a location and its row in `sites`; the *site worker* is the one process per site that polls the
// site's task queue and does the work there; the *site key* is the credential that worker holds for its site. Early
// versions called the site worker "the agent", and the URL paths keep `/agent/...`: they are the API site workers
// already call, so the folder is named after them, while the code says "site worker".
import { createRoute, z } from '@hono/zod-openapi';
import { eq } from 'drizzle-orm';
import { BackupError } from '../../common/errors.ts';
import { ENGINES, type Engine } from '../../common/model.ts';
import { sites } from '../../db/schema.ts';
import { parseSiteKey, siteKeyMatches } from '../auth/site-keys.ts';
import { errors, json } from '../lib/http.ts';
import { router, type Router } from '../lib/router.ts';
import type { Services } from '../lib/services.ts';

const CheckInInput = z.object({ engines: z.array(z.enum(ENGINES)).optional() }).openapi('SiteCheckInInput');
const CheckIn = z
  .object({
    siteId: z.string(),
    siteName: z.string(),
    tenantId: z.string(),
    taskQueue: z.string(),
    temporal: z
      .object({ token: z.string(), expiresAt: z.string() })
      .optional()
      .openapi({ description: "A short-lived token for the site's own task queue; check in again before it expires" }),
  })
  .openapi('SiteCheckIn');

/** Open routes: a site worker proves who it is with its site key, not with a user's token. */
export function siteWorkerRoutes(s: Services) {
  const r = router();
  checkIn(r, s);
  transfer(r, s);
  return r;
}

/** The site whose key is in the Authorization header; an unknown or revoked key is a 401. */
export async function authenticateSiteWorker(
  s: Services,
  authorization: string | undefined,
): Promise<typeof sites.$inferSelect> {
  const key = /^Bearer (.+)$/i.exec(authorization ?? '')?.[1] ?? '';
  const siteId = parseSiteKey(key);
  const [site] = siteId ? await s.db.select().from(sites).where(eq(sites.id, siteId)) : [];
  if (!site || !siteKeyMatches(key, site.keyHash)) throw new BackupError('auth', 'unknown or revoked site key');
  return site;
}

/** The site worker proves it holds the site key and learns which task queue to poll. */
function checkIn(r: Router, s: Services) {
  r.openapi(
    createRoute({
      method: 'post',
      path: '/agent/check-in',
      tags: ['sites'],
      summary: 'Site worker check-in with its site key (Bearer); it says which engines it can back up',
      request: { body: { content: { 'application/json': { schema: CheckInInput } }, required: false } },
      responses: { 200: json(CheckIn), 401: errors[401] },
    }),
    async (c) => {
      const site = await authenticateSiteWorker(s, c.req.header('authorization'));
      const engines = (c.req.valid('json') as { engines?: Engine[] } | undefined)?.engines;
      if (engines) await s.db.update(sites).set({ engines, checkedInAt: new Date() }).where(eq(sites.id, site.id));
      s.logger.info({ labels: { tenant_id: site.tenantId, site_id: site.id } }, 'site worker checked in');
      const temporal = s.siteTokens?.issue(site);
      c.header('Cache-Control', 'no-store');
      return c.json(
        { siteId: site.id, siteName: site.name, tenantId: site.tenantId, taskQueue: site.taskQueue, temporal },
        200,
      );
    },
  );
}

/** The site worker's side of a download: it PUTs the copy's bytes here, authenticated with its site key. */
function transfer(r: Router, s: Services) {
  r.openapi(
    createRoute({
      method: 'put',
      path: '/agent/transfers/{transferId}',
      tags: ['sites'],
      summary: 'Site worker: the bytes of a download the API is waiting for (site key as Bearer)',
      request: {
        params: z.object({
          transferId: z
            .string()
            .min(1)
            .max(64)
            .openapi({ param: { name: 'transferId', in: 'path' } }),
        }),
      },
      responses: { 200: json(z.object({ ok: z.literal(true) })), 401: errors[401], 404: errors[404] },
    }),
    async (c) => {
      const site = await authenticateSiteWorker(s, c.req.header('authorization'));
      const body = c.req.raw.body;
      if (!body) return c.json({ error: { code: 'invalid', message: 'no body' } }, 400 as never);
      await s.relay.accept(c.req.valid('param').transferId, site.id, body);
      return c.json({ ok: true as const }, 200);
    },
  );
}
