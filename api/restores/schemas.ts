// The shapes of the restores API: a restore (or drill) as recorded, watched while it runs, and asked for.
import { z } from '@hono/zod-openapi';
import { BACKUP_STATUSES, RESTORE_KINDS } from '../../common/model.ts';
import { DATABASE_NAME_RE } from '../../common/names.ts';
import type { restores } from '../../db/schema.ts';
import { Instant, iso } from '../lib/http.ts';

const Check = z.object({ name: z.string(), ok: z.boolean(), detail: z.string() });
export const Restore = z
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
    globalsBackupId: z.string().nullable().openapi({
      description: 'the globals (history kind "globals") applied with this restore; null: restored without them',
    }),
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
export const RestoreWatch = Restore.extend({
  progress: z
    .record(z.string(), z.unknown())
    .nullable()
    .openapi({ description: 'the running step and its last heartbeat (bytes so far)' }),
}).openapi('RestoreWatch');
export const RestoreCreate = z
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
    applyGlobals: z.boolean().default(false).openapi({
      description:
        'PostgreSQL: first make the roles of the backup’s run (globals) that the server lacks, with their memberships; then restore keeping owners and privileges, and give the database the owner, grants and settings it had. Existing roles are left as they are.',
    }),
  })
  .openapi('RestoreCreate');

export const restoreOut = (r: typeof restores.$inferSelect) => ({
  id: r.id,
  kind: r.kind,
  backupId: r.backupId,
  configId: r.configId,
  requestedBy: r.requestedBy,
  targetSiteId: r.targetSiteId,
  targetServerId: r.targetServerId,
  targetDatabase: r.targetDatabase,
  overwrite: r.overwrite,
  globalsBackupId: r.globalsBackupId,
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

export const RestoreQuery = z.object({
  configId: z.string().uuid().optional(),
  kind: z.enum(RESTORE_KINDS).optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
  before: Instant.optional(),
});

export type RestoreCreateInput = z.infer<typeof RestoreCreate>;
export type RestoreListQuery = z.infer<typeof RestoreQuery>;
