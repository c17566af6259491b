// Backup history: a row per database per run, each of its copies, and what happened to each copy.
import {
  bigint,
  boolean,
  date,
  doublePrecision,
  integer,
  primaryKey,
  index,
  jsonb,
  pgEnum,
  pgTable,
  text,
  timestamp,
  uniqueIndex,
  uuid,
} from 'drizzle-orm/pg-core';
import { BACKUP_STATUSES, COPY_STATES, type BackupKind, type BackupType, type TableCount } from '../../common/model.ts';
import { backupConfigs } from './configs.ts';
import { destinations, servers, sites } from './sites.ts';
import { tenants } from './tenancy.ts';

export const backupStatusEnum = pgEnum('backup_status', BACKUP_STATUSES);

/** One row per database per run; written by the central worker, keyed by (run id, database). */
export const backups = pgTable(
  'backups',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    tenantId: uuid('tenant_id')
      .notNull()
      .references(() => tenants.id, { onDelete: 'cascade' }),
    configId: uuid('config_id').references(() => backupConfigs.id, { onDelete: 'set null' }),
    // History outlives configurations, never servers: a server with backups on record cannot be deleted.
    siteId: uuid('site_id')
      .notNull()
      .references(() => sites.id, { onDelete: 'restrict' }),
    serverId: uuid('server_id')
      .notNull()
      .references(() => servers.id, { onDelete: 'restrict' }),
    database: text('database').notNull(),
    workflowId: text('workflow_id').notNull(),
    runId: text('run_id').notNull(),
    fileName: text('file_name'),
    sizeBytes: bigint('size_bytes', { mode: 'number' }),
    sha256: text('sha256'),
    startedAt: timestamp('started_at', { withTimezone: true }).notNull(),
    finishedAt: timestamp('finished_at', { withTimezone: true }),
    status: backupStatusEnum('status').notNull(),
    error: text('error'),
    /** full, differential or incremental; a database dump is full. */
    type: text('backup_type').$type<BackupType>().notNull().default('full'),
    /** The backup a differential or incremental is applied on (its chain's link); retention keeps it while needed. */
    baseBackupId: uuid('base_backup_id'),
    /** `dry-run`: a check of everything a backup needs; it stores no data. */
    kind: text('kind').$type<BackupKind>().notNull().default('backup'),
    compression: text('compression'),
    encrypted: boolean('encrypted').notNull().default(false),
    /** Which tenant key wrapped the data key (a fingerprint, never the key). */
    keyId: text('key_id'),
    /** Rows per table at backup time, so a restore can be checked against them. */
    tableCounts: jsonb('table_counts').$type<TableCount[]>(),
    /** What destructive table cleaning removed at the source before the dump. */
    rowsRemoved: jsonb('rows_removed').$type<{ table: string; mode: string; rows: number }[]>(),
    /** A dry run's report: each check, passed or failed with why, and the estimates. */
    report: jsonb('report').$type<Record<string, unknown>>(),
    /** Where the copy lives, e.g. `site:<server>/<database>/<file>`. Null once no copy is left. */
    location: text('location'),
    availableForDownload: boolean('available_for_download').notNull().default(false),
    /** Who asked for this run (run now), as their email was then; null for a run its schedule started. */
    triggeredBy: text('triggered_by'),
  },
  (t) => [
    // A run is its run id: the schedule names its workflows to the second, so two runs of one configuration started
    // in the same second (a run now just after another ended) share a workflow id, never a run id.
    uniqueIndex('backups_run_database_key').on(t.runId, t.database),
    // NULLS FIRST is what `ORDER BY ... DESC` means: an index in another null order cannot serve the query's order.
    index('backups_tenant_started_idx').on(t.tenantId, t.startedAt.desc().nullsFirst(), t.id.desc().nullsFirst()),
    index('backups_config_started_idx').on(t.configId, t.startedAt.desc().nullsFirst()),
    index('backups_tenant_server_db_idx').on(t.tenantId, t.serverId, t.database),
  ],
);

export const copyStateEnum = pgEnum('copy_state', COPY_STATES);

/** One row per copy of a backup: the site's own file and one per destination. */
export const backupCopies = pgTable(
  'backup_copies',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    tenantId: uuid('tenant_id')
      .notNull()
      .references(() => tenants.id, { onDelete: 'cascade' }),
    backupId: uuid('backup_id')
      .notNull()
      .references(() => backups.id, { onDelete: 'cascade' }),
    /** `site`, or the name of a destination at the backup's site. */
    target: text('target').notNull(),
    destinationId: uuid('destination_id').references(() => destinations.id, { onDelete: 'set null' }),
    /** The object key within the target (a path relative to the site's Backups folder for `site`). */
    objectKey: text('object_key').notNull(),
    /** Where it is, for people: e.g. azure://account/container/key. Never holds a secret. */
    location: text('location'),
    sizeBytes: bigint('size_bytes', { mode: 'number' }),
    sha256: text('sha256'),
    state: copyStateEnum('state').notNull(),
    error: text('error'),
    storedAt: timestamp('stored_at', { withTimezone: true }),
    checkedAt: timestamp('checked_at', { withTimezone: true }),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    uniqueIndex('backup_copies_backup_target_key').on(t.backupId, t.target),
    index('backup_copies_tenant_state_idx').on(t.tenantId, t.state),
  ],
);

/**
 * Runs a user asked for (run now): the API learns the run's id once the schedule has started it, and the run's
 * history rows take the user from here, whichever of the two is written first.
 */
export const runTriggers = pgTable('run_triggers', {
  runId: text('run_id').primaryKey(),
  tenantId: uuid('tenant_id')
    .notNull()
    .references(() => tenants.id, { onDelete: 'cascade' }),
  triggeredBy: text('triggered_by').notNull(),
  at: timestamp('at', { withTimezone: true }).notNull().defaultNow(),
});

/** What happened to a copy, in order: stored, missing, corrupt, repaired, deleted, verified. */
export const copyEvents = pgTable(
  'copy_events',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    tenantId: uuid('tenant_id')
      .notNull()
      .references(() => tenants.id, { onDelete: 'cascade' }),
    copyId: uuid('copy_id')
      .notNull()
      .references(() => backupCopies.id, { onDelete: 'cascade' }),
    event: text('event').notNull(),
    detail: text('detail'),
    workflowId: text('workflow_id'),
    /**
     * The activity that wrote the event (`<run id>/<activity id>`, the same on every retry): an attempt that wrote
     * it and then lost its answer is retried without a second event.
     */
    activityKey: text('activity_key'),
    at: timestamp('at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    index('copy_events_copy_idx').on(t.copyId, t.at),
    uniqueIndex('copy_events_activity_key').on(t.copyId, t.event, t.activityKey),
  ],
);

/**
 * Backups per UTC day, configuration and server, kept by a trigger on `backups` (migration 0011): the statistics read
 * a month from here as a few dozen rows instead of aggregating every history row. `config_key` is the configuration's
 * id, or the zero UUID once the configuration is deleted. Only `kind = 'backup'` rows count.
 */
export const backupDaily = pgTable(
  'backup_daily',
  {
    tenantId: uuid('tenant_id').notNull(),
    day: date('day').notNull(),
    configKey: uuid('config_key').notNull(),
    serverId: uuid('server_id').notNull(),
    succeeded: integer('succeeded').notNull().default(0),
    failed: integer('failed').notNull().default(0),
    bytes: doublePrecision('bytes').notNull().default(0),
    /** Seconds of the succeeded backups that have finished, and how many they are: their mean is the quotient. */
    seconds: doublePrecision('seconds').notNull().default(0),
    timed: integer('timed').notNull().default(0),
  },
  (t) => [primaryKey({ name: 'backup_daily_pkey', columns: [t.tenantId, t.day, t.configKey, t.serverId] })],
);
