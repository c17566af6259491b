// The site worker's check-in: it proves it holds the site key and learns which task queue to poll.
import { createRoute, z } from '@hono/zod-openapi';
import { eq } from 'drizzle-orm';
import { BackupError } from '../../common/errors.ts';
import { ENGINES, type Engine } from '../../common/model.ts';
import { sites } from '../../db/schema.ts';
import { router } from '../lib/router.ts';
import type { Services } from '../lib/services.ts';
import { parseSiteKey, siteKeyMatches } from '../auth/site-keys.ts';
import { errors, json } from '../lib/http.ts';

const CheckInInput = z.object({ engines: z.array(z.enum(ENGINES)).optional() }).openapi('SiteCheckInInput');
const CheckIn = z
  .object({ siteId: z.string(), siteName: z.string(), tenantId: z.string(), taskQueue: z.string() })
  .openapi('SiteCheckIn');

export function agentRoutes(s: Services) {
  const r = router();
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
      const site = await authenticateSite(s, c.req.header('authorization'));
      const engines = (c.req.valid('json') as { engines?: Engine[] } | undefined)?.engines;
      if (engines) await s.db.update(sites).set({ engines, checkedInAt: new Date() }).where(eq(sites.id, site.id));
      s.logger.info({ labels: { tenant_id: site.tenantId, site_id: site.id } }, 'site worker checked in');
      return c.json({ siteId: site.id, siteName: site.name, tenantId: site.tenantId, taskQueue: site.taskQueue }, 200);
    },
  );
  return r;
}

/** The site whose key is in the Authorization header; an unknown or revoked key is a 401. */
export async function authenticateSite(
  s: Services,
  authorization: string | undefined,
): Promise<typeof sites.$inferSelect> {
  const key = /^Bearer (.+)$/i.exec(authorization ?? '')?.[1] ?? '';
  const siteId = parseSiteKey(key);
  const [site] = siteId ? await s.db.select().from(sites).where(eq(sites.id, siteId)) : [];
  if (!site || !siteKeyMatches(key, site.keyHash)) throw new BackupError('auth', 'unknown or revoked site key');
  return site;
}
