// Sites: each runs one worker polling its own task queue. The connection key is shown once, stored as a hash.
import { createRoute, z } from '@hono/zod-openapi';
import { sites } from '../../db/schema.ts';
import { requireRole } from '../auth/roles.ts';
import { body, errors, IdParam, json } from '../lib/http.ts';
import { router, type Router } from '../lib/router.ts';
import type { Services } from '../lib/services.ts';
import { findOwned } from '../lib/tenancy.ts';
import { Site, SiteInput, siteOut, SiteStatus, SiteWithKey } from './schemas.ts';
import * as service from './service.ts';

export function siteRoutes(s: Services) {
  const r = router();
  list(r, s);
  create(r, s);
  get(r, s);
  rename(r, s);
  rotateKey(r, s);
  remove(r, s);
  status(r, s);
  return r;
}

function list(r: Router, s: Services) {
  r.openapi(
    createRoute({
      method: 'get',
      path: '/sites',
      tags: ['sites'],
      summary: 'Sites of your tenant',
      responses: { 200: json(z.object({ items: z.array(Site) })) },
    }),
    async (c) => {
      const rows = await service.list(s.db, c.get('auth').tenantId);
      return c.json({ items: rows.map(siteOut) }, 200);
    },
  );
}

function create(r: Router, s: Services) {
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
      const { site, key } = await service.create(s.db, auth, c.req.valid('json').name);
      return c.json({ ...siteOut(site), key }, 201);
    },
  );
}

function get(r: Router, s: Services) {
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
}

function rename(r: Router, s: Services) {
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
      const site = await service.rename(s.db, auth, c.req.valid('param').id, c.req.valid('json').name);
      return c.json(siteOut(site), 200);
    },
  );
}

function rotateKey(r: Router, s: Services) {
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
      const { site, key } = await service.rotateKey(s.db, auth, c.req.valid('param').id);
      return c.json({ ...siteOut(site), key }, 200);
    },
  );
}

function remove(r: Router, s: Services) {
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
      await service.remove(s.db, auth, c.req.valid('param').id);
      return c.body(null, 204);
    },
  );
}

function status(r: Router, s: Services) {
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
      return c.json(await service.status(s.temporal, site), 200);
    },
  );
}
