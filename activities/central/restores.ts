// Restores and drills: what a restore needs (the backup, its target, the copies the target site can read, best
// first), its outcome, and the drills a configuration plans, each a restore into a scratch database.
import { and, desc, eq, inArray, min } from 'drizzle-orm';
import { BackupError } from '../../common/errors.ts';
import { DUMP_FORMAT, isAllDatabases, SITE_TARGET, type DrillSpec } from '../../common/model.ts';
import { parseBackupFileName } from '../../common/names.ts';
import { backupCopies, backups, restores, servers, sites } from '../../db/schema.ts';
import type { DrillTarget, DryRunCheck, RestorePlan } from '../contracts.ts';
import { asActivity } from '../failure.ts';
import type { CentralContext } from './context.ts';
import { configWithServer } from './plans.ts';

const parseFormat = (fileName: string) => parseBackupFileName(fileName)?.format;

/**
 * The databases a drill checks: the configuration's names, or with "*" those it has backed up that the server still
 * has (not the ones reported gone, nor the ones excluded since).
 */
async function drillDatabases(
  central: CentralContext,
  config: { id: string; databases: string[]; excludeDatabases: string[]; vanishedDatabases: string[] },
): Promise<string[]> {
  if (!isAllDatabases(config.databases)) return config.databases;
  const rows = await central.db
    .selectDistinct({ database: backups.database })
    .from(backups)
    .where(
      and(
        eq(backups.configId, config.id),
        eq(backups.kind, 'backup'),
        inArray(backups.status, ['succeeded', 'partial']),
      ),
    );
  const skip = [...config.excludeDatabases, ...config.vanishedDatabases];
  return rows
    .map((r) => r.database)
    .filter((d) => !skip.includes(d))
    .sort();
}

export function createLoadRestorePlan(central: CentralContext) {
  /** What a restore needs: the backup, the target, and every stored copy the target site can read, best first. */
  return async function loadRestorePlan(input: { restoreId: string }): Promise<RestorePlan> {
    return asActivity(async () => {
      const [row] = await central.db
        .select({ r: restores, b: backups, server: servers, site: sites })
        .from(restores)
        .innerJoin(backups, eq(backups.id, restores.backupId))
        .innerJoin(servers, eq(servers.id, restores.targetServerId))
        .innerJoin(sites, eq(sites.id, restores.targetSiteId))
        .where(eq(restores.id, input.restoreId));
      if (!row)
        throw new BackupError('invalid', `restore ${input.restoreId} or its backup no longer exists`, {
          code: 'RestoreNotFound',
        });
      return restorePlan(central, row.r, row.b, row.server, row.site);
    });
  };
}

export function createRecordRestore(central: CentralContext) {
  return async function recordRestore(input: {
    restoreId: string;
    status: 'succeeded' | 'failed' | 'cancelled';
    error?: string;
    copyTarget?: string;
    restoreSeconds?: number;
    rawBytes?: number;
    checks?: DryRunCheck[];
  }): Promise<void> {
    return asActivity(async () => {
      await central.db
        .update(restores)
        .set({
          status: input.status,
          error: input.error ?? null,
          copyTarget: input.copyTarget ?? null,
          restoreSeconds: input.restoreSeconds ?? null,
          rawBytes: input.rawBytes ?? null,
          checks: input.checks ?? null,
          finishedAt: new Date(),
        })
        .where(eq(restores.id, input.restoreId));
      central.runLogger({ tenant_id: undefined }).info(
        {
          event: { outcome: input.status === 'succeeded' ? 'success' : 'failure' },
          labels: { restore_id: input.restoreId, copy: input.copyTarget },
        },
        `restore ${input.status}`,
      );
    });
  };
}

export function createPlanDrill(central: CentralContext) {
  /**
   * A drill per database of the configuration: the newest good backup, restored into a scratch database on the
   * same server. Writes the drill's history rows (running) so the API shows them while they run.
   */
  return async function planDrill(input: { configId: string }): Promise<DrillTarget[]> {
    return asActivity(async () => {
      const { workflowId } = central.runInfo();
      const row = await configWithServer(central, input.configId, 'drill schedule');
      const drill: DrillSpec = row.config.drill ?? {
        schedule: row.config.schedule,
        tolerancePercent: 0,
        assertions: [],
      };
      const out: DrillTarget[] = [];
      const stamp = workflowId.replace(/[^0-9]/g, '').slice(-14) || String(Date.now());
      for (const database of await drillDatabases(central, row.config)) {
        const [b] = await central.db
          .select()
          .from(backups)
          .where(
            and(
              eq(backups.configId, row.config.id),
              eq(backups.database, database),
              eq(backups.kind, 'backup'),
              inArray(backups.status, ['succeeded', 'partial']),
              eq(backups.availableForDownload, true),
            ),
          )
          .orderBy(desc(backups.startedAt))
          .limit(1);
        if (!b) {
          out.push({ database, drill, configName: row.config.name });
          continue;
        }
        const scratch = `${database.slice(0, 40)}_drill_${stamp}`;
        const { r, planned } = await drillRow(central, row, b, scratch, workflowId);
        out.push({
          database,
          drill,
          configName: row.config.name,
          plan: await restorePlan(central, r, planned, row.server, row.site),
        });
      }
      return out;
    });
  };
}

type ConfigRow = Awaited<ReturnType<typeof configWithServer>>;
type BackupRow = typeof backups.$inferSelect;

/** The drill's restore row, and the backup it restores. */
async function drillRow(
  central: CentralContext,
  row: ConfigRow,
  b: BackupRow,
  scratch: string,
  workflowId: string,
): Promise<{ r: typeof restores.$inferSelect; planned: BackupRow }> {
  const { db } = central;
  // A retry of this activity finds the row an earlier attempt wrote, instead of a second one left running.
  const [earlier] = await db
    .select()
    .from(restores)
    .where(and(eq(restores.workflowId, workflowId), eq(restores.targetDatabase, scratch)));
  const [r] = earlier
    ? [earlier]
    : await db
        .insert(restores)
        .values({
          tenantId: row.config.tenantId,
          kind: 'drill',
          backupId: b.id,
          configId: row.config.id,
          targetSiteId: row.site.id,
          targetServerId: row.server.id,
          targetDatabase: scratch,
          workflowId,
          status: 'running',
        })
        .returning();
  // A reused row keeps the backup it was planned with, even if a newer one has arrived since.
  const [planned] =
    earlier?.backupId && earlier.backupId !== b.id
      ? await db.select().from(backups).where(eq(backups.id, earlier.backupId))
      : [b];
  return { r: r!, planned: planned ?? b };
}

async function restorePlan(
  central: CentralContext,
  r: typeof restores.$inferSelect,
  b: BackupRow,
  server: typeof servers.$inferSelect,
  site: typeof sites.$inferSelect,
): Promise<RestorePlan> {
  if (!b.fileName || b.sizeBytes === null || !b.sha256)
    throw new BackupError('invalid', 'this backup has no file to restore (it did not succeed)', {
      code: 'NothingToRestore',
    });
  if (DUMP_FORMAT[server.engine] !== parseFormat(b.fileName)) {
    throw new BackupError('invalid', `${b.fileName} cannot be restored into ${server.engine} server '${server.name}'`, {
      code: 'EngineMismatch',
    });
  }
  const usable = await readableCopies(central, b, site.id);
  const globals = r.globalsBackupId ? await globalsPlan(central, r.globalsBackupId, b.database, site.id) : undefined;
  return {
    restoreId: r.id,
    tenantId: r.tenantId,
    kind: r.kind,
    backupId: b.id,
    fileName: b.fileName,
    sizeBytes: b.sizeBytes,
    sha256: b.sha256,
    tableCounts: b.tableCounts ?? [],
    siteName: site.name,
    taskQueue: site.taskQueue,
    serverName: server.name,
    database: r.targetDatabase,
    overwrite: r.overwrite,
    candidates: usable,
    ...(globals && { globals }),
    tuning: central.tuning,
    sweepMadeBefore: await sweepCutoff(central),
  };
}

/** The stored copies of a backup that a site can read, best first (its own folder, then destinations by name). */
async function readableCopies(central: CentralContext, b: BackupRow, siteId: string) {
  const copies = await central.db
    .select()
    .from(backupCopies)
    .where(and(eq(backupCopies.backupId, b.id), eq(backupCopies.state, 'stored')));
  // The site's own copy is only readable by its own site; destinations by any site that has them configured.
  const usable = copies.filter((c) => c.target !== SITE_TARGET || b.siteId === siteId);
  usable.sort(
    (x, y) => Number(y.target === SITE_TARGET) - Number(x.target === SITE_TARGET) || x.target.localeCompare(y.target),
  );
  return usable.map((c) => ({ copyId: c.id, target: c.target, key: c.objectKey }));
}

/** The globals a restore applies: the file of the backup's run and the copies the target site can read. */
async function globalsPlan(
  central: CentralContext,
  globalsBackupId: string,
  sourceDatabase: string,
  siteId: string,
): Promise<NonNullable<RestorePlan['globals']>> {
  const [g] = await central.db.select().from(backups).where(eq(backups.id, globalsBackupId));
  if (!g?.fileName || g.sizeBytes === null || !g.sha256)
    throw new BackupError('invalid', 'the globals of this backup have no file any more: restore without applyGlobals', {
      code: 'NothingToRestore',
    });
  return {
    backupId: g.id,
    fileName: g.fileName,
    sizeBytes: g.sizeBytes,
    sha256: g.sha256,
    sourceDatabase,
    candidates: await readableCopies(central, g, siteId),
  };
}

/** Leeway for the site's clock, which stamps the scratch databases, against this one, which stamps the restores. */
const CLOCK_LEEWAY_MS = 10 * 60_000;

/**
 * The start of the oldest restore or drill still running anywhere (a database server may serve several sites and
 * tenants), less the clock leeway: a scratch database made before it cannot belong to any running one. Only a time
 * leaves this function, nothing of another tenant's restores.
 */
async function sweepCutoff(central: CentralContext): Promise<string> {
  const [row] = await central.db
    .select({ oldest: min(restores.startedAt) })
    .from(restores)
    .where(eq(restores.status, 'running'));
  const oldest = row?.oldest ? new Date(row.oldest).getTime() : Date.now();
  return new Date(Math.min(oldest, Date.now()) - CLOCK_LEEWAY_MS).toISOString();
}
