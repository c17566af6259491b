// The metadata schema. Every tenant-owned row carries tenant_id, and every query the API makes filters on it.
import { sql } from 'drizzle-orm';
import {
  bigint, boolean, index, integer, jsonb, pgEnum, pgTable, text, timestamp, uniqueIndex, uuid,
} from 'drizzle-orm/pg-core';

export const ROLES = ['viewer', 'operator', 'admin', 'owner'] as const;
export type Role = (typeof ROLES)[number];
export const ENGINES = ['postgresql'] as const;
export type Engine = (typeof ENGINES)[number];
export const BACKUP_STATUSES = ['running', 'succeeded', 'failed', 'cancelled'] as const;
export type BackupStatus = (typeof BACKUP_STATUSES)[number];

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

export const users = pgTable('users', {
  id: uuid('id').primaryKey().defaultRandom(),
  tenantId: uuid('tenant_id').notNull().references(() => tenants.id, { onDelete: 'cascade' }),
  email: text('email').notNull(),
  passwordHash: text('password_hash').notNull(),
  role: roleEnum('role').notNull(),
  createdAt: createdAt(),
}, (t) => [uniqueIndex('users_email_key').on(sql`lower(${t.email})`), index('users_tenant_idx').on(t.tenantId)]);

/** A site runs one worker; the seeds call it an agent. Its connection key is stored only as a hash. */
export const sites = pgTable('sites', {
  id: uuid('id').primaryKey().defaultRandom(),
  tenantId: uuid('tenant_id').notNull().references(() => tenants.id, { onDelete: 'cascade' }),
  name: text('name').notNull(),
  keyHash: text('key_hash').notNull(),
  taskQueue: text('task_queue').notNull(),
  createdAt: createdAt(),
}, (t) => [uniqueIndex('sites_tenant_name_key').on(t.tenantId, t.name)]);

/** A database server at a site, known by name. Its credentials live only in the site worker's configuration. */
export const servers = pgTable('servers', {
  id: uuid('id').primaryKey().defaultRandom(),
  tenantId: uuid('tenant_id').notNull().references(() => tenants.id, { onDelete: 'cascade' }),
  siteId: uuid('site_id').notNull().references(() => sites.id, { onDelete: 'restrict' }),
  name: text('name').notNull(),
  engine: text('engine').$type<Engine>().notNull(),
  createdAt: createdAt(),
}, (t) => [uniqueIndex('servers_site_name_key').on(t.siteId, t.name), index('servers_tenant_idx').on(t.tenantId)]);

export type ScheduleSpec =
  | { kind: 'daily'; time: string }
  | { kind: 'biweekly'; time: string; weekday: number }
  | { kind: 'monthly'; time: string; dayOfMonth: number }
  | { kind: 'cron'; expression: string };

export interface CleanTable {
  table: string;
  /** `exclude`: keep the table's schema, leave its rows out of the backup; the source is not touched. */
  mode: 'exclude';
}

export const backupConfigs = pgTable('backup_configs', {
  id: uuid('id').primaryKey().defaultRandom(),
  tenantId: uuid('tenant_id').notNull().references(() => tenants.id, { onDelete: 'cascade' }),
  serverId: uuid('server_id').notNull().references(() => servers.id, { onDelete: 'restrict' }),
  name: text('name').notNull(),
  databases: text('databases').array().notNull(),
  schedule: jsonb('schedule').$type<ScheduleSpec>().notNull(),
  timezone: text('timezone').notNull(),
  cleanTables: jsonb('clean_tables').$type<CleanTable[]>().notNull().default([]),
  keepLocal: integer('keep_local').notNull(),
  paused: boolean('paused').notNull().default(false),
  createdAt: createdAt(),
  updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
}, (t) => [uniqueIndex('backup_configs_tenant_name_key').on(t.tenantId, t.name), index('backup_configs_server_idx').on(t.serverId)]);

/** One row per database per run; written by the central worker, keyed by (workflow id, database). */
export const backups = pgTable('backups', {
  id: uuid('id').primaryKey().defaultRandom(),
  tenantId: uuid('tenant_id').notNull().references(() => tenants.id, { onDelete: 'cascade' }),
  configId: uuid('config_id').references(() => backupConfigs.id, { onDelete: 'set null' }),
  // History outlives configurations, never servers: a server with backups on record cannot be deleted.
  siteId: uuid('site_id').notNull().references(() => sites.id, { onDelete: 'restrict' }),
  serverId: uuid('server_id').notNull().references(() => servers.id, { onDelete: 'restrict' }),
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
  /** Where the copy lives, e.g. `site:<server>/<database>/<file>`. Null once no copy is left. */
  location: text('location'),
  availableForDownload: boolean('available_for_download').notNull().default(false),
}, (t) => [
  uniqueIndex('backups_run_database_key').on(t.workflowId, t.database),
  index('backups_tenant_started_idx').on(t.tenantId, t.startedAt.desc(), t.id.desc()),
  index('backups_tenant_server_db_idx').on(t.tenantId, t.serverId, t.database),
]);

export const auditLog = pgTable('audit_log', {
  id: uuid('id').primaryKey().defaultRandom(),
  tenantId: uuid('tenant_id').notNull().references(() => tenants.id, { onDelete: 'cascade' }),
  userId: uuid('user_id'),
  action: text('action').notNull(),
  targetType: text('target_type').notNull(),
  targetId: text('target_id'),
  details: jsonb('details').$type<Record<string, unknown>>(),
  at: timestamp('at', { withTimezone: true }).notNull().defaultNow(),
}, (t) => [index('audit_tenant_at_idx').on(t.tenantId, t.at.desc())]);
