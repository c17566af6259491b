// The shapes of the sites API: a site as listed, the one answer that carries its key, its online status.
import { z } from '@hono/zod-openapi';
import type { sites } from '../../db/schema.ts';

export const Site = z
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
export const SiteWithKey = Site.extend({
  key: z.string().openapi({ description: 'Shown once: put it in the site worker configuration' }),
}).openapi('SiteWithKey');
export const SiteInput = z.object({ name: z.string().trim().min(1).max(100) }).openapi('SiteInput');
export const SiteStatus = z
  .object({ online: z.boolean(), lastSeenAt: z.string().nullable(), taskQueue: z.string() })
  .openapi('SiteStatus');

export const siteOut = (x: typeof sites.$inferSelect) => ({
  id: x.id,
  name: x.name,
  taskQueue: x.taskQueue,
  createdAt: x.createdAt.toISOString(),
  engines: x.engines,
  checkedInAt: x.checkedInAt?.toISOString() ?? null,
});
