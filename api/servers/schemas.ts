// The shapes of the servers API. A server is known by name only: its credentials stay in the site's configuration.
import { z } from '@hono/zod-openapi';
import { ENGINES } from '../../common/model.ts';
import { SERVER_NAME_RE } from '../../common/names.ts';
import type { servers } from '../../db/schema.ts';

const ServerName = z
  .string()
  .regex(SERVER_NAME_RE, 'lower-case letters, digits, . _ - (the name the site configuration uses)');
export const Server = z
  .object({ id: z.string(), siteId: z.string(), name: z.string(), engine: z.enum(ENGINES), createdAt: z.string() })
  .openapi('Server');
export const ServerCreate = z
  .object({ siteId: z.string().uuid(), name: ServerName, engine: z.enum(ENGINES) })
  .openapi('ServerCreate');
export const ServerPatch = z.object({ name: ServerName }).openapi('ServerPatch');

export const serverOut = (x: typeof servers.$inferSelect) => ({
  id: x.id,
  siteId: x.siteId,
  name: x.name,
  engine: x.engine,
  createdAt: x.createdAt.toISOString(),
});
