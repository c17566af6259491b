// Backup history: one row per database per run, newest first, filtered and paginated with a keyset cursor; a
// backup's copies; and its download (streamed, or a short-lived presigned URL of an S3 copy).
import { createRoute, z } from '@hono/zod-openapi';
import { backups } from '../../db/schema.ts';
import { errors, IdParam, json } from '../lib/http.ts';
import { router, type Router } from '../lib/router.ts';
import type { Services } from '../lib/services.ts';
import { findOwned } from '../lib/tenancy.ts';
import { BackupListing } from './listing.ts';
import { Backup, backupOut, Copy, DownloadUrl, Query } from './schemas.ts';
import * as service from './service.ts';

export function backupRoutes(s: Services) {
  const r = router();
  list(r, s);
  get(r, s);
  copies(r, s);
  download(r, s);
  downloadUrl(r, s);
  return r;
}

function list(r: Router, s: Services) {
  const listing = new BackupListing(s.db);
  r.openapi(
    createRoute({
      method: 'get',
      path: '/backups',
      tags: ['backups'],
      summary: 'Backup history, newest first',
      request: { query: Query },
      responses: {
        200: json(z.object({ items: z.array(Backup), nextCursor: z.string().nullable() }).openapi('BackupPage')),
        400: errors[400],
      },
    }),
    async (c) => {
      const tenantId = c.get('auth').tenantId;
      const query = c.req.url.indexOf('?');
      const key = `${tenantId}${query < 0 ? '' : c.req.url.slice(query)}`;
      const body = await listing.page(tenantId, c.req.valid('query'), key);
      return c.body(body, 200, { 'content-type': 'application/json' }) as never;
    },
  );
}

function get(r: Router, s: Services) {
  r.openapi(
    createRoute({
      method: 'get',
      path: '/backups/{id}',
      tags: ['backups'],
      request: { params: IdParam },
      responses: { 200: json(Backup), 404: errors[404] },
    }),
    async (c) => {
      return c.json(
        backupOut(await findOwned(s.db, backups, c.req.valid('param').id, c.get('auth').tenantId, 'backup')),
        200,
      );
    },
  );
}

function copies(r: Router, s: Services) {
  r.openapi(
    createRoute({
      method: 'get',
      path: '/backups/{id}/copies',
      tags: ['backups'],
      summary: 'Every copy of a backup (site, destinations), its state and what happened to it',
      request: { params: IdParam },
      responses: { 200: json(z.object({ items: z.array(Copy) })), 404: errors[404] },
    }),
    async (c) => {
      const b = await findOwned(s.db, backups, c.req.valid('param').id, c.get('auth').tenantId, 'backup');
      return c.json({ items: await service.copies(s.db, b) }, 200);
    },
  );
}

function download(r: Router, s: Services) {
  r.openapi(
    createRoute({
      method: 'get',
      path: '/backups/{id}/download',
      tags: ['backups'],
      summary:
        'The backup file, streamed from its best stored copy (the site first); its SHA-256 is in X-Backup-SHA256 and Repr-Digest',
      request: { params: IdParam },
      responses: {
        200: {
          description: 'The backup file',
          content: { 'application/octet-stream': { schema: z.string().openapi({ format: 'binary' }) } },
        },
        404: errors[404],
        409: errors[409],
      },
    }),
    async (c) => {
      const b = await findOwned(s.db, backups, c.req.valid('param').id, c.get('auth').tenantId, 'backup');
      const sent = await service.download(s, b);
      const digest = Buffer.from(sent.sha256, 'hex').toString('base64');
      return new Response(sent.body, {
        status: 200,
        headers: {
          'content-type': 'application/octet-stream',
          'content-length': String(sent.sizeBytes),
          'content-disposition': `attachment; filename="${sent.fileName}"`,
          'x-backup-sha256': sent.sha256,
          'repr-digest': `sha-256=:${digest}:`,
          'x-backup-copy': sent.target,
        },
      });
    },
  );
}

/** Long enough to start a download, short enough that a leaked link is soon worthless. */
const DOWNLOAD_URL_SECONDS = 300;

function downloadUrl(r: Router, s: Services) {
  r.openapi(
    createRoute({
      method: 'get',
      path: '/backups/{id}/download-url',
      tags: ['backups'],
      summary:
        "A presigned URL of an S3 copy, valid for 5 minutes, signed with the destination's delegated read-only key (CLOUD_READ_FILE); works with the site offline",
      request: { params: IdParam },
      responses: { 200: json(DownloadUrl), 404: errors[404], 409: errors[409] },
    }),
    async (c) => {
      const b = await findOwned(s.db, backups, c.req.valid('param').id, c.get('auth').tenantId, 'backup');
      return c.json(await service.downloadUrl(s, b, DOWNLOAD_URL_SECONDS), 200);
    },
  );
}
