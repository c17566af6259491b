// Backup configurations. Each owns one Temporal Schedule (and one each for verification and drills); a write succeeds
// only if the row and every schedule were written: the schedule calls run inside the transaction, so their failure
// rolls the row back, and a failure after some schedule was written takes those writes back (ScheduleWrites).
import { createRoute, z } from '@hono/zod-openapi';
import { and, eq } from 'drizzle-orm';
import { conflict, invalid } from '../../common/errors.ts';
import { DATABASE_NAME_RE, scheduleId, TABLE_NAME_RE } from '../../common/names.ts';
import type { Tx } from '../../db/client.ts';
import {
  COMPRESSIONS,
  DEFAULT_COMPRESSION,
  SITE_TARGET,
  type Compression,
  type ConfigDestination,
} from '../../common/model.ts';
import { backupConfigs, destinations, servers } from '../../db/schema.ts';
import { describePolicy, RetentionPolicySchema } from '../../common/retention.ts';
import { planTargetRetention } from '../../db/retention.ts';

import { router } from '../lib/router.ts';
import type { Services } from '../lib/services.ts';
import { requireRole } from '../auth/roles.ts';
import type { AuthContext } from '../auth/tokens.ts';
import { cronProblem, isValidTimeZone } from '../../common/schedule.ts';
import { withScheduleWrites, type ScheduleWrites } from '../temporal/schedule-writes.ts';
import { uniqueViolation } from '../lib/errors.ts';
import { body, errors, IdParam, json } from '../lib/http.ts';
import { audit, findOwned } from '../lib/tenancy.ts';

const Time = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'a time as HH:MM, 24-hour');
const Schedule = z
  .discriminatedUnion('kind', [
    z.object({ kind: z.literal('daily'), time: Time }).strict(),
    z
      .object({
        kind: z.literal('biweekly'),
        time: Time,
        weekday: z.number().int().min(0).max(6).openapi({ description: '0 = Sunday' }),
      })
      .strict(),
    z
      .object({
        kind: z.literal('monthly'),
        time: Time,
        dayOfMonth: z.number().int().min(1).max(28).openapi({ description: '1-28, so it runs every month' }),
      })
      .strict(),
    z
      .object({
        kind: z.literal('cron'),
        expression: z
          .string()
          .trim()
          .superRefine((e, ctx) => {
            const problem = cronProblem(e);
            if (problem) ctx.addIssue({ code: 'custom', message: problem });
          }),
      })
      .strict(),
  ])
  .openapi('Schedule');
const TableName = z.string().regex(TABLE_NAME_RE, 'a table name, optionally schema-qualified (schema.table)');
const CleanTable = z
  .preprocess(
    // `mode` may be left out: excluding the data is the default, and the only mode that touches nothing.
    (v) => (v && typeof v === 'object' && !('mode' in v) ? { ...v, mode: 'exclude' } : v),
    z.discriminatedUnion('mode', [
      z
        .object({ table: TableName, mode: z.literal('exclude') })
        .strict()
        .openapi({ description: 'the backup keeps the schema, leaves the rows out; the source is untouched' }),
      z
        .object({ table: TableName, mode: z.literal('truncate') })
        .strict()
        .openapi({ description: 'empties the table at the source before the dump (needs confirmDestructiveCleaning)' }),
      z
        .object({
          table: TableName,
          mode: z.literal('deleteOlderThan'),
          column: z.string().regex(/^[A-Za-z_][A-Za-z0-9_$]{0,62}$/, 'a column name'),
          days: z.number().int().min(1).max(36500),
        })
        .strict()
        .openapi({
          description:
            'deletes source rows whose column is older than days days, before the dump (needs confirmDestructiveCleaning)',
        }),
    ]),
  )
  .openapi('CleanTable');
const CompressionSchema = z
  .object({
    algorithm: z.enum(COMPRESSIONS),
    level: z.number().int(),
    long: z.boolean().optional().openapi({
      description:
        "zstd's long-distance matching (default on for zstd): finds values repeated up to 64 MiB apart; more CPU, smaller files",
    }),
  })
  .strict()
  .superRefine((c, ctx) => {
    const [min, max] = c.algorithm === 'gzip' ? [1, 9] : [1, 19];
    if (c.level < min || c.level > max)
      ctx.addIssue({ code: 'custom', path: ['level'], message: `${c.algorithm} levels are ${min} to ${max}` });
    if (c.long && c.algorithm !== 'zstd')
      ctx.addIssue({ code: 'custom', path: ['long'], message: 'long-distance matching is a zstd setting' });
  })
  .transform((c): Compression =>
    c.algorithm === 'zstd' ? { ...c, long: c.long ?? true } : { algorithm: c.algorithm, level: c.level },
  )
  .openapi('Compression');
const Retention = RetentionPolicySchema.openapi('RetentionPolicy', {
  description:
    'keep the newest keepLast, and the newest backup of each of the last daily days, weekly ISO weeks, monthly months, yearly years (in the configuration time zone)',
});
const ConfigDestinationSchema = z
  .object({ destinationId: z.string().uuid(), retention: Retention })
  .strict()
  .openapi('ConfigDestination');
const Destinations = z
  .array(ConfigDestinationSchema)
  .max(10)
  .refine((d) => new Set(d.map((x) => x.destinationId)).size === d.length, 'each destination once');
const Verification = z
  .object({ schedule: Schedule })
  .strict()
  .nullable()
  .openapi('Verification', { description: 'read every copy back end to end on this schedule' });
const Drill = z
  .object({
    schedule: Schedule,
    tolerancePercent: z
      .number()
      .min(0)
      .max(100)
      .default(0)
      .openapi({ description: 'how far a restored table row count may differ from the count at backup time' }),
    assertions: z
      .array(z.string().trim().min(1).max(2000))
      .max(20)
      .default([])
      .openapi({ description: 'SQL run read-only in the restored database; each must return true' }),
  })
  .strict()
  .nullable()
  .openapi('Drill', {
    description: 'restore the newest backup into a scratch database and check it, on this schedule',
  });
const ConfigFields = z.object({
  name: z.string().trim().min(1).max(100),
  databases: z
    .array(
      z
        .string()
        .regex(DATABASE_NAME_RE, 'a database name: letters, digits, _ $ - . (a SQLite database is its file name)'),
    )
    .min(1)
    .max(50)
    .refine((d) => new Set(d).size === d.length, 'each database once'),
  schedule: Schedule,
  timezone: z.string().refine(isValidTimeZone, 'an IANA time zone such as Europe/Berlin or UTC'),
  cleanTables: z.array(CleanTable).max(100).default([]),
  confirmDestructiveCleaning: z
    .boolean()
    .default(false)
    .openapi({ description: 'required for truncate and deleteOlderThan: they delete rows at the source' }),
  compression: CompressionSchema.default(DEFAULT_COMPRESSION),
  encrypt: z.boolean().default(false).openapi({
    description: 'AES-256-GCM with a fresh key per backup, wrapped by the tenant key in the site configuration',
  }),
  verification: Verification.default(null),
  drill: Drill.default(null),
  keepLocal: z
    .number()
    .int()
    .min(1)
    .max(1000)
    .default(7)
    .openapi({ description: 'copies kept in the site Backups folder' }),
  destinations: Destinations.default([]).openapi({
    description: 'off-site copies: one upload per destination after each backup, each with its own retention',
  }),
  paused: z.boolean().default(false),
});
const ConfigCreate = ConfigFields.extend({ serverId: z.string().uuid() }).strict().openapi('BackupConfigCreate');
const ConfigPatch = z
  .object({
    name: ConfigFields.shape.name,
    databases: ConfigFields.shape.databases,
    schedule: Schedule,
    timezone: ConfigFields.shape.timezone,
    cleanTables: z.array(CleanTable).max(100),
    confirmDestructiveCleaning: z.boolean(),
    compression: CompressionSchema,
    encrypt: z.boolean(),
    verification: Verification,
    drill: Drill,
    keepLocal: z.number().int().min(1).max(1000),
    destinations: Destinations,
  })
  .partial()
  // An unknown key (`paused`, a typo) would be dropped and the PATCH answer 200 having changed nothing: it is refused,
  // here and inside the schedule, compression, drill and the rest (on create too).
  .strict()
  .openapi('BackupConfigPatch');
const Config = z
  .object({
    id: z.string(),
    name: z.string(),
    serverId: z.string(),
    databases: z.array(z.string()),
    schedule: Schedule,
    timezone: z.string(),
    cleanTables: z.array(CleanTable),
    confirmDestructiveCleaning: z.boolean(),
    compression: CompressionSchema,
    encrypt: z.boolean(),
    verification: Verification,
    drill: Drill,
    keepLocal: z.number(),
    destinations: z.array(ConfigDestinationSchema),
    paused: z.boolean(),
    scheduleId: z.string(),
    createdAt: z.string(),
    updatedAt: z.string(),
  })
  .openapi('BackupConfig');
const ScheduleState = z
  .object({
    scheduleId: z.string(),
    paused: z.boolean(),
    nextRunTimes: z.array(z.string()),
    running: z.array(z.string()),
    recent: z.array(z.object({ workflowId: z.string(), scheduledAt: z.string() })),
  })
  .openapi('ScheduleState');

type ConfigRow = typeof backupConfigs.$inferSelect;
const configOut = (x: ConfigRow) => ({
  id: x.id,
  name: x.name,
  serverId: x.serverId,
  databases: x.databases,
  schedule: x.schedule,
  timezone: x.timezone,
  cleanTables: x.cleanTables,
  confirmDestructiveCleaning: x.confirmDestructiveCleaning,
  compression: x.compression,
  encrypt: x.encrypt,
  verification: x.verification ?? null,
  drill: x.drill ?? null,
  keepLocal: x.keepLocal,
  destinations: x.destinations,
  paused: x.paused,
  scheduleId: scheduleId(x.id),
  createdAt: x.createdAt.toISOString(),
  updatedAt: x.updatedAt.toISOString(),
});
const duplicate = (err: unknown) =>
  uniqueViolation(err) ? conflict('a backup configuration with this name exists') : err;

export function configRoutes(s: Services) {
  const r = router();

  /** Writes the schedules for a row about to be committed; throwing rolls the row back. */
  async function syncSchedule(tx: Tx, row: ConfigRow, writes: ScheduleWrites): Promise<void> {
    const [server] = await tx.select().from(servers).where(eq(servers.id, row.serverId));
    await checkDestinations(tx, row.destinations, server!.siteId, row.tenantId);
    const destructive = row.cleanTables.filter((t) => t.mode !== 'exclude');
    if (destructive.length > 0 && !row.confirmDestructiveCleaning) {
      throw invalid(
        `${destructive.map((t) => `${t.table} (${t.mode})`).join(', ')} would delete rows at the source before each backup: set confirmDestructiveCleaning to true to allow it`,
        'confirmDestructiveCleaning',
      );
    }
    await s.schedules.upsert({ ...row, siteId: server!.siteId, serverName: server!.name }, writes);
    await s.schedules.upsertChecks({ ...row, siteId: server!.siteId, serverName: server!.name }, writes);
  }

  /** A configuration's transaction with its schedule writes, put back if anything fails (`withScheduleWrites`). */
  const withSchedules = <T>(
    configId: string | undefined,
    work: (tx: Tx, writes: ScheduleWrites) => Promise<T>,
  ): Promise<T> =>
    withScheduleWrites(s.db, s.logger, { config_id: configId }, work).catch((err: unknown) => {
      throw duplicate(err);
    });

  /** A configuration sends copies only to destinations of the site its server is at: that site holds their secrets. */
  async function checkDestinations(
    tx: Tx,
    wanted: ConfigDestination[],
    siteId: string,
    tenantId: string,
  ): Promise<void> {
    for (const [i, d] of wanted.entries()) {
      const [row] = await tx
        .select()
        .from(destinations)
        .where(and(eq(destinations.id, d.destinationId), eq(destinations.tenantId, tenantId)));
      if (!row) throw invalid('no such destination in your tenant', `destinations.${i}.destinationId`);
      if (row.siteId !== siteId)
        throw invalid(
          `destination '${row.name}' belongs to another site than the server: the server's site sends the copies`,
          `destinations.${i}.destinationId`,
        );
    }
  }

  async function change(
    auth: AuthContext,
    id: string,
    action: string,
    patch: Partial<ConfigRow>,
    details?: Record<string, unknown>,
  ) {
    return withSchedules(id, async (tx, writes) => {
      await findOwned(tx, backupConfigs, id, auth.tenantId, 'backup configuration');
      const [row] = await tx
        .update(backupConfigs)
        .set({ ...patch, updatedAt: new Date() })
        .where(eq(backupConfigs.id, id))
        .returning();
      await audit(tx, auth, action, { type: 'backup_config', id }, details);
      await syncSchedule(tx, row!, writes);
      return row!;
    });
  }

  r.openapi(
    createRoute({
      method: 'get',
      path: '/configs',
      tags: ['configs'],
      request: { query: z.object({ serverId: z.string().uuid().optional() }) },
      responses: { 200: json(z.object({ items: z.array(Config) })), 400: errors[400] },
    }),
    async (c) => {
      const { serverId } = c.req.valid('query');
      const rows = await s.db
        .select()
        .from(backupConfigs)
        .where(
          and(
            eq(backupConfigs.tenantId, c.get('auth').tenantId),
            serverId ? eq(backupConfigs.serverId, serverId) : undefined,
          ),
        )
        .orderBy(backupConfigs.name);
      return c.json({ items: rows.map(configOut) }, 200);
    },
  );

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
      const input = c.req.valid('json');
      const row = await withSchedules(undefined, async (tx, writes) => {
        await findOwned(tx, servers, input.serverId, auth.tenantId, 'server');
        const [row] = await tx
          .insert(backupConfigs)
          .values({ ...input, tenantId: auth.tenantId })
          .returning();
        await audit(tx, auth, 'config.create', { type: 'backup_config', id: row!.id }, { name: row!.name });
        await syncSchedule(tx, row!, writes);
        return row!;
      });
      return c.json(configOut(row), 201);
    },
  );

  r.openapi(
    createRoute({
      method: 'get',
      path: '/configs/{id}',
      tags: ['configs'],
      request: { params: IdParam },
      responses: { 200: json(Config), 404: errors[404] },
    }),
    async (c) => {
      return c.json(
        configOut(
          await findOwned(s.db, backupConfigs, c.req.valid('param').id, c.get('auth').tenantId, 'backup configuration'),
        ),
        200,
      );
    },
  );

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
      const cfg = await findOwned(
        s.db,
        backupConfigs,
        c.req.valid('param').id,
        c.get('auth').tenantId,
        'backup configuration',
      );
      const state = await s.schedules.describe(cfg.id);
      if (!state) throw conflict('the schedule is missing in Temporal: save the configuration again to recreate it');
      return c.json(state, 200);
    },
  );

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
      const row = await change(auth, c.req.valid('param').id, 'config.update', patch, { fields: Object.keys(patch) });
      return c.json(configOut(row), 200);
    },
  );

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
        return c.json(configOut(await change(auth, c.req.valid('param').id, `config.${verb}`, { paused })), 200);
      },
    );
  }

  const RunInput = z
    .object({
      dryRun: z
        .boolean()
        .default(false)
        .openapi({ description: 'check everything a backup needs and store nothing; answers the report' }),
    })
    .openapi('RunInput');
  const DryRunReport = z
    .object({
      ok: z.boolean(),
      estimatedBytes: z.number(),
      estimatedSeconds: z.number(),
      freeBytes: z.number(),
      checks: z.array(z.object({ name: z.string(), ok: z.boolean(), detail: z.string() })),
      workflowId: z.string(),
    })
    .openapi('DryRunReport');
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
      const cfg = await findOwned(s.db, backupConfigs, c.req.valid('param').id, auth.tenantId, 'backup configuration');
      const text = await c.req.text();
      let raw: unknown = {};
      try {
        raw = text.trim() ? JSON.parse(text) : {};
      } catch {
        throw invalid('the body is not JSON', 'body');
      }
      const parsed = RunInput.safeParse(raw);
      if (!parsed.success)
        throw invalid(
          parsed.error.issues.map((i) => i.message).join('; '),
          parsed.error.issues[0]?.path.join('.') || 'body',
        );
      const { dryRun } = parsed.data;
      if (dryRun) {
        const handle = await s.runs.startDryRun(cfg.id);
        const workflowId = handle.workflowId;
        await audit(s.db, auth, 'config.dry-run', { type: 'backup_config', id: cfg.id }, { workflowId });
        const report = (await handle.result()) as Omit<z.infer<typeof DryRunReport>, 'workflowId'>;
        return c.json({ ...report, workflowId }, 200);
      }
      await s.schedules.runNow(cfg.id);
      await audit(s.db, auth, 'config.run', { type: 'backup_config', id: cfg.id });
      return c.json({ status: 'started' as const, scheduleId: scheduleId(cfg.id) }, 202);
    },
  );

  const PreviewInput = z
    .object({
      destinationId: z
        .string()
        .uuid()
        .optional()
        .openapi({ description: "the destination whose copies to look at; absent for the site's own copies" }),
      retention: Retention,
    })
    .openapi('RetentionPreviewInput');
  const PlannedCopy = z.object({
    backupId: z.string(),
    database: z.string(),
    fileName: z.string().nullable(),
    takenAt: z.string(),
    reasons: z.array(z.string()),
  });
  r.openapi(
    createRoute({
      method: 'post',
      path: '/configs/{id}/retention-preview',
      tags: ['configs'],
      summary: 'What a retention policy would delete now, before it is saved',
      request: { params: IdParam, ...body(PreviewInput) },
      responses: {
        200: json(
          z
            .object({
              target: z.string(),
              policy: z.string(),
              delete: z.array(PlannedCopy),
              keep: z.array(PlannedCopy),
            })
            .openapi('RetentionPreview'),
        ),
        400: errors[400],
        404: errors[404],
      },
    }),
    async (c) => {
      const auth = c.get('auth');
      const cfg = await findOwned(s.db, backupConfigs, c.req.valid('param').id, auth.tenantId, 'backup configuration');
      const input = c.req.valid('json');
      let target = SITE_TARGET;
      if (input.destinationId)
        target = (await findOwned(s.db, destinations, input.destinationId, auth.tenantId, 'destination')).name;
      const plan = await planTargetRetention(s.db, cfg, target, input.retention);
      const out = (p: (typeof plan.keep)[number]) => ({
        backupId: p.backupId,
        database: p.database,
        fileName: p.fileName,
        takenAt: p.takenAt.toISOString(),
        reasons: p.reasons,
      });
      return c.json(
        { target, policy: describePolicy(input.retention), delete: plan.remove.map(out), keep: plan.keep.map(out) },
        200,
      );
    },
  );

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
      requireRole(auth, 'operator');
      const cfg = await findOwned(s.db, backupConfigs, c.req.valid('param').id, auth.tenantId, 'backup configuration');
      const workflowId = await s.runs.startPrune(cfg.id);
      await audit(s.db, auth, 'config.prune', { type: 'backup_config', id: cfg.id }, { workflowId });
      return c.json({ workflowId }, 202);
    },
  );

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
      const { id } = c.req.valid('param');
      await withSchedules(id, async (tx, writes) => {
        const cfg = await findOwned(tx, backupConfigs, id, auth.tenantId, 'backup configuration');
        await tx.delete(backupConfigs).where(eq(backupConfigs.id, id));
        await audit(tx, auth, 'config.delete', { type: 'backup_config', id }, { name: cfg.name });
        await s.schedules.remove(id, writes);
      });
      return c.body(null, 204);
    },
  );

  return r;
}
