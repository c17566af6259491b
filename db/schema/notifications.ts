// Notification channels (where a tenant's alerts go), each delivery made to one, and the outages of sites seen by the
// site watch. A channel's secrets (SMTP password, webhook URLs that embed a token, bot tokens, signing secrets) are
// stored only encrypted (common/channel-secrets.ts) and never answered after creation.
import { sql } from 'drizzle-orm';
import { index, integer, jsonb, pgTable, text, timestamp, uniqueIndex, uuid } from 'drizzle-orm/pg-core';
import type { ChannelKind, NotifyEvent } from '../../common/model.ts';
import { createdAt } from './columns.ts';
import { sites } from './sites.ts';
import { tenants } from './tenancy.ts';

export const notificationChannels = pgTable(
  'notification_channels',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    tenantId: uuid('tenant_id')
      .notNull()
      .references(() => tenants.id, { onDelete: 'cascade' }),
    name: text('name').notNull(),
    kind: text('kind').$type<ChannelKind>().notNull(),
    events: jsonb('events').$type<NotifyEvent[]>().notNull(),
    /** What is not secret: SMTP host, port, TLS mode, user, from, to; a Telegram chat id; a card format. */
    settings: jsonb('settings').$type<Record<string, unknown>>().notNull(),
    /** The secrets as one encrypted JSON object (`v1:` AES-256-GCM). */
    secrets: text('secrets').notNull(),
    /** site.offline: how long a site may be silent before this channel hears of it; null: the deployment's default. */
    offlineAfterMinutes: integer('offline_after_minutes'),
    createdAt: createdAt(),
  },
  (t) => [uniqueIndex('notification_channels_tenant_name_key').on(t.tenantId, t.name)],
);

/** One event sent (or being sent) to one channel: the key makes a retried or repeated event one delivery. */
export const notificationDeliveries = pgTable(
  'notification_deliveries',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    tenantId: uuid('tenant_id')
      .notNull()
      .references(() => tenants.id, { onDelete: 'cascade' }),
    channelId: uuid('channel_id')
      .notNull()
      .references(() => notificationChannels.id, { onDelete: 'cascade' }),
    eventType: text('event_type').notNull(),
    eventKey: text('event_key').notNull(),
    state: text('state').$type<'sending' | 'sent' | 'failed'>().notNull(),
    attempts: integer('attempts').notNull().default(0),
    lastError: text('last_error'),
    createdAt: createdAt(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
    sentAt: timestamp('sent_at', { withTimezone: true }),
  },
  (t) => [
    uniqueIndex('notification_deliveries_channel_key').on(t.channelId, t.eventKey),
    index('notification_deliveries_channel_time_idx').on(t.channelId, t.createdAt),
  ],
);

/** A site that stopped polling its task queue: open until it polls again; one site.offline per outage. */
export const siteOutages = pgTable(
  'site_outages',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    tenantId: uuid('tenant_id')
      .notNull()
      .references(() => tenants.id, { onDelete: 'cascade' }),
    siteId: uuid('site_id')
      .notNull()
      .references(() => sites.id, { onDelete: 'cascade' }),
    /** The site's last poll before the silence: where the outage is measured from. */
    lastSeenAt: timestamp('last_seen_at', { withTimezone: true }).notNull(),
    endedAt: timestamp('ended_at', { withTimezone: true }),
    createdAt: createdAt(),
  },
  (t) => [
    uniqueIndex('site_outages_open_key')
      .on(t.siteId)
      .where(sql`${t.endedAt} is null`),
  ],
);
