// Where the data is: sites (one worker each), their database servers and the off-site destinations they send to.
import { index, pgTable, text, timestamp, uniqueIndex, uuid } from 'drizzle-orm/pg-core';
import type { DestinationKind, Engine } from '../../common/model.ts';
import { createdAt } from './columns.ts';
import { tenants } from './tenancy.ts';

/** A site runs one site worker (the seeds called it an agent). Its site key is stored only as a hash. */
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
