// Servers: a database server at a site, known by name. No credentials here: they stay in the site's config.
import { createRoute, z } from '@hono/zod-openapi';
import { and, eq } from 'drizzle-orm';
import { conflict, invalid } from '../../common/errors.ts';
import { SERVER_NAME_RE } from '../../common/names.ts';
import { ENGINES } from '../../common/model.ts';
import { backupConfigs, backups, restores, servers, sites } from '../../db/schema.ts';
import { router } from '../lib/router.ts';
import type { Services } from '../lib/services.ts';
import { withScheduleWrites } from '../temporal/schedule-writes.ts';
import { requireRole } from '../auth/roles.ts';
import { uniqueViolation } from '../lib/errors.ts';
import { body, errors, IdParam, json } from '../lib/http.ts';
import { audit, findOwned } from '../lib/tenancy.ts';

const ServerName = z
  .string()
  .regex(SERVER_NAME_RE, 'lower-case letters, digits, . _ - (the name the site configuration uses)');
const Server = z
  .object({ id: z.string(), siteId: z.string(), name: z.string(), engine: z.enum(ENGINES), createdAt: z.string() })
  .openapi('Server');
const ServerCreate = z
  .object({ siteId: z.string().uuid(), name: ServerName, engine: z.enum(ENGINES) })
  .openapi('ServerCreate');
const ServerPatch = z.object({ name: ServerName }).openapi('ServerPatch');

const serverOut = (x: typeof servers.$inferSelect) => ({
  id: x.id,
  siteId: x.siteId,
  name: x.name,
  engine: x.engine,
  createdAt: x.createdAt.toISOString(),
});
const duplicate = (err: unknown) =>
  uniqueViolation(err) ? conflict('a server with this name exists at this site') : err;

export function serverRoutes(s: Services) {
  const r = router();

  r.openapi(
    createRoute({
      method: 'get',
      path: '/servers',
      tags: ['servers'],
      request: { query: z.object({ siteId: z.string().uuid().optional() }) },
      responses: { 200: json(z.object({ items: z.array(Server) })), 400: errors[400] },
    }),
    async (c) => {
      const { siteId } = c.req.valid('query');
      const where = and(eq(servers.tenantId, c.get('auth').tenantId), siteId ? eq(servers.siteId, siteId) : undefined);
      const rows = await s.db.select().from(servers).where(where).orderBy(servers.name);
      return c.json({ items: rows.map(serverOut) }, 200);
    },
  );

  r.openapi(
    createRoute({
      method: 'post',
      path: '/servers',
      tags: ['servers'],
      summary: 'Register a database server at a site',
      request: body(ServerCreate),
      responses: { 201: json(Server), 400: errors[400], 403: errors[403], 404: errors[404], 409: errors[409] },
    }),
    async (c) => {
      const auth = c.get('auth');
      requireRole(auth, 'admin');
      const input = c.req.valid('json');
      const server = await s.db
        .transaction(async (tx) => {
          const site = await findOwned(tx, sites, input.siteId, auth.tenantId, 'site');
          // The site's worker said which engines it has tools for; before its first check-in nothing is known yet.
          if (site.engines && !site.engines.includes(input.engine)) {
            throw invalid(
              `site '${site.name}' cannot back up ${input.engine}: its worker found no ${input.engine} dump tool (it can back up ${site.engines.join(', ') || 'nothing yet'}). Install the client tools at the site and restart its worker`,
              'engine',
            );
          }
          const [row] = await tx
            .insert(servers)
            .values({ ...input, tenantId: auth.tenantId })
            .returning();
          await audit(tx, auth, 'server.create', { type: 'server', id: row!.id }, input);
          return row!;
        })
        .catch((e: unknown) => {
          throw duplicate(e);
        });
      return c.json(serverOut(server), 201);
    },
  );

  r.openapi(
    createRoute({
      method: 'get',
      path: '/servers/{id}',
      tags: ['servers'],
      request: { params: IdParam },
      responses: { 200: json(Server), 404: errors[404] },
    }),
    async (c) => {
      return c.json(
        serverOut(await findOwned(s.db, servers, c.req.valid('param').id, c.get('auth').tenantId, 'server')),
        200,
      );
    },
  );

  r.openapi(
    createRoute({
      method: 'patch',
      path: '/servers/{id}',
      tags: ['servers'],
      summary: 'Rename a server (rename it in the site configuration too)',
      request: { params: IdParam, ...body(ServerPatch) },
      responses: { 200: json(Server), 400: errors[400], 403: errors[403], 404: errors[404], 409: errors[409] },
    }),
    async (c) => {
      const auth = c.get('auth');
      requireRole(auth, 'admin');
      const { id } = c.req.valid('param');
      const server = await withScheduleWrites(s.db, s.logger, { server: id }, async (tx, writes) => {
        const before = await findOwned(tx, servers, id, auth.tenantId, 'server');
        const [row] = await tx.update(servers).set(c.req.valid('json')).where(eq(servers.id, id)).returning();
        await audit(tx, auth, 'server.update', { type: 'server', id }, { from: before.name, to: row!.name });
        // Schedules carry the server name as a search attribute: they follow, or the rename does not happen.
        const configs = await tx.select().from(backupConfigs).where(eq(backupConfigs.serverId, id));
        for (const cfg of configs)
          await s.schedules.upsert({ ...cfg, siteId: row!.siteId, serverName: row!.name }, writes);
        return row!;
      }).catch((e: unknown) => {
        throw duplicate(e);
      });
      return c.json(serverOut(server), 200);
    },
  );

  r.openapi(
    createRoute({
      method: 'delete',
      path: '/servers/{id}',
      tags: ['servers'],
      summary: 'Remove a server that has no backup configurations',
      request: { params: IdParam },
      responses: { 204: { description: 'Removed' }, 403: errors[403], 404: errors[404], 409: errors[409] },
    }),
    async (c) => {
      const auth = c.get('auth');
      requireRole(auth, 'admin');
      const { id } = c.req.valid('param');
      await s.db.transaction(async (tx) => {
        const server = await findOwned(tx, servers, id, auth.tenantId, 'server');
        const [used] = await tx
          .select({ id: backupConfigs.id })
          .from(backupConfigs)
          .where(eq(backupConfigs.serverId, id))
          .limit(1);
        if (used) throw conflict('the server still has backup configurations: delete them first');
        const [history] = await tx.select({ id: backups.id }).from(backups).where(eq(backups.serverId, id)).limit(1);
        if (history) throw conflict('the server has backups on record; they are kept, so the server is too');
        const [restored] = await tx
          .select({ id: restores.id })
          .from(restores)
          .where(eq(restores.targetServerId, id))
          .limit(1);
        if (restored) throw conflict('the server has restores on record; they are kept, so the server is too');
        await tx.delete(servers).where(eq(servers.id, id));
        await audit(tx, auth, 'server.delete', { type: 'server', id }, { name: server.name });
      });
      return c.body(null, 204);
    },
  );

  return r;
}
