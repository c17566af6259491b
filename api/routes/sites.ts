// Sites: each runs one worker polling its own task queue. The connection key is shown once, stored as a hash.
import { randomUUID } from 'node:crypto';
import { createRoute, z } from '@hono/zod-openapi';
import { and, eq } from 'drizzle-orm';
import { conflict } from '../../common/errors.ts';
import { siteTaskQueue } from '../../common/names.ts';
import { ONLINE_WINDOW_MS, siteLastSeen } from '../../common/temporal.ts';
import { destinations, servers, sites } from '../../db/schema.ts';
import { router } from '../lib/router.ts';
import type { Services } from '../lib/services.ts';
import { requireRole } from '../auth/roles.ts';
import { newSiteKey } from '../auth/site-keys.ts';
import { uniqueViolation } from '../lib/errors.ts';
import { body, errors, IdParam, json } from '../lib/http.ts';
import { audit, findOwned } from '../lib/tenancy.ts';

const Site = z
  .object({
    id: z.string(),
    name: z.string(),
    taskQueue: z.string(),
    createdAt: z.string(),
    engines: z
      .array(z.string())
      .nullable()
      .openapi({ description: 'engines its worker has tools for, as of its last check-in' }),
    checkedInAt: z.string().nullable(),
  })
  .openapi('Site');
const SiteWithKey = Site.extend({
  key: z.string().openapi({ description: 'Shown once: put it in the site worker configuration' }),
}).openapi('SiteWithKey');
const SiteInput = z.object({ name: z.string().trim().min(1).max(100) }).openapi('SiteInput');
const SiteStatus = z
  .object({ online: z.boolean(), lastSeenAt: z.string().nullable(), taskQueue: z.string() })
  .openapi('SiteStatus');

const siteOut = (x: typeof sites.$inferSelect) => ({
  id: x.id,
  name: x.name,
  taskQueue: x.taskQueue,
  createdAt: x.createdAt.toISOString(),
  engines: x.engines,
  checkedInAt: x.checkedInAt?.toISOString() ?? null,
});
const duplicate = (err: unknown) => {
  if (uniqueViolation(err)) return conflict('a site with this name exists in your tenant');
  return err;
};

export function siteRoutes(s: Services) {
  const r = router();

  r.openapi(
    createRoute({
      method: 'get',
      path: '/sites',
      tags: ['sites'],
      summary: 'Sites of your tenant',
      responses: { 200: json(z.object({ items: z.array(Site) })) },
    }),
    async (c) => {
      const rows = await s.db
        .select()
        .from(sites)
        .where(eq(sites.tenantId, c.get('auth').tenantId))
        .orderBy(sites.name);
      return c.json({ items: rows.map(siteOut) }, 200);
    },
  );

  r.openapi(
    createRoute({
      method: 'post',
      path: '/sites',
      tags: ['sites'],
      summary: 'Register a site; answers its connection key once',
      request: body(SiteInput),
      responses: { 201: json(SiteWithKey), 400: errors[400], 403: errors[403], 409: errors[409] },
    }),
    async (c) => {
      const auth = c.get('auth');
      requireRole(auth, 'admin');
      const id = randomUUID();
      const { key, hash } = newSiteKey(id);
      const site = await s.db
        .transaction(async (tx) => {
          const [row] = await tx
            .insert(sites)
            .values({
              id,
              tenantId: auth.tenantId,
              name: c.req.valid('json').name,
              keyHash: hash,
              taskQueue: siteTaskQueue(id),
            })
            .returning();
          await audit(tx, auth, 'site.create', { type: 'site', id }, { name: row!.name });
          return row!;
        })
        .catch((e: unknown) => {
          throw duplicate(e);
        });
      return c.json({ ...siteOut(site), key }, 201);
    },
  );

  r.openapi(
    createRoute({
      method: 'get',
      path: '/sites/{id}',
      tags: ['sites'],
      request: { params: IdParam },
      responses: { 200: json(Site), 404: errors[404] },
    }),
    async (c) => {
      return c.json(
        siteOut(await findOwned(s.db, sites, c.req.valid('param').id, c.get('auth').tenantId, 'site')),
        200,
      );
    },
  );

  r.openapi(
    createRoute({
      method: 'patch',
      path: '/sites/{id}',
      tags: ['sites'],
      summary: 'Rename a site',
      request: { params: IdParam, ...body(SiteInput) },
      responses: { 200: json(Site), 400: errors[400], 403: errors[403], 404: errors[404], 409: errors[409] },
    }),
    async (c) => {
      const auth = c.get('auth');
      requireRole(auth, 'admin');
      const { id } = c.req.valid('param');
      const site = await s.db
        .transaction(async (tx) => {
          await findOwned(tx, sites, id, auth.tenantId, 'site');
          const [row] = await tx
            .update(sites)
            .set({ name: c.req.valid('json').name })
            .where(eq(sites.id, id))
            .returning();
          await audit(tx, auth, 'site.update', { type: 'site', id }, { name: row!.name });
          return row!;
        })
        .catch((e: unknown) => {
          throw duplicate(e);
        });
      return c.json(siteOut(site), 200);
    },
  );

  r.openapi(
    createRoute({
      method: 'post',
      path: '/sites/{id}/rotate-key',
      tags: ['sites'],
      summary: 'Issue a new connection key; the old one stops working',
      request: { params: IdParam },
      responses: { 200: json(SiteWithKey), 403: errors[403], 404: errors[404] },
    }),
    async (c) => {
      const auth = c.get('auth');
      requireRole(auth, 'admin');
      const { id } = c.req.valid('param');
      const { key, hash } = newSiteKey(id);
      const site = await s.db.transaction(async (tx) => {
        await findOwned(tx, sites, id, auth.tenantId, 'site');
        const [row] = await tx.update(sites).set({ keyHash: hash }).where(eq(sites.id, id)).returning();
        await audit(tx, auth, 'site.rotate-key', { type: 'site', id });
        return row!;
      });
      return c.json({ ...siteOut(site), key }, 200);
    },
  );

  r.openapi(
    createRoute({
      method: 'delete',
      path: '/sites/{id}',
      tags: ['sites'],
      summary: 'Remove a site that has no servers and no destinations',
      request: { params: IdParam },
      responses: { 204: { description: 'Removed' }, 403: errors[403], 404: errors[404], 409: errors[409] },
    }),
    async (c) => {
      const auth = c.get('auth');
      requireRole(auth, 'admin');
      const { id } = c.req.valid('param');
      await s.db.transaction(async (tx) => {
        const site = await findOwned(tx, sites, id, auth.tenantId, 'site');
        const [used] = await tx
          .select({ id: servers.id })
          .from(servers)
          .where(and(eq(servers.siteId, id), eq(servers.tenantId, auth.tenantId)))
          .limit(1);
        if (used) throw conflict('the site still has servers: delete them first');
        const [destination] = await tx
          .select({ name: destinations.name })
          .from(destinations)
          .where(and(eq(destinations.siteId, id), eq(destinations.tenantId, auth.tenantId)))
          .limit(1);
        if (destination)
          throw conflict(`the site still has destinations (such as '${destination.name}'): remove them first`);
        await tx.delete(sites).where(eq(sites.id, id));
        await audit(tx, auth, 'site.delete', { type: 'site', id }, { name: site.name });
      });
      return c.body(null, 204);
    },
  );

  r.openapi(
    createRoute({
      method: 'get',
      path: '/sites/{id}/status',
      tags: ['sites'],
      summary: 'Is the site online: a worker polled its task queue in the last two minutes',
      request: { params: IdParam },
      responses: { 200: json(SiteStatus), 404: errors[404] },
    }),
    async (c) => {
      const site = await findOwned(s.db, sites, c.req.valid('param').id, c.get('auth').tenantId, 'site');
      const lastSeen = await siteLastSeen(s.temporal, site.taskQueue);
      const online = !!lastSeen && Date.now() - lastSeen.getTime() < ONLINE_WINDOW_MS;
      return c.json({ online, lastSeenAt: lastSeen?.toISOString() ?? null, taskQueue: site.taskQueue }, 200);
    },
  );

  return r;
}
