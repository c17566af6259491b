// Object mirrors (issue 19): an application's file versions copied from its object storage to the site. One row per
// mirror, one per version it has seen (its state at the site), one per run with its counts.
import {
  bigint,
  index,
  integer,
  jsonb,
  pgTable,
  text,
  timestamp,
  uniqueIndex,
  uuid,
  boolean,
} from 'drizzle-orm/pg-core';
import type { MirrorLayout, MirrorVersionState } from '../../common/mirror.ts';
import { createdAt } from './columns.ts';
import { servers } from './sites.ts';
import { tenants } from './tenancy.ts';

export const objectMirrors = pgTable(
  'object_mirrors',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    tenantId: uuid('tenant_id')
      .notNull()
      .references(() => tenants.id, { onDelete: 'cascade' }),
    /** The application's database server at the site; the site's configuration logs in with a read-only user. */
    serverId: uuid('server_id')
      .notNull()
      .references(() => servers.id, { onDelete: 'restrict' }),
    name: text('name').notNull(),
    database: text('database').notNull(),
    layout: jsonb('layout').$type<MirrorLayout>().notNull(),
    /** How often the application's table is polled (a Temporal schedule interval). */
    pollSeconds: integer('poll_seconds').notNull(),
    /** null: keep every version; 1: only the latest. */
    keepVersions: integer('keep_versions'),
    deleteGraceDays: integer('delete_grace_days').notNull(),
    concurrency: integer('concurrency').notNull(),
    maxBytesPerSecond: bigint('max_bytes_per_second', { mode: 'number' }),
    /** The Id of the last row mirrored (as text: the application's Id may be a number or a string). */
    cursor: text('cursor'),
    /** Deletions logged before this instant were all applied. */
    deleteCursor: timestamp('delete_cursor', { withTimezone: true }),
    paused: boolean('paused').notNull().default(false),
    createdAt: createdAt(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [uniqueIndex('object_mirrors_tenant_name_key').on(t.tenantId, t.name)],
);

export const objectMirrorVersions = pgTable(
  'object_mirror_versions',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    tenantId: uuid('tenant_id')
      .notNull()
      .references(() => tenants.id, { onDelete: 'cascade' }),
    mirrorId: uuid('mirror_id')
      .notNull()
      .references(() => objectMirrors.id, { onDelete: 'cascade' }),
    fileId: text('file_id').notNull(),
    bucket: text('bucket').notNull(),
    path: text('path').notNull(),
    version: integer('version').notNull(),
    state: text('state').$type<MirrorVersionState>().notNull(),
    key: text('key'),
    sourceBytes: bigint('source_bytes', { mode: 'number' }),
    storedBytes: bigint('stored_bytes', { mode: 'number' }),
    sha256: text('sha256'),
    failure: text('failure'),
    error: text('error'),
    /** When the failure was alerted: each failed version is alerted once. */
    alertedAt: timestamp('alerted_at', { withTimezone: true }),
    firstSeenAt: timestamp('first_seen_at', { withTimezone: true }).notNull().defaultNow(),
    storedAt: timestamp('stored_at', { withTimezone: true }),
    removedAt: timestamp('removed_at', { withTimezone: true }),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    uniqueIndex('object_mirror_versions_key').on(t.mirrorId, t.bucket, t.path, t.version),
    index('object_mirror_versions_state_idx').on(t.mirrorId, t.state),
  ],
);

export const objectMirrorRuns = pgTable(
  'object_mirror_runs',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    tenantId: uuid('tenant_id')
      .notNull()
      .references(() => tenants.id, { onDelete: 'cascade' }),
    mirrorId: uuid('mirror_id').references(() => objectMirrors.id, { onDelete: 'set null' }),
    workflowId: text('workflow_id').notNull(),
    runId: text('run_id').notNull(),
    status: text('status').$type<'running' | 'succeeded' | 'partial' | 'failed'>().notNull(),
    fetched: integer('fetched').notNull().default(0),
    reused: integer('reused').notNull().default(0),
    failed: integer('failed').notNull().default(0),
    superseded: integer('superseded').notNull().default(0),
    pruned: integer('pruned').notNull().default(0),
    deleted: integer('deleted').notNull().default(0),
    bytes: bigint('bytes', { mode: 'number' }).notNull().default(0),
    error: text('error'),
    startedAt: timestamp('started_at', { withTimezone: true }).notNull(),
    finishedAt: timestamp('finished_at', { withTimezone: true }),
  },
  (t) => [
    uniqueIndex('object_mirror_runs_run_key').on(t.runId),
    index('object_mirror_runs_mirror_idx').on(t.mirrorId, t.startedAt.desc()),
  ],
);
