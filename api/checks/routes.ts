// A configuration's checks: reading every copy back (verification) and restoring the newest backup into a scratch
// database (a drill), on demand here and on their schedules (temporal/schedules.ts), and the health they add up to.
import { createRoute, z } from '@hono/zod-openapi';
import { backupConfigs } from '../../db/schema.ts';
import { requireRole } from '../auth/roles.ts';
import { errors, IdParam, json } from '../lib/http.ts';
import { router, type Router } from '../lib/router.ts';
import type { Services } from '../lib/services.ts';
import { audit, findOwned } from '../lib/tenancy.ts';
import { Health } from './schemas.ts';
import { health } from './service.ts';

export function checkRoutes(s: Services) {
  const r = router();
  verifyAndDrill(r, s);
  configHealth(r, s);
  return r;
}

function verifyAndDrill(r: Router, s: Services) {
  for (const [verb, summary] of [
    ['verify', 'Read every copy of this configuration back end to end now; corrupt copies are marked and alerted'],
    ['drill', 'Run a restore drill now: newest backup into a scratch database, checked, timed, dropped'],
  ] as const) {
    r.openapi(
      createRoute({
        method: 'post',
        path: `/configs/{id}/${verb}`,
        tags: ['configs'],
        summary,
        request: { params: IdParam },
        responses: { 202: json(z.object({ workflowId: z.string() }), 'Started'), 403: errors[403], 404: errors[404] },
      }),
      async (c) => {
        const auth = c.get('auth');
        requireRole(auth, 'operator');
        const id = c.req.valid('param').id;
        const cfg = await findOwned(s.db, backupConfigs, id, auth.tenantId, 'backup configuration');
        const workflowId =
          verb === 'verify' ? await s.runs.startVerify(auth.tenantId, cfg.id) : await s.runs.startDrill(cfg.id);
        await audit(s.db, auth, `config.${verb}`, { type: 'backup_config', id: cfg.id }, { workflowId });
        return c.json({ workflowId }, 202);
      },
    );
  }
}

function configHealth(r: Router, s: Services) {
  r.openapi(
    createRoute({
      method: 'get',
      path: '/configs/{id}/health',
      tags: ['configs'],
      summary: 'Last backup, last verification, last successful restore drill and its measured restore time',
      request: { params: IdParam },
      responses: { 200: json(Health), 404: errors[404] },
    }),
    async (c) => {
      const id = c.req.valid('param').id;
      const cfg = await findOwned(s.db, backupConfigs, id, c.get('auth').tenantId, 'backup configuration');
      return c.json(await health(s.db, cfg.id), 200);
    },
  );
}
