// Restores and restore drills.
import { bigint, boolean, doublePrecision, index, jsonb, pgTable, text, timestamp, uuid } from 'drizzle-orm/pg-core';
import type { RestoreKind } from '../../common/model.ts';
import { backups, backupStatusEnum } from './backups.ts';
import { backupConfigs } from './configs.ts';
import { servers, sites } from './sites.ts';
import { tenants } from './tenancy.ts';

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
    /** The run's globals applied first (roles made, then owners and grants kept); null: restored without them. */
    globalsBackupId: uuid('globals_backup_id').references(() => backups.id, { onDelete: 'set null' }),
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
