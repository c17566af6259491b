// Destinations: off-site places a site sends copies to (Azure Blob, an SFTP host, a folder). Known here by name and
// kind only; their connection settings and secrets live in the site worker's configuration, like database passwords.
import { createRoute, z } from '@hono/zod-openapi';
import { and, eq, sql } from 'drizzle-orm';
import { conflict } from '../../common/errors.ts';
import { SERVER_NAME_RE } from '../../common/names.ts';
import { DESTINATION_KINDS, SITE_TARGET } from '../../common/model.ts';
import { backupConfigs, destinations, sites } from '../../db/schema.ts';
import { router } from '../lib/router.ts';
import type { Services } from '../lib/services.ts';
import { requireRole } from '../auth/roles.ts';
import { uniqueViolation } from '../lib/errors.ts';
import { body, errors, IdParam, json } from '../lib/http.ts';
import { audit, findOwned } from '../lib/tenancy.ts';

const DestinationName = z
  .string()
  .regex(SERVER_NAME_RE, 'lower-case letters, digits, . _ - (the name the site configuration uses)')
  .refine((n) => n !== SITE_TARGET, `'${SITE_TARGET}' names the site's own Backups folder`);
const Destination = z
  .object({
    id: z.string(),
    siteId: z.string(),
    name: z.string(),
    kind: z.enum(DESTINATION_KINDS),
    createdAt: z.string(),
  })
  .openapi('Destination');
const DestinationCreate = z
  .object({ siteId: z.string().uuid(), name: DestinationName, kind: z.enum(DESTINATION_KINDS) })
  .openapi('DestinationCreate');

const destinationOut = (x: typeof destinations.$inferSelect) => ({
  id: x.id,
  siteId: x.siteId,
  name: x.name,
  kind: x.kind,
  createdAt: x.createdAt.toISOString(),
});

export function destinationRoutes(s: Services) {
  const r = router();

  r.openapi(
    createRoute({
      method: 'get',
      path: '/destinations',
      tags: ['destinations'],
      request: { query: z.object({ siteId: z.string().uuid().optional() }) },
      responses: { 200: json(z.object({ items: z.array(Destination) })), 400: errors[400] },
    }),
    async (c) => {
      const { siteId } = c.req.valid('query');
      const rows = await s.db
        .select()
        .from(destinations)
        .where(
          and(eq(destinations.tenantId, c.get('auth').tenantId), siteId ? eq(destinations.siteId, siteId) : undefined),
        )
        .orderBy(destinations.name);
      return c.json({ items: rows.map(destinationOut) }, 200);
    },
  );

  r.openapi(
    createRoute({
      method: 'post',
      path: '/destinations',
      tags: ['destinations'],
      summary: 'Register a destination of a site (its settings go in the site configuration)',
      request: body(DestinationCreate),
      responses: { 201: json(Destination), 400: errors[400], 403: errors[403], 404: errors[404], 409: errors[409] },
    }),
    async (c) => {
      const auth = c.get('auth');
      requireRole(auth, 'admin');
      const input = c.req.valid('json');
      const row = await s.db
        .transaction(async (tx) => {
          await findOwned(tx, sites, input.siteId, auth.tenantId, 'site');
          const [row] = await tx
            .insert(destinations)
            .values({ ...input, tenantId: auth.tenantId })
            .returning();
          await audit(tx, auth, 'destination.create', { type: 'destination', id: row!.id }, input);
          return row!;
        })
        .catch((e: unknown) => {
          throw uniqueViolation(e) ? conflict('a destination with this name exists at this site') : e;
        });
      return c.json(destinationOut(row), 201);
    },
  );

  r.openapi(
    createRoute({
      method: 'get',
      path: '/destinations/{id}',
      tags: ['destinations'],
      request: { params: IdParam },
      responses: { 200: json(Destination), 404: errors[404] },
    }),
    async (c) => {
      return c.json(
        destinationOut(
          await findOwned(s.db, destinations, c.req.valid('param').id, c.get('auth').tenantId, 'destination'),
        ),
        200,
      );
    },
  );

  r.openapi(
    createRoute({
      method: 'delete',
      path: '/destinations/{id}',
      tags: ['destinations'],
      summary: 'Remove a destination no configuration uses; the history of its copies stays',
      request: { params: IdParam },
      responses: { 204: { description: 'Removed' }, 403: errors[403], 404: errors[404], 409: errors[409] },
    }),
    async (c) => {
      const auth = c.get('auth');
      requireRole(auth, 'admin');
      const { id } = c.req.valid('param');
      await s.db.transaction(async (tx) => {
        const d = await findOwned(tx, destinations, id, auth.tenantId, 'destination');
        const [used] = await tx
          .select({ name: backupConfigs.name })
          .from(backupConfigs)
          .where(
            and(
              eq(backupConfigs.tenantId, auth.tenantId),
              sql`${backupConfigs.destinations} @> ${JSON.stringify([{ destinationId: id }])}::jsonb`,
            ),
          )
          .limit(1);
        if (used)
          throw conflict(`the destination is used by the backup configuration '${used.name}': remove it there first`);
        await tx.delete(destinations).where(eq(destinations.id, id));
        await audit(tx, auth, 'destination.delete', { type: 'destination', id }, { name: d.name });
      });
      return c.body(null, 204);
    },
  );

  return r;
}
