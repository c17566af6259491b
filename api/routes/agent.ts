// The site worker's check-in: it proves it holds the site key and learns which task queue to poll.
import { createRoute, z } from '@hono/zod-openapi';
import { eq } from 'drizzle-orm';
import { BackupError } from '../../common/errors.ts';
import { sites } from '../../db/schema.ts';
import { router, type Services } from '../app.ts';
import { parseSiteKey, siteKeyMatches } from '../auth.ts';
import { errors, json } from '../schemas.ts';

const CheckIn = z.object({ siteId: z.string(), siteName: z.string(), tenantId: z.string(), taskQueue: z.string() }).openapi('SiteCheckIn');

export function agentRoutes(s: Services) {
  const r = router();
  r.openapi(
    createRoute({ method: 'post', path: '/agent/check-in', tags: ['sites'], summary: 'Site worker check-in with its site key (Bearer)', responses: { 200: json(CheckIn), 401: errors[401] } }),
    async (c) => {
      const key = /^Bearer (.+)$/i.exec(c.req.header('authorization') ?? '')?.[1] ?? '';
      const siteId = parseSiteKey(key);
      const [site] = siteId ? await s.db.select().from(sites).where(eq(sites.id, siteId)) : [];
      if (!site || !siteKeyMatches(key, site.keyHash)) throw new BackupError('auth', 'unknown or revoked site key');
      s.logger.info({ labels: { tenant_id: site.tenantId, site_id: site.id } }, 'site worker checked in');
      return c.json({ siteId: site.id, siteName: site.name, tenantId: site.tenantId, taskQueue: site.taskQueue }, 200);
    },
  );
  return r;
}
