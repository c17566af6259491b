// The shapes of the destinations API. A destination is known by name and kind; its settings live at the site.
import { z } from '@hono/zod-openapi';
import { DESTINATION_KINDS, SITE_TARGET } from '../../common/model.ts';
import { SERVER_NAME_RE } from '../../common/names.ts';
import type { destinations } from '../../db/schema.ts';

const DestinationName = z
  .string()
  .regex(SERVER_NAME_RE, 'lower-case letters, digits, . _ - (the name the site configuration uses)')
  .refine((n) => n !== SITE_TARGET, `'${SITE_TARGET}' names the site's own Backups folder`);
export const Destination = z
  .object({
    id: z.string(),
    siteId: z.string(),
    name: z.string(),
    kind: z.enum(DESTINATION_KINDS),
    createdAt: z.string(),
  })
  .openapi('Destination');
export const DestinationCreate = z
  .object({ siteId: z.string().uuid(), name: DestinationName, kind: z.enum(DESTINATION_KINDS) })
  .openapi('DestinationCreate');

export const destinationOut = (x: typeof destinations.$inferSelect) => ({
  id: x.id,
  siteId: x.siteId,
  name: x.name,
  kind: x.kind,
  createdAt: x.createdAt.toISOString(),
});
