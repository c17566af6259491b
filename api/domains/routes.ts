// A tenant's addresses: the one it got at sign-up, and its own domains proven by DNS (admins only).
import { createRoute } from '@hono/zod-openapi';
import { requireRole } from '../auth/roles.ts';
import { body, errors, IdParam, json } from '../lib/http.ts';
import { router, type Router } from '../lib/router.ts';
import type { Services } from '../lib/services.ts';
import { get as getTenant } from '../tenant/service.ts';
import { Domain, DomainInput, domainOut, Domains } from './schemas.ts';
import * as service from './service.ts';

export function domainRoutes(s: Services) {
  const r = router();
  list(r, s);
  claimAndVerify(r, s);
  return r;
}

function list(r: Router, s: Services) {
  r.openapi(
    createRoute({
      method: 'get',
      path: '/tenant/domains',
      tags: ['tenant'],
      summary: "The tenant's address under BASE_DOMAIN and its own domains, each with the TXT record that proves it",
      responses: { 200: json(Domains), 403: errors[403] },
    }),
    async (c) => {
      const auth = c.get('auth');
      requireRole(auth, 'admin');
      const [tenant, rows] = await Promise.all([getTenant(s.db, auth.tenantId), service.list(s.db, auth.tenantId)]);
      return c.json({ address: s.hosts.addressOf(tenant.slug), items: rows.map(domainOut) }, 200);
    },
  );
  r.openapi(
    createRoute({
      method: 'delete',
      path: '/tenant/domains/{id}',
      tags: ['tenant'],
      summary: 'Give a domain up: it no longer leads to the tenant',
      request: { params: IdParam },
      responses: { 204: { description: 'Removed' }, 403: errors[403], 404: errors[404] },
    }),
    async (c) => {
      const auth = c.get('auth');
      requireRole(auth, 'admin');
      await service.remove(s.db, s.hosts, auth, c.req.valid('param').id);
      return c.body(null, 204);
    },
  );
}

function claimAndVerify(r: Router, s: Services) {
  r.openapi(
    createRoute({
      method: 'post',
      path: '/tenant/domains',
      tags: ['tenant'],
      summary: 'Claim a domain; answers the TXT record that proves it is yours',
      request: body(DomainInput),
      responses: { 201: json(Domain), 400: errors[400], 403: errors[403], 409: errors[409] },
    }),
    async (c) => {
      const auth = c.get('auth');
      requireRole(auth, 'admin');
      return c.json(domainOut(await service.claim(s.db, s.hosts, auth, c.req.valid('json').domain)), 201);
    },
  );
  r.openapi(
    createRoute({
      method: 'post',
      path: '/tenant/domains/{id}/verify',
      tags: ['tenant'],
      summary: 'Look the TXT record up; once found the domain leads to this tenant',
      request: { params: IdParam },
      responses: { 200: json(Domain), 403: errors[403], 404: errors[404], 409: errors[409] },
    }),
    async (c) => {
      const auth = c.get('auth');
      requireRole(auth, 'admin');
      const row = await service.verify(s.db, s.hosts, s.resolveTxt ?? service.systemTxt, auth, c.req.valid('param').id);
      return c.json(domainOut(row), 200);
    },
  );
}
