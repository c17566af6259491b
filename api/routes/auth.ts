import { createRoute, z } from '@hono/zod-openapi';
import { eq, sql } from 'drizzle-orm';
import { BackupError, conflict } from '../../common/errors.ts';
import { tenants, users } from '../../db/schema.ts';
import { router } from '../lib/router.ts';
import type { Services } from '../lib/services.ts';
import { DUMMY_PASSWORD_HASH, hashPassword, verifyPassword } from '../auth/passwords.ts';
import { issueToken } from '../auth/tokens.ts';
import { uniqueViolation } from '../lib/errors.ts';
import { body, errors, json } from '../lib/http.ts';
import { audit } from '../lib/tenancy.ts';

export const Email = z.string().trim().toLowerCase().email().max(254);
export const Password = z.string().min(12, 'at least 12 characters').max(200);
export const UserOut = z
  .object({ id: z.string(), email: z.string(), role: z.string(), createdAt: z.string() })
  .openapi('User');

const Signup = z
  .object({ tenantName: z.string().trim().min(1).max(100), email: Email, password: Password })
  .openapi('Signup');
const Login = z.object({ email: Email, password: z.string().min(1).max(200) }).openapi('Login');
const Session = z
  .object({ token: z.string(), user: UserOut, tenant: z.object({ id: z.string(), name: z.string() }) })
  .openapi('Session');

export const userOut = (u: typeof users.$inferSelect) => ({
  id: u.id,
  email: u.email,
  role: u.role,
  createdAt: u.createdAt.toISOString(),
});

export function authRoutes(s: Services) {
  const r = router();

  r.openapi(
    createRoute({
      method: 'post',
      path: '/auth/signup',
      tags: ['auth'],
      summary: 'Create a tenant and its owner',
      security: [],
      request: body(Signup),
      responses: { 201: json(Session, 'Signed up'), 400: errors[400], 409: errors[409] },
    }),
    async (c) => {
      const input = c.req.valid('json');
      const passwordHash = await hashPassword(input.password);
      try {
        const { tenant, user } = await s.db.transaction(async (tx) => {
          const [tenant] = await tx.insert(tenants).values({ name: input.tenantName }).returning();
          const [user] = await tx
            .insert(users)
            .values({ tenantId: tenant!.id, email: input.email, passwordHash, role: 'owner' })
            .returning();
          await audit(tx, { tenantId: tenant!.id, userId: user!.id, role: 'owner' }, 'tenant.signup', {
            type: 'tenant',
            id: tenant!.id,
          });
          return { tenant: tenant!, user: user! };
        });
        const token = issueToken(
          { userId: user.id, tenantId: tenant.id, role: user.role },
          s.jwtSecret,
          s.jwtTtlSeconds,
        );
        return c.json({ token, user: userOut(user), tenant: { id: tenant.id, name: tenant.name } }, 201);
      } catch (err) {
        if (uniqueViolation(err)) throw conflict('an account with this email exists: sign in instead');
        throw err;
      }
    },
  );

  r.openapi(
    createRoute({
      method: 'post',
      path: '/auth/login',
      tags: ['auth'],
      summary: 'Sign in; returns a JWT',
      security: [],
      request: body(Login),
      responses: { 200: json(Session), 400: errors[400], 401: errors[401] },
    }),
    async (c) => {
      const input = c.req.valid('json');
      const [row] = await s.db
        .select({ user: users, tenant: tenants })
        .from(users)
        .innerJoin(tenants, eq(tenants.id, users.tenantId))
        .where(eq(sql`lower(${users.email})`, input.email));
      const ok = await verifyPassword(input.password, row?.user.passwordHash ?? DUMMY_PASSWORD_HASH);
      if (!row || !ok) throw new BackupError('auth', 'wrong email or password');
      const token = issueToken(
        { userId: row.user.id, tenantId: row.tenant.id, role: row.user.role },
        s.jwtSecret,
        s.jwtTtlSeconds,
      );
      return c.json({ token, user: userOut(row.user), tenant: { id: row.tenant.id, name: row.tenant.name } }, 200);
    },
  );

  return r;
}
