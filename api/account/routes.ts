// Signing up and signing in: the two routes open to anyone. Both answer a session token.
import { createRoute } from '@hono/zod-openapi';
import { issueToken } from '../auth/tokens.ts';
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
      responses: { 201: json(Session, 'Signed up'), 400: errors[400], 409: errors[409] },
    }),
    async (c) => {
      const { tenant, user } = await service.signup(s.db, c.req.valid('json'));
      const token = issueToken({ userId: user.id, tenantId: tenant.id, role: user.role }, s.jwtSecret, s.jwtTtlSeconds);
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
      responses: { 200: json(Session), 400: errors[400], 401: errors[401] },
    }),
    async (c) => {
      const input = c.req.valid('json');
      const { tenant, user } = await service.login(s.db, input.email, input.password);
      const token = issueToken({ userId: user.id, tenantId: tenant.id, role: user.role }, s.jwtSecret, s.jwtTtlSeconds);
      return c.json({ token, user: userOut(user), tenant: { id: tenant.id, name: tenant.name } }, 200);
    },
  );
}
