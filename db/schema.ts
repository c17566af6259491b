// The metadata schema. Every tenant-owned row carries tenant_id, and every query the API makes filters on it.
import { sql } from 'drizzle-orm';
import {
  bigint,
  boolean,
  doublePrecision,
  index,
  integer,
  jsonb,
  pgEnum,
  pgTable,
  text,
  timestamp,
  uniqueIndex,
  uuid,
} from 'drizzle-orm/pg-core';

import {
  BACKUP_STATUSES,
  COPY_STATES,
  DEFAULT_COMPRESSION,
  ROLES,
  type BackupKind,
  type CleanTable,
  type Compression,
  type ConfigDestination,
  type DestinationKind,
  type DrillSpec,
  type Engine,
  type RestoreKind,
  type ScheduleSpec,
  type TableCount,
} from '../common/model.ts';

export * from '../common/model.ts';

export const roleEnum = pgEnum('role', ROLES);
export const backupStatusEnum = pgEnum('backup_status', BACKUP_STATUSES);

const createdAt = () => timestamp('created_at', { withTimezone: true }).notNull().defaultNow();

export const tenants = pgTable('tenants', {
  id: uuid('id').primaryKey().defaultRandom(),
  name: text('name').notNull(),
  /** Alerts are POSTed here as JSON when set. */
  webhookUrl: text('webhook_url'),
  createdAt: createdAt(),
});

export const users = pgTable(
  'users',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    tenantId: uuid('tenant_id')
      .notNull()
      .references(() => tenants.id, { onDelete: 'cascade' }),
    email: text('email').notNull(),
    passwordHash: text('password_hash').notNull(),
    role: roleEnum('role').notNull(),
    createdAt: createdAt(),
  },
  (t) => [uniqueIndex('users_email_key').on(sql`lower(${t.email})`), index('users_tenant_idx').on(t.tenantId)],
);

/** A site runs one worker; the seeds call it an agent. Its connection key is stored only as a hash. */
export const sites = pgTable(
  'sites',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    tenantId: uuid('tenant_id')
      .notNull()
      .references(() => tenants.id, { onDelete: 'cascade' }),
    name: text('name').notNull(),
    keyHash: text('key_hash').notNull(),
    taskQueue: text('task_queue').notNull(),
    /** The engines the site's worker can dump (its tools were found), as it said at its last check-in. */
    engines: text('engines').array().$type<Engine[]>(),
    checkedInAt: timestamp('checked_in_at', { withTimezone: true }),
    createdAt: createdAt(),
  },
  (t) => [uniqueIndex('sites_tenant_name_key').on(t.tenantId, t.name)],
);

/** A database server at a site, known by name. Its credentials live only in the site worker's configuration. */
export const servers = pgTable(
  'servers',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    tenantId: uuid('tenant_id')
      .notNull()
      .references(() => tenants.id, { onDelete: 'cascade' }),
    siteId: uuid('site_id')
      .notNull()
      .references(() => sites.id, { onDelete: 'restrict' }),
    name: text('name').notNull(),
    engine: text('engine').$type<Engine>().notNull(),
    createdAt: createdAt(),
  },
  (t) => [uniqueIndex('servers_site_name_key').on(t.siteId, t.name), index('servers_tenant_idx').on(t.tenantId)],
);

/** An off-site place a site sends copies to. Known by name; its connection settings and secrets live at the site. */
export const destinations = pgTable(
  'destinations',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    tenantId: uuid('tenant_id')
      .notNull()
      .references(() => tenants.id, { onDelete: 'cascade' }),
    siteId: uuid('site_id')
      .notNull()
      .references(() => sites.id, { onDelete: 'restrict' }),
    name: text('name').notNull(),
    kind: text('kind').$type<DestinationKind>().notNull(),
    createdAt: createdAt(),
  },
  (t) => [
    uniqueIndex('destinations_site_name_key').on(t.siteId, t.name),
    index('destinations_tenant_idx').on(t.tenantId),
  ],
);

export const backupConfigs = pgTable(
  'backup_configs',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    tenantId: uuid('tenant_id')
      .notNull()
      .references(() => tenants.id, { onDelete: 'cascade' }),
    serverId: uuid('server_id')
      .notNull()
      .references(() => servers.id, { onDelete: 'restrict' }),
    name: text('name').notNull(),
    databases: text('databases').array().notNull(),
    schedule: jsonb('schedule').$type<ScheduleSpec>().notNull(),
    timezone: text('timezone').notNull(),
    cleanTables: jsonb('clean_tables').$type<CleanTable[]>().notNull().default([]),
    /** The admin's explicit yes to table cleaning that deletes rows at the source (truncate, deleteOlderThan). */
    confirmDestructiveCleaning: boolean('confirm_destructive_cleaning').notNull().default(false),
    compression: jsonb('compression').$type<Compression>().notNull().default(DEFAULT_COMPRESSION),
    /** AES-256-GCM with a fresh data key per backup, wrapped by the tenant key the site holds. */
    encrypt: boolean('encrypt').notNull().default(false),
    /** Re-read every copy end to end on this schedule (`verify-config-<id>`); null: only on demand. */
    verification: jsonb('verification').$type<{ schedule: ScheduleSpec } | null>(),
    /** Restore the newest backup into a scratch database and check it, on this schedule (`drill-config-<id>`). */
    drill: jsonb('drill').$type<DrillSpec | null>(),
    /** When the missed-backup alert last fired, so it fires once per silence, not every hour. */
    missedAlertAt: timestamp('missed_alert_at', { withTimezone: true }),
    keepLocal: integer('keep_local').notNull(),
    destinations: jsonb('destinations').$type<ConfigDestination[]>().notNull().default([]),
    paused: boolean('paused').notNull().default(false),
    createdAt: createdAt(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    uniqueIndex('backup_configs_tenant_name_key').on(t.tenantId, t.name),
    index('backup_configs_server_idx').on(t.serverId),
  ],
);

/** One row per database per run; written by the central worker, keyed by (workflow id, database). */
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
  },
  (t) => [
    uniqueIndex('backups_run_database_key').on(t.workflowId, t.database),
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
    at: timestamp('at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [index('copy_events_copy_idx').on(t.copyId, t.at)],
);

/** One row per restore or drill: who asked, what, where to, how long it took, and how it ended. */
export const restores = pgTable(
  'restores',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    tenantId: uuid('tenant_id')
      .notNull()
      .references(() => tenants.id, { onDelete: 'cascade' }),
    kind: text('kind').$type<RestoreKind>().notNull().default('restore'),
    backupId: uuid('backup_id').references(() => backups.id, { onDelete: 'set null' }),
    configId: uuid('config_id').references(() => backupConfigs.id, { onDelete: 'set null' }),
    requestedBy: uuid('requested_by'),
    targetSiteId: uuid('target_site_id')
      .notNull()
      .references(() => sites.id, { onDelete: 'restrict' }),
    targetServerId: uuid('target_server_id')
      .notNull()
      .references(() => servers.id, { onDelete: 'restrict' }),
    targetDatabase: text('target_database').notNull(),
    overwrite: boolean('overwrite').notNull().default(false),
    /** The copy that was restored (`site` or a destination name). */
    copyTarget: text('copy_target'),
    workflowId: text('workflow_id').notNull(),
    status: backupStatusEnum('status').notNull(),
    error: text('error'),
    startedAt: timestamp('started_at', { withTimezone: true }).notNull().defaultNow(),
    finishedAt: timestamp('finished_at', { withTimezone: true }),
    /** Measured time of the restore itself (verification excluded). */
    restoreSeconds: doublePrecision('restore_seconds'),
    rawBytes: bigint('raw_bytes', { mode: 'number' }),
    /** A drill's checks: each passed or failed with why. */
    checks: jsonb('checks').$type<{ name: string; ok: boolean; detail: string }[]>(),
  },
  (t) => [
    index('restores_tenant_started_idx').on(t.tenantId, t.startedAt.desc().nullsFirst()),
    index('restores_config_idx').on(t.configId, t.kind, t.startedAt.desc().nullsFirst()),
  ],
);

export const auditLog = pgTable(
  'audit_log',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    tenantId: uuid('tenant_id')
      .notNull()
      .references(() => tenants.id, { onDelete: 'cascade' }),
    userId: uuid('user_id'),
    action: text('action').notNull(),
    targetType: text('target_type').notNull(),
    targetId: text('target_id'),
    details: jsonb('details').$type<Record<string, unknown>>(),
    at: timestamp('at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [index('audit_tenant_at_idx').on(t.tenantId, t.at.desc().nullsFirst())],
);
