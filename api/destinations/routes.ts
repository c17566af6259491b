// Destinations: off-site places a site sends copies to (Azure Blob, an SFTP host, a folder). Known here by name and
// kind only; their connection settings and secrets live in the site worker's configuration, like database passwords.
import { createRoute, z } from '@hono/zod-openapi';
import { destinations } from '../../db/schema.ts';
import { requireRole } from '../auth/roles.ts';
import { body, errors, IdParam, json } from '../lib/http.ts';
import { router, type Router } from '../lib/router.ts';
import type { Services } from '../lib/services.ts';
import { findOwned } from '../lib/tenancy.ts';
import { Destination, DestinationCreate, destinationOut } from './schemas.ts';
import * as service from './service.ts';

export function destinationRoutes(s: Services) {
  const r = router();
  list(r, s);
  create(r, s);
  get(r, s);
  remove(r, s);
  return r;
}

function list(r: Router, s: Services) {
  r.openapi(
    createRoute({
      method: 'get',
      path: '/destinations',
      tags: ['destinations'],
      request: { query: z.object({ siteId: z.string().uuid().optional() }) },
      responses: { 200: json(z.object({ items: z.array(Destination) })), 400: errors[400] },
    }),
    async (c) => {
      const rows = await service.list(s.db, c.get('auth').tenantId, c.req.valid('query').siteId);
      return c.json({ items: rows.map(destinationOut) }, 200);
    },
  );
}

function create(r: Router, s: Services) {
  r.openapi(
    createRoute({
      method: 'post',
      path: '/destinations',
      tags: ['destinations'],
      summary: 'Register a destination of a site (its settings go in the site configuration)',
      request: body(DestinationCreate),
      responses: { 201: json(Destination), 400: errors[400], 403: errors[403], 404: errors[404], 409: errors[409] },
    }),
    async (c) => {
      const auth = c.get('auth');
      requireRole(auth, 'admin');
      return c.json(destinationOut(await service.create(s.db, auth, c.req.valid('json'))), 201);
    },
  );
}

function get(r: Router, s: Services) {
  r.openapi(
    createRoute({
      method: 'get',
      path: '/destinations/{id}',
      tags: ['destinations'],
      request: { params: IdParam },
      responses: { 200: json(Destination), 404: errors[404] },
    }),
    async (c) => {
      return c.json(
        destinationOut(
          await findOwned(s.db, destinations, c.req.valid('param').id, c.get('auth').tenantId, 'destination'),
        ),
        200,
      );
    },
  );
}

function remove(r: Router, s: Services) {
  r.openapi(
    createRoute({
      method: 'delete',
      path: '/destinations/{id}',
      tags: ['destinations'],
      summary: 'Remove a destination no configuration uses; the history of its copies stays',
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
