// Backup history: one row per database per run, newest first, filtered and paginated with a keyset cursor.
import { createRoute, z } from '@hono/zod-openapi';
import { and, desc, eq, gte, lt, or, type SQL } from 'drizzle-orm';
import { invalid } from '../../common/errors.ts';
import { BACKUP_STATUSES, backups } from '../../db/schema.ts';
import { router, type Services } from '../app.ts';
import { errors, findOwned, IdParam, iso, json } from '../schemas.ts';

const Backup = z
  .object({
    id: z.string(), configId: z.string().nullable(), siteId: z.string(), serverId: z.string(), database: z.string(), workflowId: z.string(), runId: z.string(),
    fileName: z.string().nullable(), sizeBytes: z.number().nullable(), sha256: z.string().nullable(), startedAt: z.string(), finishedAt: z.string().nullable(),
    status: z.enum(BACKUP_STATUSES), error: z.string().nullable(), location: z.string().nullable(), availableForDownload: z.boolean(),
  })
  .openapi('Backup');
const Query = z.object({
  siteId: z.string().uuid().optional(),
  serverId: z.string().uuid().optional(),
  configId: z.string().uuid().optional(),
  database: z.string().max(63).optional(),
  status: z.enum(BACKUP_STATUSES).optional(),
  from: z.string().datetime({ offset: true }).optional().openapi({ description: 'started at or after (ISO 8601)' }),
  to: z.string().datetime({ offset: true }).optional().openapi({ description: 'started before (ISO 8601)' }),
  limit: z.coerce.number().int().min(1).max(500).default(50),
  cursor: z.string().max(200).optional().openapi({ description: 'nextCursor of the previous page' }),
});

const backupOut = (b: typeof backups.$inferSelect) => ({
  id: b.id, configId: b.configId, siteId: b.siteId, serverId: b.serverId, database: b.database, workflowId: b.workflowId, runId: b.runId,
  fileName: b.fileName, sizeBytes: b.sizeBytes, sha256: b.sha256, startedAt: b.startedAt.toISOString(), finishedAt: iso(b.finishedAt),
  status: b.status, error: b.error, location: b.location, availableForDownload: b.availableForDownload,
});

function decodeCursor(cursor: string): { at: Date; id: string } {
  try {
    const [at, id] = JSON.parse(Buffer.from(cursor, 'base64url').toString()) as [string, string];
    const d = new Date(at);
    if (Number.isNaN(d.getTime()) || typeof id !== 'string') throw new Error();
    return { at: d, id };
  } catch {
    throw invalid('not a cursor this API gave out', 'cursor');
  }
}
const encodeCursor = (b: typeof backups.$inferSelect) => Buffer.from(JSON.stringify([b.startedAt.toISOString(), b.id])).toString('base64url');

export function backupRoutes(s: Services) {
  const r = router();

  r.openapi(
    createRoute({ method: 'get', path: '/backups', tags: ['backups'], summary: 'Backup history, newest first', request: { query: Query }, responses: { 200: json(z.object({ items: z.array(Backup), nextCursor: z.string().nullable() }).openapi('BackupPage')), 400: errors[400] } }),
    async (c) => {
      const q = c.req.valid('query');
      const filters: (SQL | undefined)[] = [
        eq(backups.tenantId, c.get('auth').tenantId),
        q.siteId ? eq(backups.siteId, q.siteId) : undefined,
        q.serverId ? eq(backups.serverId, q.serverId) : undefined,
        q.configId ? eq(backups.configId, q.configId) : undefined,
        q.database ? eq(backups.database, q.database) : undefined,
        q.status ? eq(backups.status, q.status) : undefined,
        q.from ? gte(backups.startedAt, new Date(q.from)) : undefined,
        q.to ? lt(backups.startedAt, new Date(q.to)) : undefined,
      ];
      if (q.cursor) {
        const cur = decodeCursor(q.cursor);
        filters.push(or(lt(backups.startedAt, cur.at), and(eq(backups.startedAt, cur.at), lt(backups.id, cur.id))));
      }
      const rows = await s.db.select().from(backups).where(and(...filters)).orderBy(desc(backups.startedAt), desc(backups.id)).limit(q.limit + 1);
      const page = rows.slice(0, q.limit);
      return c.json({ items: page.map(backupOut), nextCursor: rows.length > q.limit ? encodeCursor(page.at(-1)!) : null }, 200);
    },
  );

  r.openapi(createRoute({ method: 'get', path: '/backups/{id}', tags: ['backups'], request: { params: IdParam }, responses: { 200: json(Backup), 404: errors[404] } }), async (c) => {
    return c.json(backupOut(await findOwned(s.db, backups, c.req.valid('param').id, c.get('auth').tenantId, 'backup')), 200);
  });

  return r;
}
