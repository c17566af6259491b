// The caller's tenant: its settings, its users and its audit log.
import { createRoute, z } from '@hono/zod-openapi';
import { and, desc, eq } from 'drizzle-orm';
import { BackupError, conflict } from '../../common/errors.ts';
import { ROLES } from '../../common/model.ts';
import { auditLog, tenants, users } from '../../db/schema.ts';
import { router } from '../lib/router.ts';
import type { Services } from '../lib/services.ts';
import { hashPassword } from '../auth/passwords.ts';
import { hasRole, requireRole } from '../auth/roles.ts';
import type { AuthContext } from '../auth/tokens.ts';
import { uniqueViolation } from '../lib/errors.ts';
import { body, errors, IdParam, iso, json } from '../lib/http.ts';
import { audit, findOwned } from '../lib/tenancy.ts';
import { Email, Password, userOut, UserOut } from './auth.ts';

const Tenant = z
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
const TenantPatch = z
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
const UserCreate = z.object({ email: Email, password: Password, role: z.enum(ROLES) }).openapi('UserCreate');
const UserPatch = z.object({ role: z.enum(ROLES) }).openapi('UserPatch');
const AuditEntry = z.object({
  id: z.string(),
  userId: z.string().nullable(),
  action: z.string(),
  targetType: z.string(),
  targetId: z.string().nullable(),
  details: z.record(z.string(), z.unknown()).nullable(),
  at: z.string(),
});

/** The webhook URL is a secret (whoever has it can post alerts): below admin, only where alerts go is shown. */
const tenantOut = (t: typeof tenants.$inferSelect, auth: AuthContext) => {
  const webhookUrl =
    t.webhookUrl && !hasRole(auth, 'admin') ? `${new URL(t.webhookUrl).origin}/[hidden]` : t.webhookUrl;
  return { id: t.id, name: t.name, webhookUrl, createdAt: t.createdAt.toISOString() };
};

export function tenantRoutes(s: Services) {
  const r = router();

  r.openapi(
    createRoute({
      method: 'get',
      path: '/me',
      tags: ['tenant'],
      summary: 'The signed-in user',
      responses: { 200: json(UserOut), 401: errors[401] },
    }),
    async (c) => {
      const auth = c.get('auth');
      return c.json(userOut(await findOwned(s.db, users, auth.userId, auth.tenantId, 'user')), 200);
    },
  );

  r.openapi(
    createRoute({
      method: 'get',
      path: '/tenant',
      tags: ['tenant'],
      summary: 'Your tenant',
      responses: { 200: json(Tenant), 401: errors[401] },
    }),
    async (c) => {
      const auth = c.get('auth');
      const [t] = await s.db.select().from(tenants).where(eq(tenants.id, auth.tenantId));
      return c.json(tenantOut(t!, auth), 200);
    },
  );

  r.openapi(
    createRoute({
      method: 'patch',
      path: '/tenant',
      tags: ['tenant'],
      summary: 'Rename the tenant or set the alert webhook',
      request: body(TenantPatch),
      responses: { 200: json(Tenant), 400: errors[400], 403: errors[403] },
    }),
    async (c) => {
      const auth = c.get('auth');
      requireRole(auth, 'admin');
      const patch = c.req.valid('json');
      const t = await s.db.transaction(async (tx) => {
        const [t] = await tx.update(tenants).set(patch).where(eq(tenants.id, auth.tenantId)).returning();
        await audit(tx, auth, 'tenant.update', { type: 'tenant', id: auth.tenantId }, { fields: Object.keys(patch) });
        return t!;
      });
      return c.json(tenantOut(t, auth), 200);
    },
  );

  r.openapi(
    createRoute({
      method: 'get',
      path: '/users',
      tags: ['users'],
      summary: 'Users of your tenant',
      responses: { 200: json(z.object({ items: z.array(UserOut) })) },
    }),
    async (c) => {
      const rows = await s.db
        .select()
        .from(users)
        .where(eq(users.tenantId, c.get('auth').tenantId))
        .orderBy(users.createdAt);
      return c.json({ items: rows.map(userOut) }, 200);
    },
  );

  r.openapi(
    createRoute({
      method: 'post',
      path: '/users',
      tags: ['users'],
      summary: 'Add a user to your tenant',
      request: body(UserCreate),
      responses: { 201: json(UserOut), 400: errors[400], 403: errors[403], 409: errors[409] },
    }),
    async (c) => {
      const auth = c.get('auth');
      const input = c.req.valid('json');
      requireRole(auth, input.role === 'owner' ? 'owner' : 'admin');
      const passwordHash = await hashPassword(input.password);
      try {
        const user = await s.db.transaction(async (tx) => {
          const [u] = await tx
            .insert(users)
            .values({ tenantId: auth.tenantId, email: input.email, passwordHash, role: input.role })
            .returning();
          await audit(tx, auth, 'user.create', { type: 'user', id: u!.id }, { email: input.email, role: input.role });
          return u!;
        });
        return c.json(userOut(user), 201);
      } catch (err) {
        if (uniqueViolation(err)) throw conflict('a user with this email exists');
        throw err;
      }
    },
  );

  r.openapi(
    createRoute({
      method: 'patch',
      path: '/users/{id}',
      tags: ['users'],
      summary: "Change a user's role",
      request: { params: IdParam, ...body(UserPatch) },
      responses: { 200: json(UserOut), 400: errors[400], 403: errors[403], 404: errors[404], 409: errors[409] },
    }),
    async (c) => {
      const auth = c.get('auth');
      const { id } = c.req.valid('param');
      const { role } = c.req.valid('json');
      const user = await s.db.transaction(async (tx) => {
        const target = await findOwned(tx, users, id, auth.tenantId, 'user');
        requireRole(auth, target.role === 'owner' || role === 'owner' ? 'owner' : 'admin');
        if (target.role === 'owner' && role !== 'owner') await assertAnotherOwner(tx, auth.tenantId, id);
        const [u] = await tx.update(users).set({ role }).where(eq(users.id, id)).returning();
        await audit(tx, auth, 'user.role', { type: 'user', id }, { from: target.role, to: role });
        return u!;
      });
      s.roles.forget(auth.tenantId, id);
      return c.json(userOut(user), 200);
    },
  );

  r.openapi(
    createRoute({
      method: 'delete',
      path: '/users/{id}',
      tags: ['users'],
      summary: 'Remove a user',
      request: { params: IdParam },
      responses: { 204: { description: 'Removed' }, 403: errors[403], 404: errors[404], 409: errors[409] },
    }),
    async (c) => {
      const auth = c.get('auth');
      const { id } = c.req.valid('param');
      await s.db.transaction(async (tx) => {
        const target = await findOwned(tx, users, id, auth.tenantId, 'user');
        requireRole(auth, target.role === 'owner' ? 'owner' : 'admin');
        if (target.role === 'owner') await assertAnotherOwner(tx, auth.tenantId, id);
        await tx.delete(users).where(eq(users.id, id));
        await audit(tx, auth, 'user.delete', { type: 'user', id }, { email: target.email });
      });
      s.roles.forget(auth.tenantId, id);
      return c.body(null, 204);
    },
  );

  r.openapi(
    createRoute({
      method: 'get',
      path: '/audit',
      tags: ['tenant'],
      summary: 'Audit log of admin actions, newest first',
      request: { query: z.object({ limit: z.coerce.number().int().min(1).max(500).default(100) }) },
      responses: { 200: json(z.object({ items: z.array(AuditEntry) })), 403: errors[403] },
    }),
    async (c) => {
      const auth = c.get('auth');
      requireRole(auth, 'admin');
      const rows = await s.db
        .select()
        .from(auditLog)
        .where(eq(auditLog.tenantId, auth.tenantId))
        .orderBy(desc(auditLog.at))
        .limit(c.req.valid('query').limit);
      return c.json({ items: rows.map((a) => ({ ...a, at: iso(a.at)! })) }, 200);
    },
  );

  return r;
}

/**
 * The tenant keeps an owner besides `exceptId`. The owners' rows are locked first: two owners demoting or removing
 * each other at once are taken one after the other, and the second finds the first no longer an owner.
 */
async function assertAnotherOwner(
  tx: Parameters<typeof findOwned>[0],
  tenantId: string,
  exceptId: string,
): Promise<void> {
  const owners = await tx
    .select({ id: users.id })
    .from(users)
    .where(and(eq(users.tenantId, tenantId), eq(users.role, 'owner')))
    .orderBy(users.id)
    .for('update'); // one order: no deadlock
  if (!owners.some((o) => o.id !== exceptId))
    throw new BackupError('conflict', 'a tenant keeps at least one owner: make another user owner first');
}
