// Sync on demand: check every copy of the tenant's backups now and repair what is missing or corrupt.
// The same workflow runs for all tenants on the `backup-sync` schedule.
import { createRoute, z } from '@hono/zod-openapi';
import { router } from '../lib/router.ts';
import type { Services } from '../lib/services.ts';
import { requireRole } from '../auth/roles.ts';
import { errors, json } from '../lib/http.ts';
import { audit } from '../lib/tenancy.ts';

export function syncRoutes(s: Services) {
  const r = router();
  r.openapi(
    createRoute({
      method: 'post',
      path: '/sync',
      tags: ['backups'],
      summary: 'Check every copy now; copy again what is missing or corrupt; alert on what cannot be repaired',
      responses: { 202: json(z.object({ workflowId: z.string() }), 'Started'), 403: errors[403] },
    }),
    async (c) => {
      const auth = c.get('auth');
      requireRole(auth, 'operator');
      const workflowId = await s.runs.startSync(auth.tenantId);
      await audit(s.db, auth, 'sync.start', { type: 'tenant', id: auth.tenantId }, { workflowId });
      return c.json({ workflowId }, 202);
    },
  );
  return r;
}
