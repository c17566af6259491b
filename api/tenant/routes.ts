// The caller's tenant: its settings, its users and its audit log.
import { createRoute, z } from '@hono/zod-openapi';
import { users } from '../../db/schema.ts';
import { userOut, UserOut } from '../account/schemas.ts';
import { requireRole } from '../auth/roles.ts';
import { body, errors, IdParam, iso, json } from '../lib/http.ts';
import { router, type Router } from '../lib/router.ts';
import type { Services } from '../lib/services.ts';
import { findOwned } from '../lib/tenancy.ts';
import { AuditEntry, Tenant, tenantOut, TenantPatch, UserCreate, UserPatch } from './schemas.ts';
import * as service from './service.ts';

export function tenantRoutes(s: Services) {
  const r = router();
  me(r, s);
  getTenant(r, s);
  updateTenant(r, s);
  listUsers(r, s);
  createUser(r, s);
  changeRole(r, s);
  removeUser(r, s);
  auditLog(r, s);
  return r;
}

function me(r: Router, s: Services) {
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
}

function getTenant(r: Router, s: Services) {
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
      return c.json(tenantOut(await service.get(s.db, auth.tenantId), auth), 200);
    },
  );
}

function updateTenant(r: Router, s: Services) {
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
      return c.json(tenantOut(await service.update(s.db, auth, c.req.valid('json')), auth), 200);
    },
  );
}

function listUsers(r: Router, s: Services) {
  r.openapi(
    createRoute({
      method: 'get',
      path: '/users',
      tags: ['users'],
      summary: 'Users of your tenant',
      responses: { 200: json(z.object({ items: z.array(UserOut) })) },
    }),
    async (c) => {
      const rows = await service.listUsers(s.db, c.get('auth').tenantId);
      return c.json({ items: rows.map(userOut) }, 200);
    },
  );
}

function createUser(r: Router, s: Services) {
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
      return c.json(userOut(await service.createUser(s.db, auth, input)), 201);
    },
  );
}

function changeRole(r: Router, s: Services) {
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
      const user = await service.changeRole(s.db, auth, id, c.req.valid('json').role);
      s.roles.forget(auth.tenantId, id);
      return c.json(userOut(user), 200);
    },
  );
}

function removeUser(r: Router, s: Services) {
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
      await service.removeUser(s.db, auth, id);
      s.roles.forget(auth.tenantId, id);
      return c.body(null, 204);
    },
  );
}

function auditLog(r: Router, s: Services) {
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
      const rows = await service.auditEntries(s.db, auth.tenantId, c.req.valid('query').limit);
      return c.json({ items: rows.map((a) => ({ ...a, at: iso(a.at)! })) }, 200);
    },
  );
}
