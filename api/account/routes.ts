// Signing up and signing in: the two routes open to anyone. Both answer a session token.
import { createRoute } from '@hono/zod-openapi';
import { BackupError } from '../../common/errors.ts';
import { issueToken } from '../auth/tokens.ts';
import { requireStrongPassword } from '../guard/sign-in.ts';
import { body, errors, json } from '../lib/http.ts';
import { router, type Router } from '../lib/router.ts';
import type { Services } from '../lib/services.ts';
import { Login, Session, Signup, userOut } from './schemas.ts';
import * as service from './service.ts';

export function accountRoutes(s: Services) {
  const r = router();
  signup(r, s);
  login(r, s);
  return r;
}

function signup(r: Router, s: Services) {
  r.openapi(
    createRoute({
      method: 'post',
      path: '/auth/signup',
      tags: ['auth'],
      summary: 'Create a tenant and its owner',
      security: [],
      request: body(Signup),
      responses: {
        201: json(Session, 'Signed up'),
        400: errors[400],
        403: errors[403],
        429: errors[429],
      },
    }),
    async (c) => {
      if (s.signupOpen === false)
        throw new BackupError('forbidden', 'sign-up is closed on this platform: ask its operator for an account');
      const input = c.req.valid('json');
      if (c.get('hostTenant'))
        throw new BackupError('forbidden', "this is a tenant's address: sign up on the platform's own address");
      requireStrongPassword(input.password, input);
      const account = await s.signIn.signUp(c, () => service.signup(s.db, input));
      if (account instanceof Response) return account as never;
      const { tenant, user } = account;
      const token = issueToken({ userId: user.id, tenantId: tenant.id, role: user.role }, s.jwtSecret, s.jwtTtlSeconds);
      c.header('Cache-Control', 'no-store');
      return c.json({ token, user: userOut(user), tenant: { id: tenant.id, name: tenant.name } }, 201);
    },
  );
}

function login(r: Router, s: Services) {
  r.openapi(
    createRoute({
      method: 'post',
      path: '/auth/login',
      tags: ['auth'],
      summary: 'Sign in; returns a JWT',
      security: [],
      request: body(Login),
      responses: { 200: json(Session), 400: errors[400], 401: errors[401], 429: errors[429] },
    }),
    async (c) => {
      const input = c.req.valid('json');
      // On a tenant's address only that tenant's accounts sign in; another tenant named there matches no account.
      const hostTenant = c.get('hostTenant');
      if (hostTenant && input.tenant && input.tenant !== hostTenant)
        throw new BackupError('auth', 'wrong email or password');
      const account = await s.signIn.signIn(c, input.email, () =>
        service.login(s.db, input.email, input.password, hostTenant ?? input.tenant),
      );
      if (account instanceof Response) return account as never;
      const { tenant, user } = account;
      c.header('Cache-Control', 'no-store');
      const token = issueToken({ userId: user.id, tenantId: tenant.id, role: user.role }, s.jwtSecret, s.jwtTtlSeconds);
      return c.json({ token, user: userOut(user), tenant: { id: tenant.id, name: tenant.name } }, 200);
    },
  );
}
