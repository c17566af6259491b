// Tenants and their users: the roots every other row hangs from by tenant_id.
import { sql } from 'drizzle-orm';
import { index, pgEnum, pgTable, text, uniqueIndex, uuid } from 'drizzle-orm/pg-core';
import { ROLES } from '../../common/model.ts';
import { createdAt } from './columns.ts';

export const roleEnum = pgEnum('role', ROLES);

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
  // An email is unique within a tenant only: a sign-up or a new user never learns that an email exists elsewhere.
  (t) => [
    uniqueIndex('users_tenant_email_key').on(t.tenantId, sql`lower(${t.email})`),
    index('users_email_idx').on(sql`lower(${t.email})`),
  ],
);
