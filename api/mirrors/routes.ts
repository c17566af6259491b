// Object mirrors under the tenant: create, list, read, change, pause, delete, run now, and their runs and versions.
import { createRoute, z } from '@hono/zod-openapi';
import { MIRROR_VERSION_STATES } from '../../common/mirror.ts';
import { requireRole } from '../auth/roles.ts';
import { body, errors, IdParam, json } from '../lib/http.ts';
import { router, type Router } from '../lib/router.ts';
import type { Services } from '../lib/services.ts';
import {
  Mirror,
  MirrorCreate,
  mirrorOut,
  MirrorPatch,
  MirrorRun,
  MirrorVersion,
  runOut,
  versionOut,
} from './schemas.ts';
import * as service from './service.ts';

export function mirrorRoutes(s: Services) {
  const r = router();
  crud(r, s);
  change(r, s);
  run(r, s);
  history(r, s);
  return r;
}

function crud(r: Router, s: Services) {
  r.openapi(
    createRoute({
      method: 'get',
      path: '/mirrors',
      tags: ['mirrors'],
      responses: { 200: json(z.object({ items: z.array(Mirror) })) },
    }),
    async (c) => c.json({ items: (await service.list(s, c.get('auth').tenantId)).map(mirrorOut) }, 200),
  );
  r.openapi(
    createRoute({
      method: 'post',
      path: '/mirrors',
      tags: ['mirrors'],
      summary: "Mirror an application's object versions to its site, on a schedule",
      request: body(MirrorCreate),
      responses: { 201: json(Mirror), 400: errors[400], 403: errors[403], 404: errors[404], 409: errors[409] },
    }),
    async (c) => {
      const auth = c.get('auth');
      requireRole(auth, 'admin');
      return c.json(mirrorOut(await service.create(s, auth, c.req.valid('json'))), 201);
    },
  );
  r.openapi(
    createRoute({
      method: 'get',
      path: '/mirrors/{id}',
      tags: ['mirrors'],
      request: { params: IdParam },
      responses: { 200: json(Mirror), 404: errors[404] },
    }),
    async (c) => c.json(mirrorOut(await service.get(s, c.req.valid('param').id, c.get('auth').tenantId)), 200),
  );
  r.openapi(
    createRoute({
      method: 'delete',
      path: '/mirrors/{id}',
      tags: ['mirrors'],
      summary: 'Delete a mirror and its schedule; the files at the site stay',
      request: { params: IdParam },
      responses: { 204: { description: 'Deleted' }, 403: errors[403], 404: errors[404] },
    }),
    async (c) => {
      const auth = c.get('auth');
      requireRole(auth, 'admin');
      await service.remove(s, auth, c.req.valid('param').id);
      return c.body(null, 204);
    },
  );
}

function change(r: Router, s: Services) {
  r.openapi(
    createRoute({
      method: 'patch',
      path: '/mirrors/{id}',
      tags: ['mirrors'],
      summary: 'Change a mirror (or pause it); its schedule follows',
      request: { params: IdParam, ...body(MirrorPatch) },
      responses: { 200: json(Mirror), 400: errors[400], 403: errors[403], 404: errors[404], 409: errors[409] },
    }),
    async (c) => {
      const auth = c.get('auth');
      // Pausing and resuming is an operator's; anything else (source, layout, retention) an admin's.
      const pauseOnly = Object.keys(c.req.valid('json')).every((k) => k === 'paused');
      requireRole(auth, pauseOnly ? 'operator' : 'admin');
      return c.json(mirrorOut(await service.change(s, auth, c.req.valid('param').id, c.req.valid('json'))), 200);
    },
  );
}

function run(r: Router, s: Services) {
  r.openapi(
    createRoute({
      method: 'post',
      path: '/mirrors/{id}/run',
      tags: ['mirrors'],
      summary: 'Poll the application now (409 if a run is in progress)',
      request: { params: IdParam },
      responses: {
        202: json(z.object({ status: z.literal('started') }), 'Started'),
        403: errors[403],
        404: errors[404],
        409: errors[409],
      },
    }),
    async (c) => {
      const auth = c.get('auth');
      requireRole(auth, 'operator');
      await service.runNow(s, auth, c.req.valid('param').id);
      return c.json({ status: 'started' as const }, 202);
    },
  );
}

function history(r: Router, s: Services) {
  r.openapi(
    createRoute({
      method: 'get',
      path: '/mirrors/{id}/runs',
      tags: ['mirrors'],
      summary: "The mirror's runs, newest first, with their counts",
      request: { params: IdParam, query: z.object({ limit: z.coerce.number().int().min(1).max(500).default(50) }) },
      responses: { 200: json(z.object({ items: z.array(MirrorRun) })), 400: errors[400], 404: errors[404] },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      const tenantId = c.get('auth').tenantId;
      await service.get(s, id, tenantId);
      const rows = await service.runs(s, id, tenantId, c.req.valid('query').limit);
      return c.json({ items: rows.map(runOut) }, 200);
    },
  );
  r.openapi(
    createRoute({
      method: 'get',
      path: '/mirrors/{id}/versions',
      tags: ['mirrors'],
      summary: 'Every version the mirror has seen and its state at the site',
      request: { params: IdParam, query: z.object({ state: z.enum(MIRROR_VERSION_STATES).optional() }) },
      responses: { 200: json(z.object({ items: z.array(MirrorVersion) })), 400: errors[400], 404: errors[404] },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      const tenantId = c.get('auth').tenantId;
      await service.get(s, id, tenantId);
      const rows = await service.versions(s, id, tenantId, c.req.valid('query').state);
      return c.json({ items: rows.map(versionOut) }, 200);
    },
  );
}
