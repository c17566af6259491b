// Backup configurations. Each owns one Temporal Schedule; a write succeeds only if both the row and the
// schedule were written (the schedule call runs inside the transaction, so its failure rolls the row back).
import { createRoute, z } from '@hono/zod-openapi';
import { and, eq } from 'drizzle-orm';
import { conflict } from '../../common/errors.ts';
import { DATABASE_NAME_RE, scheduleId, TABLE_NAME_RE } from '../../common/names.ts';
import type { Tx } from '../../db/client.ts';
import { backupConfigs, servers } from '../../db/schema.ts';
import { router, type Services } from '../app.ts';
import { requireRole, type AuthContext } from '../auth.ts';
import { isValidTimeZone } from '../schedules.ts';
import { audit, body, errors, findOwned, IdParam, json, uniqueViolation } from '../schemas.ts';

const Time = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'a time as HH:MM, 24-hour');
const Schedule = z
  .discriminatedUnion('kind', [
    z.object({ kind: z.literal('daily'), time: Time }),
    z.object({ kind: z.literal('biweekly'), time: Time, weekday: z.number().int().min(0).max(6).openapi({ description: '0 = Sunday' }) }),
    z.object({ kind: z.literal('monthly'), time: Time, dayOfMonth: z.number().int().min(1).max(28).openapi({ description: '1-28, so it runs every month' }) }),
    z.object({ kind: z.literal('cron'), expression: z.string().trim().regex(/^\S+(\s+\S+){4}$/, 'five fields: minute hour day-of-month month day-of-week') }),
  ])
  .openapi('Schedule');
const CleanTable = z.object({
  table: z.string().regex(TABLE_NAME_RE, 'a table name, optionally schema-qualified (schema.table)'),
  mode: z.literal('exclude').default('exclude').openapi({ description: 'exclude: the backup keeps the schema, leaves the rows out; the source is untouched' }),
});
const ConfigFields = z.object({
  name: z.string().trim().min(1).max(100),
  databases: z
    .array(z.string().regex(DATABASE_NAME_RE, 'a database name: letters, digits, _ $ -'))
    .min(1)
    .max(50)
    .refine((d) => new Set(d).size === d.length, 'each database once'),
  schedule: Schedule,
  timezone: z.string().refine(isValidTimeZone, 'an IANA time zone such as Europe/Berlin or UTC'),
  cleanTables: z.array(CleanTable).max(100).default([]),
  keepLocal: z.number().int().min(1).max(1000).default(7).openapi({ description: 'copies kept in the site Backups folder' }),
  paused: z.boolean().default(false),
});
const ConfigCreate = ConfigFields.extend({ serverId: z.string().uuid() }).openapi('BackupConfigCreate');
const ConfigPatch = z
  .object({
    name: ConfigFields.shape.name,
    databases: ConfigFields.shape.databases,
    schedule: Schedule,
    timezone: ConfigFields.shape.timezone,
    cleanTables: z.array(CleanTable).max(100),
    keepLocal: z.number().int().min(1).max(1000),
  })
  .partial()
  .openapi('BackupConfigPatch');
const Config = z
  .object({
    id: z.string(), name: z.string(), serverId: z.string(), databases: z.array(z.string()), schedule: Schedule, timezone: z.string(),
    cleanTables: z.array(z.object({ table: z.string(), mode: z.literal('exclude') })), keepLocal: z.number(), paused: z.boolean(),
    scheduleId: z.string(), createdAt: z.string(), updatedAt: z.string(),
  })
  .openapi('BackupConfig');
const ScheduleState = z
  .object({ scheduleId: z.string(), paused: z.boolean(), nextRunTimes: z.array(z.string()), running: z.array(z.string()), recent: z.array(z.object({ workflowId: z.string(), scheduledAt: z.string() })) })
  .openapi('ScheduleState');

type ConfigRow = typeof backupConfigs.$inferSelect;
const configOut = (x: ConfigRow) => ({
  id: x.id, name: x.name, serverId: x.serverId, databases: x.databases, schedule: x.schedule, timezone: x.timezone, cleanTables: x.cleanTables,
  keepLocal: x.keepLocal, paused: x.paused, scheduleId: scheduleId(x.id), createdAt: x.createdAt.toISOString(), updatedAt: x.updatedAt.toISOString(),
});
const duplicate = (err: unknown) => (uniqueViolation(err) ? conflict('a backup configuration with this name exists') : err);

export function configRoutes(s: Services) {
  const r = router();

  /** Writes the schedule for a row about to be committed; throwing rolls the row back. */
  async function syncSchedule(tx: Tx, row: ConfigRow): Promise<void> {
    const [server] = await tx.select().from(servers).where(eq(servers.id, row.serverId));
    await s.schedules.upsert({ ...row, siteId: server!.siteId, serverName: server!.name });
  }

  async function change(auth: AuthContext, id: string, action: string, patch: Partial<ConfigRow>, details?: Record<string, unknown>) {
    return s.db
      .transaction(async (tx) => {
        await findOwned(tx, backupConfigs, id, auth.tenantId, 'backup configuration');
        const [row] = await tx.update(backupConfigs).set({ ...patch, updatedAt: new Date() }).where(eq(backupConfigs.id, id)).returning();
        await audit(tx, auth, action, { type: 'backup_config', id }, details);
        await syncSchedule(tx, row!);
        return row!;
      })
      .catch((e: unknown) => {
        throw duplicate(e);
      });
  }

  r.openapi(
    createRoute({ method: 'get', path: '/configs', tags: ['configs'], request: { query: z.object({ serverId: z.string().uuid().optional() }) }, responses: { 200: json(z.object({ items: z.array(Config) })), 400: errors[400] } }),
    async (c) => {
      const { serverId } = c.req.valid('query');
      const rows = await s.db.select().from(backupConfigs).where(and(eq(backupConfigs.tenantId, c.get('auth').tenantId), serverId ? eq(backupConfigs.serverId, serverId) : undefined)).orderBy(backupConfigs.name);
      return c.json({ items: rows.map(configOut) }, 200);
    },
  );

  r.openapi(
    createRoute({ method: 'post', path: '/configs', tags: ['configs'], summary: 'Create a backup configuration and its schedule', request: body(ConfigCreate), responses: { 201: json(Config), 400: errors[400], 403: errors[403], 404: errors[404], 409: errors[409] } }),
    async (c) => {
      const auth = c.get('auth');
      requireRole(auth, 'admin');
      const input = c.req.valid('json');
      const row = await s.db
        .transaction(async (tx) => {
          await findOwned(tx, servers, input.serverId, auth.tenantId, 'server');
          const [row] = await tx.insert(backupConfigs).values({ ...input, tenantId: auth.tenantId }).returning();
          await audit(tx, auth, 'config.create', { type: 'backup_config', id: row!.id }, { name: row!.name });
          await syncSchedule(tx, row!);
          return row!;
        })
        .catch((e: unknown) => {
          throw duplicate(e);
        });
      return c.json(configOut(row), 201);
    },
  );

  r.openapi(createRoute({ method: 'get', path: '/configs/{id}', tags: ['configs'], request: { params: IdParam }, responses: { 200: json(Config), 404: errors[404] } }), async (c) => {
    return c.json(configOut(await findOwned(s.db, backupConfigs, c.req.valid('param').id, c.get('auth').tenantId, 'backup configuration')), 200);
  });

  r.openapi(
    createRoute({ method: 'get', path: '/configs/{id}/schedule', tags: ['configs'], summary: 'The Temporal schedule: next runs, the run in progress, recent runs', request: { params: IdParam }, responses: { 200: json(ScheduleState), 404: errors[404] } }),
    async (c) => {
      const cfg = await findOwned(s.db, backupConfigs, c.req.valid('param').id, c.get('auth').tenantId, 'backup configuration');
      const state = await s.schedules.describe(cfg.id);
      if (!state) throw conflict('the schedule is missing in Temporal: save the configuration again to recreate it');
      return c.json(state, 200);
    },
  );

  r.openapi(
    createRoute({ method: 'patch', path: '/configs/{id}', tags: ['configs'], summary: 'Change a backup configuration; its schedule follows', request: { params: IdParam, ...body(ConfigPatch) }, responses: { 200: json(Config), 400: errors[400], 403: errors[403], 404: errors[404], 409: errors[409] } }),
    async (c) => {
      const auth = c.get('auth');
      requireRole(auth, 'admin');
      const patch = c.req.valid('json');
      const row = await change(auth, c.req.valid('param').id, 'config.update', patch, { fields: Object.keys(patch) });
      return c.json(configOut(row), 200);
    },
  );

  for (const [verb, paused] of [['pause', true], ['resume', false]] as const) {
    r.openapi(
      createRoute({ method: 'post', path: `/configs/{id}/${verb}`, tags: ['configs'], summary: `${verb === 'pause' ? 'Pause' : 'Resume'} the schedule`, request: { params: IdParam }, responses: { 200: json(Config), 403: errors[403], 404: errors[404] } }),
      async (c) => {
        const auth = c.get('auth');
        requireRole(auth, 'operator');
        return c.json(configOut(await change(auth, c.req.valid('param').id, `config.${verb}`, { paused })), 200);
      },
    );
  }

  r.openapi(
    createRoute({ method: 'post', path: '/configs/{id}/run', tags: ['configs'], summary: 'Run a backup now (skipped with 409 if one is running)', request: { params: IdParam }, responses: { 202: json(z.object({ status: z.literal('started'), scheduleId: z.string() }), 'Started'), 403: errors[403], 404: errors[404], 409: errors[409] } }),
    async (c) => {
      const auth = c.get('auth');
      requireRole(auth, 'operator');
      const cfg = await findOwned(s.db, backupConfigs, c.req.valid('param').id, auth.tenantId, 'backup configuration');
      await s.schedules.runNow(cfg.id);
      await audit(s.db, auth, 'config.run', { type: 'backup_config', id: cfg.id });
      return c.json({ status: 'started' as const, scheduleId: scheduleId(cfg.id) }, 202);
    },
  );

  r.openapi(
    createRoute({ method: 'delete', path: '/configs/{id}', tags: ['configs'], summary: 'Delete a configuration and its schedule; its history stays', request: { params: IdParam }, responses: { 204: { description: 'Deleted' }, 403: errors[403], 404: errors[404] } }),
    async (c) => {
      const auth = c.get('auth');
      requireRole(auth, 'admin');
      const { id } = c.req.valid('param');
      await s.db.transaction(async (tx) => {
        const cfg = await findOwned(tx, backupConfigs, id, auth.tenantId, 'backup configuration');
        await tx.delete(backupConfigs).where(eq(backupConfigs.id, id));
        await audit(tx, auth, 'config.delete', { type: 'backup_config', id }, { name: cfg.name });
        await s.schedules.remove(id);
      });
      return c.body(null, 204);
    },
  );

  return r;
}
