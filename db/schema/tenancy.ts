// Tenants and their users: the roots every other row hangs from by tenant_id.
import { sql } from 'drizzle-orm';
import { index, pgEnum, pgTable, text, timestamp, uniqueIndex, uuid } from 'drizzle-orm/pg-core';
import { ROLES } from '../../common/model.ts';
import { createdAt } from './columns.ts';

export const roleEnum = pgEnum('role', ROLES);

export const tenants = pgTable('tenants', {
  id: uuid('id').primaryKey().defaultRandom(),
  name: text('name').notNull(),
  /** Alerts are POSTed here as JSON when set. */
  webhookUrl: text('webhook_url'),
  /** The tenant's own address is `<slug>.<BASE_DOMAIN>`; given at sign-up, never reused. */
  slug: text('slug').unique('tenants_slug_key'),
  createdAt: createdAt(),
});

/**
 * A domain a tenant has claimed for its console and API. It counts only once proven: a DNS TXT record
 * `_backup-platform.<domain>` holding `backup-platform-verify=<token>`.
 */
export const tenantDomains = pgTable(
  'tenant_domains',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    tenantId: uuid('tenant_id')
      .notNull()
      .references(() => tenants.id, { onDelete: 'cascade' }),
    domain: text('domain').notNull(),
    token: text('token').notNull(),
    verifiedAt: timestamp('verified_at', { withTimezone: true }),
    createdAt: createdAt(),
  },
  // Many tenants may claim a name while proving it; only one may hold it proven.
  (t) => [
    uniqueIndex('tenant_domains_tenant_domain_key').on(t.tenantId, t.domain),
    uniqueIndex('tenant_domains_verified_key')
      .on(t.domain)
      .where(sql`${t.verifiedAt} is not null`),
  ],
);

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
  // An email is unique within a tenant only: a sign-up or a new user never learns that an email exists elsewhere.
  (t) => [
    uniqueIndex('users_tenant_email_key').on(t.tenantId, sql`lower(${t.email})`),
    index('users_email_idx').on(sql`lower(${t.email})`),
  ],
);
