// Privacy: erase a user or the whole tenant, read an erasure's signed report, export the tenant's metadata.
// `privacyOpenRoutes` need no session (the report outlives every account of the tenant; the key is public);
// `privacyRoutes` are mounted behind the session check.
import { createRoute, z } from '@hono/zod-openapi';
import { BackupError } from '../../common/errors.ts';
import { requireRole } from '../auth/roles.ts';
import { body, errors, IdParam, json } from '../lib/http.ts';
import { router, type Router } from '../lib/router.ts';
import type { Services } from '../lib/services.ts';
import * as service from './service.ts';

const Erased = z.object({ pseudonym: z.string() }).openapi('ErasedUser');
const TenantErase = z
  .object({
    confirm: z
      .string()
      .min(1)
      .max(100)
      .openapi({ description: "The tenant's name, exactly: the erasure cannot be undone" }),
  })
  .strict()
  .openapi('TenantErase');
const ErasureTicket = z
  .object({
    erasureId: z.string(),
    token: z.string().openapi({ description: 'Send as X-Erasure-Token to read the report; shown once' }),
    workflowId: z.string(),
    report: z.string().openapi({ description: 'Where the report is read' }),
  })
  .openapi('ErasureTicket');
const ErasureReport = z
  .object({
    id: z.string(),
    tenantId: z.string(),
    status: z.enum(['running', 'done']),
    requestedAt: z.string(),
    finishedAt: z.string().nullable(),
    algorithm: z.literal('Ed25519'),
    payload: z.string().nullable().openapi({ description: 'The report as signed (JSON text)' }),
    signature: z.string().nullable().openapi({ description: 'Ed25519 signature of payload, base64' }),
    report: z.record(z.string(), z.unknown()).nullable(),
  })
  .openapi('ErasureReport');

export function privacyOpenRoutes(s: Services) {
  const r = router();
  erasureKey(r, s);
  erasureReport(r, s);
  return r;
}

export function privacyRoutes(s: Services) {
  const r = router();
  eraseMe(r, s);
  eraseUser(r, s);
  eraseTenant(r, s);
  exportTenant(r, s);
  return r;
}

function erasureKey(r: Router, s: Services) {
  r.openapi(
    createRoute({
      method: 'get',
      path: '/privacy/erasure-key',
      tags: ['privacy'],
      summary: 'The public key (Ed25519, PEM) that verifies erasure reports',
      security: [],
      responses: {
        200: json(z.object({ algorithm: z.literal('Ed25519'), publicKey: z.string() })),
        404: errors[404],
      },
    }),
    (c) => {
      if (!s.erasurePublicKey)
        throw new BackupError('not_found', 'this platform signs no erasure reports (ERASURE_SIGNING_KEY_FILE unset)');
      return c.json({ algorithm: 'Ed25519' as const, publicKey: s.erasurePublicKey }, 200);
    },
  );
}

function erasureReport(r: Router, s: Services) {
  r.openapi(
    createRoute({
      method: 'get',
      path: '/privacy/erasures/{id}',
      tags: ['privacy'],
      summary: "An erasure's state and, once done, its signed report (X-Erasure-Token: the token of the request)",
      security: [],
      request: { params: IdParam },
      responses: { 200: json(ErasureReport), 401: errors[401] },
    }),
    async (c) => {
      const report = await service.erasureReport(s, c.req.valid('param').id, c.req.header('x-erasure-token'));
      c.header('Cache-Control', 'no-store');
      return c.json(report, 200);
    },
  );
}

function eraseMe(r: Router, s: Services) {
  r.openapi(
    createRoute({
      method: 'post',
      path: '/me/erase',
      tags: ['privacy'],
      summary: 'Erase your own account: your audit entries are pseudonymised, your sessions end',
      responses: { 200: json(Erased), 401: errors[401], 409: errors[409] },
    }),
    async (c) => {
      const auth = c.get('auth');
      return c.json(await service.eraseUser(s, auth, auth.userId), 200);
    },
  );
}

function eraseUser(r: Router, s: Services) {
  r.openapi(
    createRoute({
      method: 'post',
      path: '/users/{id}/erase',
      tags: ['privacy'],
      summary: 'Erase a user (admin; owner for an owner): audit entries pseudonymised, sessions ended',
      request: { params: IdParam },
      responses: { 200: json(Erased), 403: errors[403], 404: errors[404], 409: errors[409] },
    }),
    async (c) => {
      const auth = c.get('auth');
      requireRole(auth, 'admin');
      return c.json(await service.eraseUser(s, auth, c.req.valid('param').id), 200);
    },
  );
}

function eraseTenant(r: Router, s: Services) {
  r.openapi(
    createRoute({
      method: 'post',
      path: '/tenant/erase',
      tags: ['privacy'],
      summary: 'Erase the tenant (owner): every backup copy, schedule, run and row; answers the report token',
      request: body(TenantErase),
      responses: { 202: json(ErasureTicket), 400: errors[400], 403: errors[403], 409: errors[409] },
    }),
    async (c) => {
      const ticket = await service.requestTenantErasure(s, c.get('auth'), c.req.valid('json').confirm);
      c.header('Cache-Control', 'no-store');
      return c.json({ ...ticket, report: `/api/v1/privacy/erasures/${ticket.erasureId}` }, 202);
    },
  );
}

function exportTenant(r: Router, s: Services) {
  r.openapi(
    createRoute({
      method: 'get',
      path: '/tenant/export',
      tags: ['privacy'],
      summary: "The tenant's metadata as JSON (admin): no password hashes, keys or secrets, no backup data",
      responses: { 200: json(z.record(z.string(), z.unknown())), 403: errors[403] },
    }),
    async (c) => {
      const auth = c.get('auth');
      requireRole(auth, 'admin');
      c.header('Content-Disposition', `attachment; filename="tenant-${auth.tenantId}.json"`);
      c.header('Cache-Control', 'no-store');
      return c.json(await service.exportTenant(s, auth.tenantId), 200);
    },
  );
}
