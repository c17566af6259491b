// GET /statistics: what the console's statistics page draws, in one answer.
import { createRoute } from '@hono/zod-openapi';
import { errors, json } from '../lib/http.ts';
import { router } from '../lib/router.ts';
import type { Services } from '../lib/services.ts';
import { Statistics, StatisticsQuery } from './schemas.ts';
import { statistics } from './service.ts';

export function statisticsRoutes(s: Services) {
  const r = router();
  r.openapi(
    createRoute({
      method: 'get',
      path: '/statistics',
      tags: ['statistics'],
      summary:
        'Backup size, duration and outcomes per day per configuration and server; storage per destination; last drills',
      request: { query: StatisticsQuery },
      responses: { 200: json(Statistics), 400: errors[400] },
    }),
    async (c) => c.json(await statistics(s.db, c.get('auth').tenantId, c.req.valid('query')), 200),
  );
  return r;
}
