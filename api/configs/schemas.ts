// The shapes of a backup configuration: what an admin sends to create or change one, and what the API answers.
// Every object is strict: an unknown key (a typo, a field of another kind of schedule) is refused, not dropped.
import { z } from '@hono/zod-openapi';
import {
  ALL_DATABASES,
  COMPRESSIONS,
  DEFAULT_COMPRESSION,
  isAllDatabases,
  type Compression,
} from '../../common/model.ts';
import { DATABASE_NAME_RE, scheduleId, TABLE_NAME_RE } from '../../common/names.ts';
import { RetentionPolicySchema } from '../../common/retention.ts';
import { cronProblem, isValidTimeZone } from '../../common/schedule.ts';
import type { backupConfigs } from '../../db/schema.ts';

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
export const Retention = RetentionPolicySchema.openapi('RetentionPolicy', {
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
    assertions: z.array(z.string().trim().min(1).max(2000)).max(20).default([]).openapi({
      description:
        'SQL run read-only in the restored database; each must return true (MongoDB: a JSON query, see the README)',
    }),
  })
  .strict()
  .nullable()
  .openapi('Drill', {
    description: 'restore the newest backup into a scratch database and check it, on this schedule',
  });
const Globals = z
  .object({
    rolePasswords: z.boolean().default(false).openapi({
      description: 'also the roles’ password hashes (SCRAM/MD5 verifiers, as pg_authid keeps them); only with encrypt',
    }),
  })
  .strict()
  .nullable()
  .openapi('Globals', {
    description:
      'PostgreSQL: each run also backs up the server’s roles, memberships, role settings, tablespaces and the owner, grants and settings of its databases, as a file of its own (history kind "globals")',
  });
const DATABASE_NAME_RULE = 'a database name: letters, digits, _ $ - . (a SQLite database is its file name)';
const DatabaseName = z.string().regex(DATABASE_NAME_RE, DATABASE_NAME_RULE);
const DatabaseNames = z.array(DatabaseName);
/** A list of names, or "*" (also ["*"]) for every database of the server; stored as ["*"]. */
const Databases = z
  .union([z.literal(ALL_DATABASES), z.array(z.string()).min(1).max(50)])
  .transform((d) => (typeof d === 'string' ? [d] : d))
  .superRefine((d, ctx) => {
    if (isAllDatabases(d)) return;
    if (d.includes(ALL_DATABASES))
      return ctx.addIssue({ code: 'custom', message: 'either "*" alone (every database) or database names' });
    d.forEach((name, i) => {
      if (!DATABASE_NAME_RE.test(name)) ctx.addIssue({ code: 'custom', path: [i], message: DATABASE_NAME_RULE });
    });
    if (new Set(d).size !== d.length) ctx.addIssue({ code: 'custom', message: 'each database once' });
  })
  .openapi({
    description: 'database names, or "*" for every database of the server (discovered at the site on each run)',
  });
const ConfigFields = z.object({
  name: z.string().trim().min(1).max(100),
  databases: Databases,
  excludeDatabases: DatabaseNames.max(100)
    .refine((d) => new Set(d).size === d.length, 'each database once')
    .default([])
    .openapi({ description: 'with databases "*": the databases each run leaves out' }),
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
  globals: Globals.default(null),
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
export const ConfigCreate = ConfigFields.extend({ serverId: z.string().uuid() })
  .strict()
  .superRefine((c, ctx) => {
    const problem = exclusionProblem(c.databases, c.excludeDatabases);
    if (problem) ctx.addIssue({ code: 'custom', path: ['excludeDatabases'], message: problem });
  })
  .openapi('BackupConfigCreate');

/** Exclusions only mean something beside "*"; with a list of names, the list itself says what to leave out. */
export function exclusionProblem(databases: string[], exclude: string[]): string | undefined {
  if (exclude.length > 0 && !isAllDatabases(databases))
    return 'only with databases "*": with a list of names, leave the database out of the list';
}
export const ConfigPatch = z
  .object({
    name: ConfigFields.shape.name,
    databases: ConfigFields.shape.databases,
    excludeDatabases: DatabaseNames.max(100),
    schedule: Schedule,
    timezone: ConfigFields.shape.timezone,
    cleanTables: z.array(CleanTable).max(100),
    confirmDestructiveCleaning: z.boolean(),
    compression: CompressionSchema,
    encrypt: z.boolean(),
    globals: Globals,
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
export const Config = z
  .object({
    id: z.string(),
    name: z.string(),
    serverId: z.string(),
    databases: z.array(z.string()),
    excludeDatabases: z.array(z.string()),
    schedule: Schedule,
    timezone: z.string(),
    cleanTables: z.array(CleanTable),
    confirmDestructiveCleaning: z.boolean(),
    compression: CompressionSchema,
    encrypt: z.boolean(),
    globals: Globals,
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
export const ScheduleState = z
  .object({
    scheduleId: z.string(),
    paused: z.boolean(),
    nextRunTimes: z.array(z.string()),
    running: z.array(z.string()),
    recent: z.array(z.object({ workflowId: z.string(), scheduledAt: z.string() })),
    found: z.array(z.string()).openapi({
      description: 'What was changed outside the API and how it was reconciled (a pause adopted, a deletion put back)',
    }),
  })
  .openapi('ScheduleState');

export type ConfigRow = typeof backupConfigs.$inferSelect;
export const configOut = (x: ConfigRow) => ({
  id: x.id,
  name: x.name,
  serverId: x.serverId,
  databases: x.databases,
  excludeDatabases: x.excludeDatabases,
  schedule: x.schedule,
  timezone: x.timezone,
  cleanTables: x.cleanTables,
  confirmDestructiveCleaning: x.confirmDestructiveCleaning,
  compression: x.compression,
  encrypt: x.encrypt,
  globals: x.globals ?? null,
  verification: x.verification ?? null,
  drill: x.drill ?? null,
  keepLocal: x.keepLocal,
  destinations: x.destinations,
  paused: x.paused,
  scheduleId: scheduleId(x.id),
  createdAt: x.createdAt.toISOString(),
  updatedAt: x.updatedAt.toISOString(),
});

export type ConfigCreateInput = z.infer<typeof ConfigCreate>;
