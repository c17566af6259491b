// Backup configurations. Each owns one Temporal Schedule (and one each for verification and drills); a write succeeds
// only if the row and every schedule were written: the schedule calls run inside the transaction, so their failure
// rolls the row back, and a failure after some schedule was written takes those writes back (ScheduleWrites).
import { and, eq } from 'drizzle-orm';
import { conflict, invalid } from '../../common/errors.ts';
import { SITE_TARGET, type ConfigDestination, type RetentionPolicy } from '../../common/model.ts';
import { describePolicy } from '../../common/retention.ts';
import type { Db, Tx } from '../../db/client.ts';
import { planTargetRetention } from '../../db/retention.ts';
import { backupConfigs, backups, destinations, runTriggers, servers, users } from '../../db/schema.ts';
import type { AuthContext } from '../auth/tokens.ts';
import { uniqueViolation } from '../lib/errors.ts';
import type { Services } from '../lib/services.ts';
import { audit, findOwned } from '../lib/tenancy.ts';
import { withScheduleWrites, type ScheduleWrites } from '../temporal/schedule-writes.ts';
import { checkEngineRules } from './engine-rules.ts';
import { exclusionProblem, type ConfigCreateInput, type ConfigRow } from './schemas.ts';

const duplicate = (err: unknown) =>
  uniqueViolation(err) ? conflict('a backup configuration with this name exists') : err;

/** A configuration's transaction with its schedule writes, put back if anything fails (`withScheduleWrites`). */
const withSchedules = <T>(
  s: Services,
  configId: string | undefined,
  work: (tx: Tx, writes: ScheduleWrites) => Promise<T>,
): Promise<T> =>
  withScheduleWrites(s.db, s.logger, { config_id: configId }, work).catch((err: unknown) => {
    throw duplicate(err);
  });

/** Writes the schedules for a row about to be committed; throwing rolls the row back. */
async function syncSchedule(s: Services, tx: Tx, row: ConfigRow, writes: ScheduleWrites): Promise<void> {
  const [server] = await tx.select().from(servers).where(eq(servers.id, row.serverId));
  await checkDestinations(tx, row.destinations, server!.siteId, row.tenantId);
  checkEngineRules(server!.engine, row);
  const destructive = row.cleanTables.filter((t) => t.mode !== 'exclude');
  if (destructive.length > 0 && !row.confirmDestructiveCleaning) {
    throw invalid(
      `${destructive.map((t) => `${t.table} (${t.mode})`).join(', ')} would delete rows at the source before each backup: set confirmDestructiveCleaning to true to allow it`,
      'confirmDestructiveCleaning',
    );
  }
  const globals = globalsProblem(row, server!.engine);
  if (globals) throw invalid(globals.reason, globals.field);
  await s.schedules.upsert({ ...row, siteId: server!.siteId, serverName: server!.name }, writes);
  await s.schedules.upsertChecks({ ...row, siteId: server!.siteId, serverName: server!.name }, writes);
}

/** Globals are PostgreSQL's; role password hashes go only into encrypted backups. */
export function globalsProblem(
  row: Pick<ConfigRow, 'globals' | 'encrypt'>,
  engine: string,
): { field: string; reason: string } | undefined {
  if (!row.globals) return undefined;
  if (engine !== 'postgresql')
    return { field: 'globals', reason: `globals are PostgreSQL's roles and grants; this server is ${engine}` };
  if (row.globals.rolePasswords && !row.encrypt)
    return {
      field: 'globals.rolePasswords',
      reason: 'role password hashes go only into encrypted backups: set encrypt to true, or rolePasswords to false',
    };
}

/** A configuration sends copies only to destinations of the site its server is at: that site holds their secrets. */
async function checkDestinations(tx: Tx, wanted: ConfigDestination[], siteId: string, tenantId: string): Promise<void> {
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

export function list(db: Db, tenantId: string, serverId: string | undefined): Promise<ConfigRow[]> {
  return db
    .select()
    .from(backupConfigs)
    .where(and(eq(backupConfigs.tenantId, tenantId), serverId ? eq(backupConfigs.serverId, serverId) : undefined))
    .orderBy(backupConfigs.name);
}

export async function create(s: Services, auth: AuthContext, input: ConfigCreateInput): Promise<ConfigRow> {
  return withSchedules(s, undefined, async (tx, writes) => {
    await findOwned(tx, servers, input.serverId, auth.tenantId, 'server');
    const [row] = await tx
      .insert(backupConfigs)
      .values({ ...input, tenantId: auth.tenantId })
      .returning();
    await audit(tx, auth, 'config.create', { type: 'backup_config', id: row!.id }, { name: row!.name });
    await syncSchedule(s, tx, row!, writes);
    return row!;
  });
}

/** Any change to a configuration (an edit, a pause, a resume), audited as `action`; its schedules follow. */
export async function change(
  s: Services,
  auth: AuthContext,
  id: string,
  action: string,
  patch: Partial<ConfigRow>,
  details?: Record<string, unknown>,
): Promise<ConfigRow> {
  return withSchedules(s, id, async (tx, writes) => {
    await findOwned(tx, backupConfigs, id, auth.tenantId, 'backup configuration');
    const [row] = await tx
      .update(backupConfigs)
      .set({ ...patch, updatedAt: new Date() })
      .where(eq(backupConfigs.id, id))
      .returning();
    // The row as it would be: a PATCH of either field alone may leave exclusions beside a list of names.
    const problem = exclusionProblem(row!.databases, row!.excludeDatabases);
    if (problem) throw invalid(problem, 'excludeDatabases');
    await audit(tx, auth, action, { type: 'backup_config', id }, details);
    await syncSchedule(s, tx, row!, writes);
    return row!;
  });
}

/** The configuration and its schedules go; its history stays. */
export async function remove(s: Services, auth: AuthContext, id: string): Promise<void> {
  await withSchedules(s, id, async (tx, writes) => {
    const cfg = await findOwned(tx, backupConfigs, id, auth.tenantId, 'backup configuration');
    await tx.delete(backupConfigs).where(eq(backupConfigs.id, id));
    await audit(tx, auth, 'config.delete', { type: 'backup_config', id }, { name: cfg.name });
    await s.schedules.remove(id, writes);
  });
}

/** A dry run, waited for: the report of what a backup would find, with the run's workflow id. */
export async function dryRun(s: Services, auth: AuthContext, cfg: ConfigRow) {
  const handle = await s.runs.startDryRun(cfg.id);
  const workflowId = handle.workflowId;
  await audit(s.db, auth, 'config.dry-run', { type: 'backup_config', id: cfg.id }, { workflowId });
  return { ...(await handle.result()), workflowId };
}

/**
 * A backup now, through the schedule so that a run in progress is not doubled. The run's history says who asked for
 * it: the trigger is kept by workflow id, and rows the run already wrote take it now (later ones take it themselves).
 */
export async function runNow(s: Services, auth: AuthContext, cfg: ConfigRow): Promise<void> {
  const run = await s.schedules.runNow(cfg.id);
  const [user] = await s.db.select({ email: users.email }).from(users).where(eq(users.id, auth.userId));
  if (run && user) {
    await s.db.transaction(async (tx) => {
      await tx
        .insert(runTriggers)
        .values({ runId: run.runId, tenantId: auth.tenantId, triggeredBy: user.email })
        .onConflictDoNothing();
      await tx
        .update(backups)
        .set({ triggeredBy: user.email })
        .where(and(eq(backups.runId, run.runId), eq(backups.tenantId, auth.tenantId)));
    });
  }
  await audit(s.db, auth, 'config.run', { type: 'backup_config', id: cfg.id }, { workflowId: run?.workflowId ?? null });
}

export async function prune(s: Services, auth: AuthContext, cfg: ConfigRow): Promise<string> {
  const workflowId = await s.runs.startPrune(cfg.id);
  await audit(s.db, auth, 'config.prune', { type: 'backup_config', id: cfg.id }, { workflowId });
  return workflowId;
}

/** What `retention` would keep and delete now at one target (the site's copies, or a destination's). */
export async function retentionPreview(
  db: Db,
  auth: AuthContext,
  cfg: ConfigRow,
  input: { destinationId?: string | undefined; retention: RetentionPolicy },
) {
  let target = SITE_TARGET;
  if (input.destinationId)
    target = (await findOwned(db, destinations, input.destinationId, auth.tenantId, 'destination')).name;
  const plan = await planTargetRetention(db, cfg, target, input.retention);
  const out = (p: (typeof plan.keep)[number]) => ({
    backupId: p.backupId,
    database: p.database,
    fileName: p.fileName,
    takenAt: p.takenAt.toISOString(),
    reasons: p.reasons,
  });
  return { target, policy: describePolicy(input.retention), delete: plan.remove.map(out), keep: plan.keep.map(out) };
}
