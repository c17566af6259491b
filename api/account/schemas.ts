// The shapes of signing up and in, and of a user as every route shows one.
import { z } from '@hono/zod-openapi';
import type { users } from '../../db/schema.ts';

export const Email = z.string().trim().toLowerCase().email().max(254);
export const Password = z.string().min(12, 'at least 12 characters').max(200);
export const UserOut = z
  .object({ id: z.string(), email: z.string(), role: z.string(), createdAt: z.string() })
  .openapi('User');

export const Signup = z
  .object({ tenantName: z.string().trim().min(1).max(100), email: Email, password: Password })
  .openapi('Signup');
export const Login = z
  .object({
    email: Email,
    password: z.string().min(1).max(200),
    tenant: z
      .string()
      .uuid()
      .optional()
      .openapi({ description: "The tenant's id, needed only when one email and password open several tenants" }),
  })
  .openapi('Login');
export const Session = z
  .object({ token: z.string(), user: UserOut, tenant: z.object({ id: z.string(), name: z.string() }) })
  .openapi('Session');

export const userOut = (u: typeof users.$inferSelect) => ({
  id: u.id,
  email: u.email,
  role: u.role,
  createdAt: u.createdAt.toISOString(),
});
