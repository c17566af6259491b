// The site worker's side of a download: it PUTs the copy's bytes here, authenticated with its site key.
import { createRoute, z } from '@hono/zod-openapi';
import { router } from '../lib/router.ts';
import type { Services } from '../lib/services.ts';
import { authenticateSite } from './agent.ts';
import { errors, json } from '../lib/http.ts';

export function transferRoutes(s: Services) {
  const r = router();
  r.openapi(
    createRoute({
      method: 'put',
      path: '/agent/transfers/{transferId}',
      tags: ['sites'],
      summary: 'Site worker: the bytes of a download the API is waiting for (site key as Bearer)',
      request: {
        params: z.object({
          transferId: z
            .string()
            .min(1)
            .max(64)
            .openapi({ param: { name: 'transferId', in: 'path' } }),
        }),
      },
      responses: { 200: json(z.object({ ok: z.literal(true) })), 401: errors[401], 404: errors[404] },
    }),
    async (c) => {
      const site = await authenticateSite(s, c.req.header('authorization'));
      const body = c.req.raw.body;
      if (!body) return c.json({ error: { code: 'invalid', message: 'no body' } }, 400 as never);
      await s.transfers.accept(c.req.valid('param').transferId, site.id, body);
      return c.json({ ok: true as const }, 200);
    },
  );
  return r;
}
