// Backup configurations: what to back up, when and where to; each change reaches its Temporal schedules (service.ts).
import { createRoute, z } from '@hono/zod-openapi';
import { conflict } from '../../common/errors.ts';
import { scheduleId } from '../../common/names.ts';
import { backupConfigs } from '../../db/schema.ts';
import { requireRole } from '../auth/roles.ts';
import { body, errors, IdParam, json } from '../lib/http.ts';
import { router, type Router } from '../lib/router.ts';
import type { Services } from '../lib/services.ts';
import { findOwned } from '../lib/tenancy.ts';
import { DryRunReport, parseRunInput, PreviewInput, RetentionPreview } from './run-schemas.ts';
import { Config, ConfigCreate, configOut, ConfigPatch, ScheduleState } from './schemas.ts';
import * as service from './service.ts';
import { reconcileSchedule } from './drift.ts';

export function configRoutes(s: Services) {
  const r = router();
  list(r, s);
  create(r, s);
  get(r, s);
  schedule(r, s);
  update(r, s);
  pauseAndResume(r, s);
  run(r, s);
  retentionPreview(r, s);
  prune(r, s);
  remove(r, s);
  return r;
}

const owned = (s: Services, id: string, tenantId: string) =>
  findOwned(s.db, backupConfigs, id, tenantId, 'backup configuration');

function list(r: Router, s: Services) {
  r.openapi(
    createRoute({
      method: 'get',
      path: '/configs',
      tags: ['configs'],
      request: { query: z.object({ serverId: z.string().uuid().optional() }) },
      responses: { 200: json(z.object({ items: z.array(Config) })), 400: errors[400] },
    }),
    async (c) => {
      const rows = await service.list(s.db, c.get('auth').tenantId, c.req.valid('query').serverId);
      return c.json({ items: rows.map(configOut) }, 200);
    },
  );
}

function create(r: Router, s: Services) {
  r.openapi(
    createRoute({
      method: 'post',
      path: '/configs',
      tags: ['configs'],
      summary: 'Create a backup configuration and its schedule',
      request: body(ConfigCreate),
      responses: { 201: json(Config), 400: errors[400], 403: errors[403], 404: errors[404], 409: errors[409] },
    }),
    async (c) => {
      const auth = c.get('auth');
      requireRole(auth, 'admin');
      return c.json(configOut(await service.create(s, auth, c.req.valid('json'))), 201);
    },
  );
}

function get(r: Router, s: Services) {
  r.openapi(
    createRoute({
      method: 'get',
      path: '/configs/{id}',
      tags: ['configs'],
      request: { params: IdParam },
      responses: { 200: json(Config), 404: errors[404] },
    }),
    async (c) => {
      const { row } = await reconcileSchedule(s, await owned(s, c.req.valid('param').id, c.get('auth').tenantId));
      return c.json(configOut(row), 200);
    },
  );
}

function schedule(r: Router, s: Services) {
  r.openapi(
    createRoute({
      method: 'get',
      path: '/configs/{id}/schedule',
      tags: ['configs'],
      summary: 'The Temporal schedule: next runs, the run in progress, recent runs',
      request: { params: IdParam },
      responses: { 200: json(ScheduleState), 404: errors[404] },
    }),
    async (c) => {
      const cfg = await owned(s, c.req.valid('param').id, c.get('auth').tenantId);
      const { found } = await reconcileSchedule(s, cfg);
      const state = await s.schedules.describe(cfg.id);
      if (!state) throw conflict('the schedule is missing in Temporal: save the configuration again to recreate it');
      return c.json({ ...state, found }, 200);
    },
  );
}

function update(r: Router, s: Services) {
  r.openapi(
    createRoute({
      method: 'patch',
      path: '/configs/{id}',
      tags: ['configs'],
      summary: 'Change a backup configuration; its schedule follows',
      request: { params: IdParam, ...body(ConfigPatch) },
      responses: { 200: json(Config), 400: errors[400], 403: errors[403], 404: errors[404], 409: errors[409] },
    }),
    async (c) => {
      const auth = c.get('auth');
      requireRole(auth, 'admin');
      const patch = c.req.valid('json');
      const id = c.req.valid('param').id;
      const row = await service.change(s, auth, id, 'config.update', patch, { fields: Object.keys(patch) });
      return c.json(configOut(row), 200);
    },
  );
}

function pauseAndResume(r: Router, s: Services) {
  for (const [verb, paused] of [
    ['pause', true],
    ['resume', false],
  ] as const) {
    r.openapi(
      createRoute({
        method: 'post',
        path: `/configs/{id}/${verb}`,
        tags: ['configs'],
        summary: `${verb === 'pause' ? 'Pause' : 'Resume'} the schedule`,
        request: { params: IdParam },
        responses: { 200: json(Config), 403: errors[403], 404: errors[404] },
      }),
      async (c) => {
        const auth = c.get('auth');
        requireRole(auth, 'operator');
        const row = await service.change(s, auth, c.req.valid('param').id, `config.${verb}`, { paused });
        return c.json(configOut(row), 200);
      },
    );
  }
}

function run(r: Router, s: Services) {
  r.openapi(
    createRoute({
      method: 'post',
      path: '/configs/{id}/run',
      tags: ['configs'],
      summary: 'Run a backup now (409 if one is running), or a dry run that answers its report',
      // The body is optional and parsed below: a bare POST (with or without a JSON content type) runs a backup.
      request: { params: IdParam },
      responses: {
        200: json(DryRunReport, 'The dry run report'),
        202: json(z.object({ status: z.literal('started'), scheduleId: z.string() }), 'Started'),
        400: errors[400],
        403: errors[403],
        404: errors[404],
        409: errors[409],
      },
    }),
    async (c) => {
      const auth = c.get('auth');
      requireRole(auth, 'operator');
      const cfg = await owned(s, c.req.valid('param').id, auth.tenantId);
      const { dryRun } = parseRunInput(await c.req.text());
      if (dryRun) return c.json(await service.dryRun(s, auth, cfg), 200);
      await service.runNow(s, auth, cfg);
      return c.json({ status: 'started' as const, scheduleId: scheduleId(cfg.id) }, 202);
    },
  );
}

function retentionPreview(r: Router, s: Services) {
  r.openapi(
    createRoute({
      method: 'post',
      path: '/configs/{id}/retention-preview',
      tags: ['configs'],
      summary: 'What a retention policy would delete now, before it is saved',
      request: { params: IdParam, ...body(PreviewInput) },
      responses: { 200: json(RetentionPreview), 400: errors[400], 404: errors[404] },
    }),
    async (c) => {
      const auth = c.get('auth');
      const cfg = await owned(s, c.req.valid('param').id, auth.tenantId);
      return c.json(await service.retentionPreview(s.db, auth, cfg, c.req.valid('json')), 200);
    },
  );
}

function prune(r: Router, s: Services) {
  r.openapi(
    createRoute({
      method: 'post',
      path: '/configs/{id}/prune',
      tags: ['configs'],
      summary: 'Apply the retention of every target now (each run also does after its backup)',
      request: { params: IdParam },
      responses: { 202: json(z.object({ workflowId: z.string() }), 'Started'), 403: errors[403], 404: errors[404] },
    }),
    async (c) => {
      const auth = c.get('auth');
      requireRole(auth, 'admin'); // it deletes backups: a change, not an operation
      const cfg = await owned(s, c.req.valid('param').id, auth.tenantId);
      return c.json({ workflowId: await service.prune(s, auth, cfg) }, 202);
    },
  );
}

function remove(r: Router, s: Services) {
  r.openapi(
    createRoute({
      method: 'delete',
      path: '/configs/{id}',
      tags: ['configs'],
      summary: 'Delete a configuration and its schedule; its history stays',
      request: { params: IdParam },
      responses: { 204: { description: 'Deleted' }, 403: errors[403], 404: errors[404] },
    }),
    async (c) => {
      const auth = c.get('auth');
      requireRole(auth, 'admin');
      await service.remove(s, auth, c.req.valid('param').id);
      return c.body(null, 204);
    },
  );
}
