// Servers: a database server at a site, known by name. No credentials here: they stay in the site's config.
import { createRoute, z } from '@hono/zod-openapi';
import { servers } from '../../db/schema.ts';
import { requireRole } from '../auth/roles.ts';
import { body, errors, IdParam, json } from '../lib/http.ts';
import { router, type Router } from '../lib/router.ts';
import type { Services } from '../lib/services.ts';
import { findOwned } from '../lib/tenancy.ts';
import { Server, ServerCreate, serverOut, ServerPatch } from './schemas.ts';
import * as service from './service.ts';

export function serverRoutes(s: Services) {
  const r = router();
  list(r, s);
  create(r, s);
  get(r, s);
  rename(r, s);
  remove(r, s);
  return r;
}

function list(r: Router, s: Services) {
  r.openapi(
    createRoute({
      method: 'get',
      path: '/servers',
      tags: ['servers'],
      request: { query: z.object({ siteId: z.string().uuid().optional() }) },
      responses: { 200: json(z.object({ items: z.array(Server) })), 400: errors[400] },
    }),
    async (c) => {
      const rows = await service.list(s.db, c.get('auth').tenantId, c.req.valid('query').siteId);
      return c.json({ items: rows.map(serverOut) }, 200);
    },
  );
}

function create(r: Router, s: Services) {
  r.openapi(
    createRoute({
      method: 'post',
      path: '/servers',
      tags: ['servers'],
      summary: 'Register a database server at a site',
      request: body(ServerCreate),
      responses: { 201: json(Server), 400: errors[400], 403: errors[403], 404: errors[404], 409: errors[409] },
    }),
    async (c) => {
      const auth = c.get('auth');
      requireRole(auth, 'admin');
      return c.json(serverOut(await service.create(s.db, auth, c.req.valid('json'))), 201);
    },
  );
}

function get(r: Router, s: Services) {
  r.openapi(
    createRoute({
      method: 'get',
      path: '/servers/{id}',
      tags: ['servers'],
      request: { params: IdParam },
      responses: { 200: json(Server), 404: errors[404] },
    }),
    async (c) => {
      return c.json(
        serverOut(await findOwned(s.db, servers, c.req.valid('param').id, c.get('auth').tenantId, 'server')),
        200,
      );
    },
  );
}

function rename(r: Router, s: Services) {
  r.openapi(
    createRoute({
      method: 'patch',
      path: '/servers/{id}',
      tags: ['servers'],
      summary: 'Rename a server (rename it in the site configuration too)',
      request: { params: IdParam, ...body(ServerPatch) },
      responses: { 200: json(Server), 400: errors[400], 403: errors[403], 404: errors[404], 409: errors[409] },
    }),
    async (c) => {
      const auth = c.get('auth');
      requireRole(auth, 'admin');
      const server = await service.rename(s, auth, c.req.valid('param').id, c.req.valid('json'));
      return c.json(serverOut(server), 200);
    },
  );
}

function remove(r: Router, s: Services) {
  r.openapi(
    createRoute({
      method: 'delete',
      path: '/servers/{id}',
      tags: ['servers'],
      summary: 'Remove a server that has no backup configurations',
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
