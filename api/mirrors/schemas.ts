// The shapes of an object mirror: what an admin sends, and what the API answers about mirrors, their runs and versions.
import { z } from '@hono/zod-openapi';
import {
  DEFAULT_MIRROR_LAYOUT,
  MIRROR_IDENT_RE,
  MIRROR_TABLE_RE,
  MIRROR_VERSION_STATES,
  type MirrorLayout,
} from '../../common/mirror.ts';
import { DATABASE_NAME_RE, mirrorScheduleId } from '../../common/names.ts';
import type { objectMirrorRuns, objectMirrors, objectMirrorVersions } from '../../db/schema.ts';

const Ident = z.string().regex(MIRROR_IDENT_RE, 'a plain column name: letters, digits, _');
const Table = z.string().regex(MIRROR_TABLE_RE, 'a plain table name, optionally schema.table');
export const Layout = z
  .object({
    filesTable: Table,
    idColumn: Ident,
    nameColumn: Ident,
    pathColumn: Ident,
    storageColumn: Ident,
    versionColumn: Ident,
    hashColumn: Ident,
    urlColumn: Ident,
    deleteLogTable: Table,
    deleteFileIdColumn: Ident,
    deletedAtColumn: Ident,
  })
  .partial()
  .strict()
  .openapi('MirrorLayout', {
    description: `the application's table and column names; each left out keeps its default (${JSON.stringify(DEFAULT_MIRROR_LAYOUT)})`,
  });

const fields = {
  name: z.string().trim().min(1).max(100),
  database: z.string().regex(DATABASE_NAME_RE, 'a database name'),
  layout: Layout,
  pollSeconds: z.number().int().min(10).max(86_400).openapi({ description: 'how often the table is polled' }),
  keepVersions: z.number().int().min(1).max(10_000).nullable().openapi({
    description: 'versions kept per file at the site: 1 keeps only the latest; null keeps every version',
  }),
  deleteGraceDays: z
    .number()
    .int()
    .min(0)
    .max(3650)
    .openapi({ description: "days a file's backup is kept after the application logged its deletion" }),
  concurrency: z.number().int().min(1).max(32).openapi({ description: 'versions fetched at once' }),
  maxBytesPerSecond: z
    .number()
    .int()
    .min(1024)
    .nullable()
    .openapi({ description: 'the bandwidth all fetches of a run share; null: no limit' }),
};

export const MirrorCreate = z
  .object({
    ...fields,
    serverId: z.string().uuid().openapi({ description: "the application's database server (PostgreSQL or MariaDB)" }),
    layout: fields.layout.default({}),
    pollSeconds: fields.pollSeconds.default(300),
    keepVersions: fields.keepVersions.default(null),
    deleteGraceDays: fields.deleteGraceDays.default(30),
    concurrency: fields.concurrency.default(4),
    maxBytesPerSecond: fields.maxBytesPerSecond.default(null),
  })
  .strict()
  .openapi('MirrorCreate');
export type MirrorCreateInput = z.infer<typeof MirrorCreate>;

export const MirrorPatch = z
  .object({ ...fields, paused: z.boolean() })
  .partial()
  .strict()
  .refine((p) => Object.keys(p).length > 0, 'give at least one field to change')
  .openapi('MirrorPatch');
export type MirrorPatchInput = z.infer<typeof MirrorPatch>;

/** The defaults under what was given; a name given as undefined keeps its default. */
export const fullLayout = (l: Partial<Record<keyof MirrorLayout, string | undefined>> | undefined): MirrorLayout => {
  const out = { ...DEFAULT_MIRROR_LAYOUT };
  for (const [k, v] of Object.entries(l ?? {})) if (v !== undefined) out[k as keyof MirrorLayout] = v;
  return out;
};

export type MirrorRow = typeof objectMirrors.$inferSelect;
export const Mirror = z
  .object({
    id: z.string(),
    name: z.string(),
    serverId: z.string(),
    database: z.string(),
    layout: z.record(z.string(), z.string()),
    pollSeconds: z.number(),
    keepVersions: z.number().nullable(),
    deleteGraceDays: z.number(),
    concurrency: z.number(),
    maxBytesPerSecond: z.number().nullable(),
    cursor: z.string().nullable(),
    paused: z.boolean(),
    scheduleId: z.string(),
    createdAt: z.string(),
  })
  .openapi('ObjectMirror');
export const mirrorOut = (m: MirrorRow) => ({
  id: m.id,
  name: m.name,
  serverId: m.serverId,
  database: m.database,
  layout: { ...m.layout },
  pollSeconds: m.pollSeconds,
  keepVersions: m.keepVersions,
  deleteGraceDays: m.deleteGraceDays,
  concurrency: m.concurrency,
  maxBytesPerSecond: m.maxBytesPerSecond,
  cursor: m.cursor,
  paused: m.paused,
  scheduleId: mirrorScheduleId(m.id),
  createdAt: m.createdAt.toISOString(),
});

const iso = (d: Date | null) => d?.toISOString() ?? null;
export const MirrorRun = z
  .object({
    id: z.string(),
    workflowId: z.string(),
    status: z.string(),
    fetched: z.number(),
    reused: z.number(),
    failed: z.number(),
    superseded: z.number(),
    pruned: z.number(),
    deleted: z.number(),
    bytes: z.number(),
    error: z.string().nullable(),
    startedAt: z.string(),
    finishedAt: z.string().nullable(),
  })
  .openapi('ObjectMirrorRun');
export const runOut = (r: typeof objectMirrorRuns.$inferSelect) => ({
  id: r.id,
  workflowId: r.workflowId,
  status: r.status,
  fetched: r.fetched,
  reused: r.reused,
  failed: r.failed,
  superseded: r.superseded,
  pruned: r.pruned,
  deleted: r.deleted,
  bytes: r.bytes,
  error: r.error,
  startedAt: r.startedAt.toISOString(),
  finishedAt: iso(r.finishedAt),
});

export const MirrorVersion = z
  .object({
    fileId: z.string(),
    bucket: z.string(),
    path: z.string(),
    version: z.number(),
    state: z.enum(MIRROR_VERSION_STATES),
    key: z.string().nullable(),
    sourceBytes: z.number().nullable(),
    storedBytes: z.number().nullable(),
    sha256: z.string().nullable(),
    failure: z.string().nullable(),
    error: z.string().nullable(),
    alertedAt: z.string().nullable(),
    storedAt: z.string().nullable(),
    removedAt: z.string().nullable(),
  })
  .openapi('ObjectMirrorVersion');
export const versionOut = (v: typeof objectMirrorVersions.$inferSelect) => ({
  fileId: v.fileId,
  bucket: v.bucket,
  path: v.path,
  version: v.version,
  state: v.state,
  key: v.key,
  sourceBytes: v.sourceBytes,
  storedBytes: v.storedBytes,
  sha256: v.sha256,
  failure: v.failure,
  error: v.error,
  alertedAt: iso(v.alertedAt),
  storedAt: iso(v.storedAt),
  removedAt: iso(v.removedAt),
});
