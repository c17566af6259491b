// The shapes of the backup history: a row, the listing's filters, a copy and what happened to it.
import { z } from '@hono/zod-openapi';
import { BACKUP_KINDS, BACKUP_STATUSES, COPY_STATES } from '../../common/model.ts';
import type { backups } from '../../db/schema.ts';
import { Instant, iso } from '../lib/http.ts';

export const Backup = z
  .object({
    id: z.string(),
    configId: z.string().nullable(),
    siteId: z.string(),
    serverId: z.string(),
    database: z.string(),
    workflowId: z.string(),
    runId: z.string(),
    fileName: z.string().nullable(),
    sizeBytes: z.number().nullable(),
    sha256: z.string().nullable(),
    startedAt: z.string(),
    finishedAt: z.string().nullable(),
    status: z.enum(BACKUP_STATUSES),
    error: z.string().nullable(),
    location: z.string().nullable().openapi({ description: 'the site copy, while it exists' }),
    availableForDownload: z.boolean().openapi({ description: 'true while at least one copy is stored' }),
    kind: z.enum(BACKUP_KINDS),
    compression: z.string().nullable(),
    encrypted: z.boolean(),
    keyId: z.string().nullable().openapi({ description: 'fingerprint of the tenant key that wrapped the data key' }),
    tableCounts: z.array(z.object({ table: z.string(), rows: z.number(), exact: z.boolean() })).nullable(),
    rowsRemoved: z.array(z.object({ table: z.string(), mode: z.string(), rows: z.number() })).nullable(),
    report: z
      .record(z.string(), z.unknown())
      .nullable()
      .openapi({ description: 'a dry run: each check, passed or failed with why' }),
    triggeredBy: z.string().nullable().openapi({
      description: 'the email of the user who asked for this run (run now); null when its schedule started it',
    }),
  })
  .openapi('Backup');
export const Query = z.object({
  siteId: z.string().uuid().optional(),
  serverId: z.string().uuid().optional(),
  configId: z.string().uuid().optional(),
  database: z.string().max(63).optional(),
  status: z.enum(BACKUP_STATUSES).optional(),
  kind: z.enum(BACKUP_KINDS).default('backup').openapi({
    description: 'backups (default), dry runs, or globals (a PostgreSQL server’s roles and grants, one per run)',
  }),
  from: Instant.optional().openapi({ description: 'started at or after (ISO 8601)' }),
  to: Instant.optional().openapi({ description: 'started before (ISO 8601)' }),
  limit: z.coerce.number().int().min(1).max(500).default(50),
  cursor: z.string().max(200).optional().openapi({ description: 'nextCursor of the previous page' }),
});

export const backupOut = (b: typeof backups.$inferSelect) => ({
  id: b.id,
  configId: b.configId,
  siteId: b.siteId,
  serverId: b.serverId,
  database: b.database,
  workflowId: b.workflowId,
  runId: b.runId,
  fileName: b.fileName,
  sizeBytes: b.sizeBytes,
  sha256: b.sha256,
  startedAt: b.startedAt.toISOString(),
  finishedAt: iso(b.finishedAt),
  status: b.status,
  error: b.error,
  location: b.location,
  availableForDownload: b.availableForDownload,
  kind: b.kind,
  compression: b.compression,
  encrypted: b.encrypted,
  keyId: b.keyId,
  tableCounts: b.tableCounts,
  rowsRemoved: b.rowsRemoved,
  report: b.report,
  triggeredBy: b.triggeredBy,
});

export type BackupQuery = z.infer<typeof Query>;

const CopyEvent = z.object({
  event: z.string(),
  detail: z.string().nullable(),
  workflowId: z.string().nullable(),
  at: z.string(),
});
export const Copy = z
  .object({
    id: z.string(),
    target: z.string(),
    destinationId: z.string().nullable(),
    location: z.string().nullable(),
    sizeBytes: z.number().nullable(),
    sha256: z.string().nullable(),
    state: z.enum(COPY_STATES),
    error: z.string().nullable(),
    storedAt: z.string().nullable(),
    checkedAt: z.string().nullable(),
    events: z.array(CopyEvent),
  })
  .openapi('BackupCopy');

export const DownloadUrl = z
  .object({
    url: z.string().url(),
    expiresAt: z.string(),
    /** The destination whose copy the URL reads. */
    target: z.string(),
    sizeBytes: z.number().int(),
    sha256: z.string(),
  })
  .openapi('DownloadUrl');
