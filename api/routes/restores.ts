// Restores (start, watch, list, cancel), verification and restore drills on demand, and a configuration's health:
// its last backup, and its last successful drill with the measured restore time. Admins and operators only.
import { createRoute, z } from '@hono/zod-openapi';
import { and, desc, eq, inArray, lt, sql } from 'drizzle-orm';
import { BackupError, invalid } from '../../common/errors.ts';
import { DATABASE_NAME_RE, restoreWorkflowId } from '../../common/names.ts';
import { BACKUP_STATUSES, RESTORE_KINDS } from '../../common/model.ts';
import { backupConfigs, backupCopies, backups, restores, servers } from '../../db/schema.ts';
import { router } from '../lib/router.ts';
import type { Services } from '../lib/services.ts';
import { requireRole } from '../auth/roles.ts';
import { temporalUnavailable } from '../temporal/errors.ts';
import { body, errors, IdParam, Instant, iso, json } from '../lib/http.ts';
import { audit, findOwned } from '../lib/tenancy.ts';

const Check = z.object({ name: z.string(), ok: z.boolean(), detail: z.string() });
const Restore = z
  .object({
    id: z.string(),
    kind: z.enum(RESTORE_KINDS),
    backupId: z.string().nullable(),
    configId: z.string().nullable(),
    requestedBy: z.string().nullable(),
    targetSiteId: z.string(),
    targetServerId: z.string(),
    targetDatabase: z.string(),
    overwrite: z.boolean(),
    copyTarget: z.string().nullable(),
    workflowId: z.string(),
    status: z.enum(BACKUP_STATUSES),
    error: z.string().nullable(),
    startedAt: z.string(),
    finishedAt: z.string().nullable(),
    restoreSeconds: z.number().nullable(),
    rawBytes: z.number().nullable(),
    checks: z.array(Check).nullable(),
  })
  .openapi('Restore');
const RestoreWatch = Restore.extend({
  progress: z
    .record(z.string(), z.unknown())
    .nullable()
    .openapi({ description: 'the running step and its last heartbeat (bytes so far)' }),
}).openapi('RestoreWatch');
const RestoreCreate = z
  .object({
    backupId: z.string().uuid(),
    targetServerId: z
      .string()
      .uuid()
      .optional()
      .openapi({ description: 'any server of your tenant, at any site (default: the backup’s own server)' }),
    targetDatabase: z
      .string()
      .regex(DATABASE_NAME_RE, 'a database name')
      .optional()
      .openapi({ description: 'default: the backup’s database' }),
    overwrite: z
      .boolean()
      .default(false)
      .openapi({ description: 'replace a database that has tables; without it such a database is refused' }),
  })
  .openapi('RestoreCreate');

const restoreOut = (r: typeof restores.$inferSelect) => ({
  id: r.id,
  kind: r.kind,
  backupId: r.backupId,
  configId: r.configId,
  requestedBy: r.requestedBy,
  targetSiteId: r.targetSiteId,
  targetServerId: r.targetServerId,
  targetDatabase: r.targetDatabase,
  overwrite: r.overwrite,
  copyTarget: r.copyTarget,
  workflowId: r.workflowId,
  status: r.status,
  error: r.error,
  startedAt: r.startedAt.toISOString(),
  finishedAt: iso(r.finishedAt),
  restoreSeconds: r.restoreSeconds,
  rawBytes: r.rawBytes,
  checks: r.checks,
});

export function restoreRoutes(s: Services) {
  const r = router();

  r.openapi(
    createRoute({
      method: 'post',
      path: '/restores',
      tags: ['restores'],
      summary: 'Restore a backup to a server of your tenant (same or new database name)',
      request: body(RestoreCreate),
      responses: {
        202: json(Restore, 'Started'),
        400: errors[400],
        403: errors[403],
        404: errors[404],
        503: errors[503],
      },
    }),
    async (c) => {
      const auth = c.get('auth');
      requireRole(auth, 'operator');
      const input = c.req.valid('json');
      const backup = await findOwned(s.db, backups, input.backupId, auth.tenantId, 'backup');
      if (backup.kind !== 'backup' || !backup.fileName)
        throw invalid('this history row has no backup file to restore', 'backupId');
      const server = await findOwned(s.db, servers, input.targetServerId ?? backup.serverId, auth.tenantId, 'server');
      const [source] = await s.db.select().from(servers).where(eq(servers.id, backup.serverId));
      if (source && source.engine !== server.engine)
        throw invalid(
          `the backup is a ${source.engine} dump; server '${server.name}' is ${server.engine}`,
          'targetServerId',
        );
      const id = crypto.randomUUID();
      const workflowId = restoreWorkflowId(id);
      const [row] = await s.db
        .insert(restores)
        .values({
          id,
          tenantId: auth.tenantId,
          backupId: backup.id,
          configId: backup.configId,
          requestedBy: auth.userId,
          targetSiteId: server.siteId,
          targetServerId: server.id,
          targetDatabase: input.targetDatabase ?? backup.database,
          overwrite: input.overwrite,
          workflowId,
          status: 'running',
        })
        .returning();
      await audit(
        s.db,
        auth,
        'restore.start',
        { type: 'restore', id },
        { backupId: backup.id, server: server.name, database: row!.targetDatabase, overwrite: input.overwrite },
      );
      try {
        await s.runs.startRestore(id);
      } catch (err) {
        // No workflow will ever finish this row: it says why it failed rather than running forever.
        const failure = temporalUnavailable(err);
        await s.db
          .update(restores)
          .set({
            status: 'failed',
            error: `the restore could not be started: ${failure.message}`,
            finishedAt: new Date(),
          })
          .where(eq(restores.id, id));
        throw failure;
      }
      return c.json(restoreOut(row!), 202);
    },
  );

  r.openapi(
    createRoute({
      method: 'get',
      path: '/restores',
      tags: ['restores'],
      summary: 'Restores and drills, newest first',
      request: {
        query: z.object({
          configId: z.string().uuid().optional(),
          kind: z.enum(RESTORE_KINDS).optional(),
          limit: z.coerce.number().int().min(1).max(200).default(50),
          before: Instant.optional(),
        }),
      },
      responses: { 200: json(z.object({ items: z.array(Restore) })), 400: errors[400], 403: errors[403] },
    }),
    async (c) => {
      const auth = c.get('auth');
      requireRole(auth, 'operator');
      const q = c.req.valid('query');
      const rows = await s.db
        .select()
        .from(restores)
        .where(
          and(
            eq(restores.tenantId, auth.tenantId),
            q.configId ? eq(restores.configId, q.configId) : undefined,
            q.kind ? eq(restores.kind, q.kind) : undefined,
            q.before ? lt(restores.startedAt, new Date(q.before)) : undefined,
          ),
        )
        .orderBy(desc(restores.startedAt))
        .limit(q.limit);
      return c.json({ items: rows.map(restoreOut) }, 200);
    },
  );

  r.openapi(
    createRoute({
      method: 'get',
      path: '/restores/{id}',
      tags: ['restores'],
      summary: 'Watch a restore: its state, and while it runs the step and bytes so far',
      request: { params: IdParam },
      responses: { 200: json(RestoreWatch), 403: errors[403], 404: errors[404] },
    }),
    async (c) => {
      const auth = c.get('auth');
      requireRole(auth, 'operator');
      const row = await findOwned(s.db, restores, c.req.valid('param').id, auth.tenantId, 'restore');
      const progress = row.status === 'running' ? await s.runs.progress(row.workflowId) : null;
      return c.json({ ...restoreOut(row), progress }, 200);
    },
  );

  r.openapi(
    createRoute({
      method: 'post',
      path: '/restores/{id}/cancel',
      tags: ['restores'],
      summary: 'Cancel a running restore: the restore tool is stopped and a database it created is removed',
      request: { params: IdParam },
      responses: {
        202: json(z.object({ status: z.literal('cancelling') }), 'Cancelling'),
        403: errors[403],
        404: errors[404],
        409: errors[409],
      },
    }),
    async (c) => {
      const auth = c.get('auth');
      requireRole(auth, 'operator');
      const row = await findOwned(s.db, restores, c.req.valid('param').id, auth.tenantId, 'restore');
      if (row.status !== 'running') throw new BackupError('conflict', `the restore is ${row.status}`);
      await s.runs.cancel(row.workflowId);
      await audit(s.db, auth, 'restore.cancel', { type: 'restore', id: row.id });
      return c.json({ status: 'cancelling' as const }, 202);
    },
  );

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
        const cfg = await findOwned(
          s.db,
          backupConfigs,
          c.req.valid('param').id,
          auth.tenantId,
          'backup configuration',
        );
        const workflowId =
          verb === 'verify' ? await s.runs.startVerify(auth.tenantId, cfg.id) : await s.runs.startDrill(cfg.id);
        await audit(s.db, auth, `config.${verb}`, { type: 'backup_config', id: cfg.id }, { workflowId });
        return c.json({ workflowId }, 202);
      },
    );
  }

  const Health = z
    .object({
      lastBackup: z.object({ at: z.string(), status: z.string() }).nullable(),
      lastSuccessfulBackupAt: z.string().nullable(),
      lastDrill: z.object({ at: z.string(), status: z.string(), error: z.string().nullable() }).nullable(),
      lastSuccessfulDrill: z
        .object({ at: z.string(), restoreSeconds: z.number().nullable(), backupId: z.string().nullable() })
        .nullable(),
      lastVerifiedAt: z.string().nullable(),
    })
    .openapi('ConfigHealth');
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
      const cfg = await findOwned(
        s.db,
        backupConfigs,
        c.req.valid('param').id,
        c.get('auth').tenantId,
        'backup configuration',
      );
      const [last] = await s.db
        .select()
        .from(backups)
        .where(and(eq(backups.configId, cfg.id), eq(backups.kind, 'backup')))
        .orderBy(desc(backups.startedAt))
        .limit(1);
      const [good] = await s.db
        .select()
        .from(backups)
        .where(
          and(
            eq(backups.configId, cfg.id),
            eq(backups.kind, 'backup'),
            inArray(backups.status, ['succeeded', 'partial']),
          ),
        )
        .orderBy(desc(backups.startedAt))
        .limit(1);
      const [drill] = await s.db
        .select()
        .from(restores)
        .where(and(eq(restores.configId, cfg.id), eq(restores.kind, 'drill'), sql`${restores.status} <> 'running'`))
        .orderBy(desc(restores.startedAt))
        .limit(1);
      const [goodDrill] = await s.db
        .select()
        .from(restores)
        .where(and(eq(restores.configId, cfg.id), eq(restores.kind, 'drill'), eq(restores.status, 'succeeded')))
        .orderBy(desc(restores.startedAt))
        .limit(1);
      const [verified] = await s.db
        .select({ at: sql<string | null>`max(${backupCopies.checkedAt})` })
        .from(backupCopies)
        .innerJoin(backups, eq(backups.id, backupCopies.backupId))
        .where(eq(backups.configId, cfg.id));
      return c.json(
        {
          lastBackup: last ? { at: last.startedAt.toISOString(), status: last.status } : null,
          lastSuccessfulBackupAt: good ? good.startedAt.toISOString() : null,
          lastDrill: drill ? { at: drill.startedAt.toISOString(), status: drill.status, error: drill.error } : null,
          lastSuccessfulDrill: goodDrill
            ? {
                at: goodDrill.startedAt.toISOString(),
                restoreSeconds: goodDrill.restoreSeconds,
                backupId: goodDrill.backupId,
              }
            : null,
          lastVerifiedAt: verified?.at ? new Date(verified.at).toISOString() : null,
        },
        200,
      );
    },
  );

  return r;
}
