// Restores: start one, watch it, list them, cancel one. Operators and above only.
import { createRoute, z } from '@hono/zod-openapi';
import { restores } from '../../db/schema.ts';
import { requireRole } from '../auth/roles.ts';
import { body, errors, IdParam, json } from '../lib/http.ts';
import { router, type Router } from '../lib/router.ts';
import type { Services } from '../lib/services.ts';
import { findOwned } from '../lib/tenancy.ts';
import { Restore, RestoreCreate, restoreOut, RestoreQuery, RestoreWatch } from './schemas.ts';
import * as service from './service.ts';

export function restoreRoutes(s: Services) {
  const r = router();
  start(r, s);
  list(r, s);
  watch(r, s);
  cancel(r, s);
  return r;
}

function start(r: Router, s: Services) {
  r.openapi(
    createRoute({
      method: 'post',
      path: '/restores',
      tags: ['restores'],
      summary: 'Restore a backup to a server of your tenant (same or new database name)',
      request: body(RestoreCreate),
      responses: {
        202: json(Restore, 'Started'),
        400: errors[400],
        403: errors[403],
        404: errors[404],
        503: errors[503],
      },
    }),
    async (c) => {
      const auth = c.get('auth');
      requireRole(auth, 'operator');
      return c.json(restoreOut(await service.start(s, auth, c.req.valid('json'))), 202);
    },
  );
}

function list(r: Router, s: Services) {
  r.openapi(
    createRoute({
      method: 'get',
      path: '/restores',
      tags: ['restores'],
      summary: 'Restores and drills, newest first',
      request: { query: RestoreQuery },
      responses: { 200: json(z.object({ items: z.array(Restore) })), 400: errors[400], 403: errors[403] },
    }),
    async (c) => {
      // Viewers read: restores and drills are history, as backups are.
      const auth = c.get('auth');
      const rows = await service.list(s.db, auth.tenantId, c.req.valid('query'));
      return c.json({ items: rows.map(restoreOut) }, 200);
    },
  );
}

function watch(r: Router, s: Services) {
  r.openapi(
    createRoute({
      method: 'get',
      path: '/restores/{id}',
      tags: ['restores'],
      summary: 'Watch a restore: its state, and while it runs the step and bytes so far',
      request: { params: IdParam },
      responses: { 200: json(RestoreWatch), 403: errors[403], 404: errors[404] },
    }),
    async (c) => {
      const auth = c.get('auth');
      const row = await findOwned(s.db, restores, c.req.valid('param').id, auth.tenantId, 'restore');
      const progress = row.status === 'running' ? await s.runs.progress(row.workflowId) : null;
      return c.json({ ...restoreOut(row), progress }, 200);
    },
  );
}

function cancel(r: Router, s: Services) {
  r.openapi(
    createRoute({
      method: 'post',
      path: '/restores/{id}/cancel',
      tags: ['restores'],
      summary: 'Cancel a running restore: the restore tool is stopped and a database it created is removed',
      request: { params: IdParam },
      responses: {
        202: json(z.object({ status: z.literal('cancelling') }), 'Cancelling'),
        403: errors[403],
        404: errors[404],
        409: errors[409],
      },
    }),
    async (c) => {
      const auth = c.get('auth');
      requireRole(auth, 'operator');
      const row = await findOwned(s.db, restores, c.req.valid('param').id, auth.tenantId, 'restore');
      await service.cancel(s, auth, row);
      return c.json({ status: 'cancelling' as const }, 202);
    },
  );
}
