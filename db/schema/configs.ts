// Backup configurations: what to back up, when, how, and where the copies go.
import { boolean, index, integer, jsonb, pgTable, text, timestamp, uniqueIndex, uuid } from 'drizzle-orm/pg-core';
import {
  DEFAULT_COMPRESSION,
  type CleanTable,
  type Compression,
  type ConfigDestination,
  type DrillSpec,
  type GlobalsSpec,
  type ScheduleSpec,
} from '../../common/model.ts';
import { createdAt } from './columns.ts';
import { servers } from './sites.ts';
import { tenants } from './tenancy.ts';

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
    /** Names, or `["*"]`: every database of the server, discovered at the site on each run. */
    databases: text('databases').array().notNull(),
    /** With `["*"]`: the databases a run leaves out. */
    excludeDatabases: text('exclude_databases').array().notNull().default([]),
    /** With `["*"]`: databases this configuration backed up that have left the server, already reported once. */
    vanishedDatabases: text('vanished_databases').array().notNull().default([]),
    schedule: jsonb('schedule').$type<ScheduleSpec>().notNull(),
    timezone: text('timezone').notNull(),
    cleanTables: jsonb('clean_tables').$type<CleanTable[]>().notNull().default([]),
    /** The admin's explicit yes to table cleaning that deletes rows at the source (truncate, deleteOlderThan). */
    confirmDestructiveCleaning: boolean('confirm_destructive_cleaning').notNull().default(false),
    compression: jsonb('compression').$type<Compression>().notNull().default(DEFAULT_COMPRESSION),
    /** AES-256-GCM with a fresh data key per backup, wrapped by the tenant key the site holds. */
    encrypt: boolean('encrypt').notNull().default(false),
    /** PostgreSQL: each run also dumps the server's roles, memberships, tablespaces and database grants; null: not. */
    globals: jsonb('globals').$type<GlobalsSpec | null>(),
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
