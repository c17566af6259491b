// The shapes of the tenant API: the tenant's settings, its users, its audit log.
import { z } from '@hono/zod-openapi';
import { ROLES } from '../../common/model.ts';
import type { tenants } from '../../db/schema.ts';
import { Email, Password } from '../account/schemas.ts';
import { hasRole } from '../auth/roles.ts';
import type { AuthContext } from '../auth/tokens.ts';

export const Tenant = z
  .object({
    id: z.string(),
    name: z.string(),
    createdAt: z.string(),
    webhookUrl: z.string().nullable().openapi({
      description:
        "admins see the whole URL; other roles only its origin, as https://host/[hidden], since the URL usually holds the webhook's secret",
    }),
  })
  .openapi('Tenant');
export const TenantPatch = z
  .object({
    name: z.string().trim().min(1).max(100).optional(),
    webhookUrl: z
      .string()
      .url()
      .refine((u) => /^https?:\/\//.test(u), 'must be an http(s) URL')
      // fetch refuses such a URL, and its error would carry the password into logs and Temporal history.
      .refine(
        (u) => !URL.canParse(u) || (!new URL(u).username && !new URL(u).password),
        'must not contain user:password@: alerts are sent without credentials, so use a webhook URL that carries its secret in the path or query (as Slack and Teams webhooks do)',
      )
      .nullable()
      .optional(),
  })
  .openapi('TenantPatch');
export const UserCreate = z.object({ email: Email, password: Password, role: z.enum(ROLES) }).openapi('UserCreate');
export const UserPatch = z.object({ role: z.enum(ROLES) }).openapi('UserPatch');
export const AuditEntry = z.object({
  id: z.string(),
  userId: z.string().nullable(),
  action: z.string(),
  targetType: z.string(),
  targetId: z.string().nullable(),
  details: z.record(z.string(), z.unknown()).nullable(),
  at: z.string(),
});

/** The webhook URL is a secret (whoever has it can post alerts): below admin, only where alerts go is shown. */
export const tenantOut = (t: typeof tenants.$inferSelect, auth: AuthContext) => {
  const webhookUrl =
    t.webhookUrl && !hasRole(auth, 'admin') ? `${new URL(t.webhookUrl).origin}/[hidden]` : t.webhookUrl;
  return { id: t.id, name: t.name, webhookUrl, createdAt: t.createdAt.toISOString() };
};
