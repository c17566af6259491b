// Activities on the central worker: the ones that read or write the metadata database or tenant-wide state.
import { createHash } from 'node:crypto';
import { and, asc, desc, eq, inArray, ne, sql } from 'drizzle-orm';
import { Context } from '@temporalio/activity';
import { withRunLabels, type Logger } from '../common/logger.ts';
import { BackupError } from '../common/errors.ts';
import type { Db } from '../db/client.ts';
import {
  backupConfigs,
  backupCopies,
  backups,
  copyEvents,
  destinations,
  servers,
  sites,
  SITE_TARGET,
  tenants,
  restores,
  DUMP_FORMAT,
  type BackupKind,
  type DrillSpec,
  type ScheduleSpec,
  type BackupStatus,
  type CopyState,
  type RetentionPolicy,
  type TableCount,
} from '../db/schema.ts';
import { planTargetRetention, retentionTargets } from '../db/retention.ts';
import { parseBackupFileName } from '../common/names.ts';
import { asActivity } from './failure.ts';
import type {
  BackupPlan,
  CheckResult,
  CopyRef,
  DrillTarget,
  DryRunCheck,
  PlanDestination,
  Repair,
  RestorePlan,
  RowsRemoved,
  RunTuning,
  SiteCheckBatch,
} from './contracts.ts';

export interface CopyOutcome {
  backupId: string;
  target: string;
  destinationId: string | null;
  key: string;
  state: CopyState;
  location?: string;
  sizeBytes?: number;
  sha256?: string;
  error?: string;
  /** Recorded in the copy's events: stored, missing, corrupt, repaired, deleted, verified. */
  event: string;
}

export interface BackupRef {
  tenantId: string;
  configId: string;
  siteId: string;
  serverId: string;
  database: string;
}

export interface BackupOutcome extends BackupRef {
  status: Exclude<BackupStatus, 'running' | 'partial'>;
  /** The site copy's key, relative to the site's Backups folder. */
  siteKey?: string;
  kind?: BackupKind;
  compression?: string;
  encrypted?: boolean;
  keyId?: string | null;
  tableCounts?: TableCount[];
  rowsRemoved?: RowsRemoved[];
  report?: Record<string, unknown>;
  startedAt: string;
  fileName?: string;
  sizeBytes?: number;
  sha256?: string;
  location?: string;
  error?: string;
}

export interface AlertInput {
  tenantId: string;
  configId?: string | null;
  configName?: string;
  serverName?: string;
  siteName: string;
  database?: string;
  message: string;
  /** What happened; the webhook's `type`. */
  event?:
    | 'backup.failed'
    | 'backup.partial'
    | 'copy.lost'
    | 'copy.corrupt'
    | 'drill.failed'
    | 'restore.failed'
    | 'backup.missed';
}

const MISSED_GRACE_MS = 3_600_000;

/** How often a schedule should produce a backup; a cron expression is taken as daily unless it says otherwise. */
export function expectedIntervalMs(spec: ScheduleSpec): number {
  const day = 86_400_000;
  switch (spec.kind) {
    case 'daily':
      return day;
    case 'biweekly':
      return 14 * day;
    case 'monthly':
      return 31 * day;
    case 'cron': {
      // Runs more often than daily still alert after a silent day: coarse, but never a false alarm.
      const [, , dom, , dow] = spec.expression.trim().split(/\s+/);
      if (dow !== '*') return 7 * day;
      if (dom !== '*') return 31 * day;
      return day;
    }
  }
}

const fileNameOf = (key: string) => key.slice(key.lastIndexOf('/') + 1);
const parseFormat = (fileName: string) => parseBackupFileName(fileName)?.format;

export function createCentralActivities(deps: { db: Db; logger: Logger; tuning: RunTuning; fetch?: typeof fetch }) {
  const { db, tuning } = deps;
  const doFetch = deps.fetch ?? fetch;

  function runInfo() {
    const info = Context.current().info;
    return { workflowId: info.workflowExecution?.workflowId ?? '', runId: info.workflowExecution?.runId ?? '', info };
  }

  function runLogger(labels: {
    tenant_id?: string;
    site_id?: string;
    server?: string;
    database?: string;
    config_id?: string;
  }) {
    const { workflowId, runId, info } = runInfo();
    return withRunLabels(deps.logger, {
      workflow_id: workflowId,
      run_id: runId,
      activity: info.activityType,
      attempt: info.attempt,
      ...labels,
    });
  }

  /** The configuration's destinations with their names; one deleted since the configuration was saved is an error to fix. */
  async function planDestinations(
    wanted: { destinationId: string; retention: RetentionPolicy }[],
    siteId: string,
  ): Promise<PlanDestination[]> {
    if (wanted.length === 0) return [];
    const rows = await db
      .select()
      .from(destinations)
      .where(
        and(
          eq(destinations.siteId, siteId),
          inArray(
            destinations.id,
            wanted.map((w) => w.destinationId),
          ),
        ),
      );
    return wanted.map((w) => {
      const d = rows.find((r) => r.id === w.destinationId);
      if (!d)
        throw new BackupError(
          'invalid',
          `destination ${w.destinationId} of this configuration no longer exists at its site: edit the configuration`,
          { code: 'DestinationNotFound' },
        );
      return { id: d.id, name: d.name, kind: d.kind, retention: w.retention };
    });
  }

  /** A configuration with its server and site; gone means its schedule outlived it, which the admin should remove. */
  async function configWithServer(configId: string, schedule: string) {
    const [row] = await db
      .select({ config: backupConfigs, server: servers, site: sites })
      .from(backupConfigs)
      .innerJoin(servers, eq(servers.id, backupConfigs.serverId))
      .innerJoin(sites, eq(sites.id, servers.siteId))
      .where(eq(backupConfigs.id, configId));
    if (!row)
      throw new BackupError('invalid', `backup configuration ${configId} no longer exists; delete its ${schedule}`, {
        code: 'ConfigNotFound',
      });
    return row;
  }

  async function restorePlan(
    r: typeof restores.$inferSelect,
    b: typeof backups.$inferSelect,
    server: typeof servers.$inferSelect,
    site: typeof sites.$inferSelect,
  ): Promise<RestorePlan> {
    if (!b.fileName || b.sizeBytes === null || !b.sha256)
      throw new BackupError('invalid', 'this backup has no file to restore (it did not succeed)', {
        code: 'NothingToRestore',
      });
    if (DUMP_FORMAT[server.engine] !== parseFormat(b.fileName)) {
      throw new BackupError(
        'invalid',
        `${b.fileName} cannot be restored into ${server.engine} server '${server.name}'`,
        { code: 'EngineMismatch' },
      );
    }
    const copies = await db
      .select()
      .from(backupCopies)
      .where(and(eq(backupCopies.backupId, b.id), eq(backupCopies.state, 'stored')));
    // The site's own copy is only readable by its own site; destinations by any site that has them configured.
    const usable = copies.filter((c) => c.target !== SITE_TARGET || b.siteId === site.id);
    usable.sort(
      (x, y) => Number(y.target === SITE_TARGET) - Number(x.target === SITE_TARGET) || x.target.localeCompare(y.target),
    );
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
      candidates: usable.map((c) => ({ copyId: c.id, target: c.target, key: c.objectKey })),
      tuning,
    };
  }

  /** A backup is downloadable while one of its copies is stored. */
  async function refreshAvailability(tx: Pick<Db, 'update' | 'select'>, backupId: string): Promise<void> {
    await tx
      .update(backups)
      .set({
        availableForDownload: sql`exists (select 1 from ${backupCopies} where ${backupCopies.backupId} = ${backupId} and ${backupCopies.state} = 'stored')`,
      })
      .where(eq(backups.id, backupId));
  }

  async function writeCopy(o: CopyOutcome, tenantId: string, workflowId: string | null): Promise<string> {
    return db.transaction(async (tx) => {
      const now = new Date();
      const values = {
        objectKey: o.key,
        location: o.location ?? null,
        sizeBytes: o.sizeBytes ?? null,
        sha256: o.sha256 ?? null,
        state: o.state,
        error: o.error ?? null,
        updatedAt: now,
        ...(o.state === 'stored' && { storedAt: now, checkedAt: now }),
      };
      const [row] = await tx
        .insert(backupCopies)
        .values({ tenantId, backupId: o.backupId, target: o.target, destinationId: o.destinationId, ...values })
        .onConflictDoUpdate({ target: [backupCopies.backupId, backupCopies.target], set: values })
        .returning({ id: backupCopies.id });
      await tx
        .insert(copyEvents)
        .values({ tenantId, copyId: row!.id, event: o.event, detail: o.error ?? null, workflowId });
      await refreshAvailability(tx, o.backupId);
      return row!.id;
    });
  }

  return {
    /** The timeouts and retry pacing of this deployment, for workflows that have no configuration to load. */
    async runTuning(): Promise<{ tuning: RunTuning }> {
      return { tuning };
    },

    async loadBackupPlan(input: { configId: string }): Promise<BackupPlan> {
      return asActivity(async () => {
        const row = await configWithServer(input.configId, 'schedule');
        return {
          tenantId: row.config.tenantId,
          configId: row.config.id,
          configName: row.config.name,
          siteId: row.site.id,
          siteName: row.site.name,
          taskQueue: row.site.taskQueue,
          serverId: row.server.id,
          serverName: row.server.name,
          engine: row.server.engine,
          databases: row.config.databases,
          cleanTables: row.config.cleanTables,
          keepLocal: row.config.keepLocal,
          timezone: row.config.timezone,
          format: DUMP_FORMAT[row.server.engine],
          compression: row.config.compression,
          encrypt: row.config.encrypt,
          destinations: await planDestinations(row.config.destinations, row.site.id),
          tuning,
        };
      });
    },

    /** Writes the history row of one database in this run as running; a retry leaves it as it is. */
    async recordBackupStarted(input: BackupRef & { startedAt: string }): Promise<void> {
      return asActivity(async () => {
        const { workflowId, runId } = runInfo();
        await db
          .insert(backups)
          .values({ ...input, workflowId, runId, startedAt: new Date(input.startedAt), status: 'running' })
          .onConflictDoNothing({ target: [backups.workflowId, backups.database] });
      });
    },

    /**
     * Writes the outcome of one database in this run, and the site copy when there is one; running it twice gives
     * the same rows. Answers the history row's id, which the copies of this backup refer to.
     */
    async recordBackup(input: BackupOutcome): Promise<{ backupId: string }> {
      return asActivity(async () => {
        const { workflowId, runId } = runInfo();
        const values = {
          status: input.status,
          runId,
          fileName: input.fileName ?? null,
          sizeBytes: input.sizeBytes ?? null,
          sha256: input.sha256 ?? null,
          location: input.location ?? null,
          availableForDownload: input.status === 'succeeded' && !!input.location,
          error: input.error ?? null,
          finishedAt: new Date(),
          kind: input.kind ?? 'backup',
          compression: input.compression ?? null,
          encrypted: input.encrypted ?? false,
          keyId: input.keyId ?? null,
          tableCounts: input.tableCounts ?? null,
          rowsRemoved: input.rowsRemoved ?? null,
          report: input.report ?? null,
        };
        const backupId = await db.transaction(async (tx) => {
          const [row] = await tx
            .insert(backups)
            .values({
              tenantId: input.tenantId,
              configId: input.configId,
              siteId: input.siteId,
              serverId: input.serverId,
              database: input.database,
              workflowId,
              startedAt: new Date(input.startedAt),
              ...values,
            })
            .onConflictDoUpdate({ target: [backups.workflowId, backups.database], set: values })
            .returning({ id: backups.id });
          if (input.status === 'succeeded' && input.siteKey) {
            const copy = {
              objectKey: input.siteKey,
              location: input.location ?? null,
              sizeBytes: input.sizeBytes ?? null,
              sha256: input.sha256 ?? null,
              state: 'stored' as const,
              storedAt: new Date(),
              checkedAt: new Date(),
            };
            const [c] = await tx
              .insert(backupCopies)
              .values({ tenantId: input.tenantId, backupId: row!.id, target: SITE_TARGET, ...copy })
              .onConflictDoUpdate({ target: [backupCopies.backupId, backupCopies.target], set: copy })
              .returning({ id: backupCopies.id });
            await tx
              .insert(copyEvents)
              .values({ tenantId: input.tenantId, copyId: c!.id, event: 'stored', workflowId });
          }
          return row!.id;
        });
        runLogger({
          tenant_id: input.tenantId,
          site_id: input.siteId,
          database: input.database,
          config_id: input.configId,
        }).info(
          {
            event: { outcome: input.status === 'succeeded' ? 'success' : 'failure' },
            file: { name: input.fileName, size: input.sizeBytes },
          },
          `backup ${input.status}`,
        );
        return { backupId };
      });
    },

    /** The key of a backup's copy at a destination: `<tenant>/<site>/<server>/<database>/<file>`. */
    async recordCopy(input: CopyOutcome & { tenantId: string }): Promise<void> {
      return asActivity(async () => {
        const { workflowId } = runInfo();
        await writeCopy(input, input.tenantId, workflowId);
        if (input.state !== 'stored') {
          // The dump is safe at the site, but a promised copy is not: the run is partial, and says which copy failed.
          await db
            .update(backups)
            .set({
              status: 'partial',
              error: sql`concat_ws('; ', ${backups.error}, ${`copy to ${input.target} failed: ${input.error ?? input.state}`}::text)`,
            })
            .where(and(eq(backups.id, input.backupId), inArray(backups.status, ['succeeded', 'partial'])));
        }
        runLogger({ tenant_id: input.tenantId }).info(
          {
            event: { outcome: input.state === 'stored' ? 'success' : 'failure' },
            labels: { target: input.target },
            file: { path: input.key, size: input.sizeBytes },
          },
          `copy ${input.event}`,
        );
      });
    },

    /**
     * What retention removes now from each target of a configuration, per database: the same decision the API's
     * preview shows. Only copies that exist (stored, corrupt or missing) count; deleted ones are history.
     */
    async planPrune(input: {
      configId: string;
    }): Promise<{ target: string; copies: { copyId: string; key: string }[] }[]> {
      return asActivity(async () => {
        const [cfg] = await db.select().from(backupConfigs).where(eq(backupConfigs.id, input.configId));
        if (!cfg) return [];
        const out: { target: string; copies: { copyId: string; key: string }[] }[] = [];
        for (const t of await retentionTargets(db, cfg)) {
          const doomed = await planTargetRetention(db, cfg, t.target, t.policy);
          out.push({ target: t.target, copies: doomed.remove.map((r) => ({ copyId: r.copyId, key: r.key })) });
        }
        return out;
      });
    },

    /** The site removed these copies. */
    async markCopiesDeleted(input: { copyIds: string[] }): Promise<number> {
      return asActivity(async () => {
        if (input.copyIds.length === 0) return 0;
        const { workflowId } = runInfo();
        return db.transaction(async (tx) => {
          const rows = await tx
            .update(backupCopies)
            .set({ state: 'deleted', updatedAt: new Date() })
            .where(and(inArray(backupCopies.id, input.copyIds), ne(backupCopies.state, 'deleted')))
            .returning({
              id: backupCopies.id,
              backupId: backupCopies.backupId,
              tenantId: backupCopies.tenantId,
              target: backupCopies.target,
            });
          for (const r of rows) {
            await tx
              .insert(copyEvents)
              .values({ tenantId: r.tenantId, copyId: r.id, event: 'deleted', detail: 'retention', workflowId });
            if (r.target === SITE_TARGET)
              await tx.update(backups).set({ location: null }).where(eq(backups.id, r.backupId));
            await refreshAvailability(tx, r.backupId);
          }
          return rows.length;
        });
      });
    },

    /** Every copy that should exist, grouped by the site whose worker can reach it. */
    async listCopiesToCheck(input: {
      tenantId?: string;
      configId?: string;
      backupId?: string;
    }): Promise<SiteCheckBatch[]> {
      return asActivity(async () => {
        const rows = await db
          .select({ copy: backupCopies, site: sites })
          .from(backupCopies)
          .innerJoin(backups, eq(backups.id, backupCopies.backupId))
          .innerJoin(sites, eq(sites.id, backups.siteId))
          .where(
            and(
              ne(backupCopies.state, 'deleted'),
              input.tenantId ? eq(backupCopies.tenantId, input.tenantId) : undefined,
              input.configId ? eq(backups.configId, input.configId) : undefined,
              input.backupId ? eq(backups.id, input.backupId) : undefined,
            ),
          )
          .orderBy(asc(sites.id), asc(backupCopies.backupId));
        const bySite = new Map<string, SiteCheckBatch>();
        for (const { copy, site } of rows) {
          if (copy.sizeBytes === null || copy.sha256 === null) continue;
          let batch = bySite.get(site.id);
          if (!batch)
            bySite.set(
              site.id,
              (batch = {
                siteId: site.id,
                siteName: site.name,
                taskQueue: site.taskQueue,
                tenantId: site.tenantId,
                copies: [],
              }),
            );
          batch.copies.push({
            copyId: copy.id,
            backupId: copy.backupId,
            target: copy.target,
            key: copy.objectKey,
            sizeBytes: copy.sizeBytes,
            sha256: copy.sha256,
            state: copy.state,
            fileName: fileNameOf(copy.objectKey),
          });
        }
        return [...bySite.values()];
      });
    },

    /** Records what the site found, and answers the copies to repair, each with a good copy to repair it from. */
    async recordCheckResults(input: { results: CheckResult[]; verification?: boolean }): Promise<Repair[]> {
      return asActivity(async () => {
        const { workflowId } = runInfo();
        const repairs: Repair[] = [];
        const now = new Date();
        const bad: string[] = [];
        await db.transaction(async (tx) => {
          for (const r of input.results) {
            const [before] = await tx.select().from(backupCopies).where(eq(backupCopies.id, r.copyId));
            if (!before || before.state === 'deleted') continue;
            await tx
              .update(backupCopies)
              .set({
                state: r.state,
                checkedAt: now,
                updatedAt: now,
                error: r.state === 'stored' ? null : (r.detail ?? r.state),
              })
              .where(eq(backupCopies.id, r.copyId));
            if (r.state !== before.state || r.state !== 'stored' || input.verification) {
              await tx.insert(copyEvents).values({
                tenantId: before.tenantId,
                copyId: r.copyId,
                event: r.state === 'stored' ? 'verified' : r.state,
                detail: r.detail ?? null,
                workflowId,
              });
            }
            await refreshAvailability(tx, before.backupId);
            if (r.state !== 'stored') bad.push(r.copyId);
          }
        });
        for (const copyId of bad) {
          const [copy] = await db.select().from(backupCopies).where(eq(backupCopies.id, copyId));
          if (!copy) continue;
          const [backup] = await db.select().from(backups).where(eq(backups.id, copy.backupId));
          // The site copy first: it is the cheapest to read from.
          const [good] = await db
            .select()
            .from(backupCopies)
            .where(
              and(
                eq(backupCopies.backupId, copy.backupId),
                eq(backupCopies.state, 'stored'),
                ne(backupCopies.id, copy.id),
              ),
            )
            .orderBy(sql`${backupCopies.target} = ${SITE_TARGET} desc`, asc(backupCopies.target))
            .limit(1);
          repairs.push({
            copyId: copy.id,
            backupId: copy.backupId,
            tenantId: copy.tenantId,
            to: { target: copy.target, key: copy.objectKey },
            from: good ? { target: good.target, key: good.objectKey } : null,
            sizeBytes: backup!.sizeBytes!,
            sha256: backup!.sha256!,
            what: `${backup!.fileName ?? copy.objectKey} at ${copy.target}`,
          });
        }
        return repairs;
      });
    },

    /** A repaired copy is stored again; its events say it was repaired and from where. */
    async recordRepair(input: {
      copyId: string;
      from: CopyRef;
      location?: string;
      ok: boolean;
      error?: string;
    }): Promise<void> {
      return asActivity(async () => {
        const { workflowId } = runInfo();
        const [copy] = await db.select().from(backupCopies).where(eq(backupCopies.id, input.copyId));
        if (!copy) return;
        await writeCopy(
          {
            backupId: copy.backupId,
            target: copy.target,
            destinationId: copy.destinationId,
            key: copy.objectKey,
            state: input.ok ? 'stored' : copy.state,
            location: input.location ?? copy.location ?? undefined,
            sizeBytes: copy.sizeBytes ?? undefined,
            sha256: copy.sha256 ?? undefined,
            event: input.ok ? 'repaired' : 'repair-failed',
            error: input.ok ? `copied again from ${input.from.target}` : input.error,
          },
          copy.tenantId,
          workflowId,
        );
      });
    },

    /** What a restore needs: the backup, the target, and every stored copy the target site can read, best first. */
    async loadRestorePlan(input: { restoreId: string }): Promise<RestorePlan> {
      return asActivity(async () => {
        const [row] = await db
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
        return restorePlan(row.r, row.b, row.server, row.site);
      });
    },

    async recordRestore(input: {
      restoreId: string;
      status: 'succeeded' | 'failed' | 'cancelled';
      error?: string;
      copyTarget?: string;
      restoreSeconds?: number;
      rawBytes?: number;
      checks?: DryRunCheck[];
    }): Promise<void> {
      return asActivity(async () => {
        await db
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
        runLogger({ tenant_id: undefined }).info(
          {
            event: { outcome: input.status === 'succeeded' ? 'success' : 'failure' },
            labels: { restore_id: input.restoreId, copy: input.copyTarget },
          },
          `restore ${input.status}`,
        );
      });
    },

    /**
     * A drill per database of the configuration: the newest good backup, restored into a scratch database on the
     * same server. Writes the drill's history rows (running) so the API shows them while they run.
     */
    async planDrill(input: { configId: string }): Promise<DrillTarget[]> {
      return asActivity(async () => {
        const { workflowId } = runInfo();
        const row = await configWithServer(input.configId, 'drill schedule');
        const drill: DrillSpec = row.config.drill ?? {
          schedule: row.config.schedule,
          tolerancePercent: 0,
          assertions: [],
        };
        const out: DrillTarget[] = [];
        const stamp = workflowId.replace(/[^0-9]/g, '').slice(-14) || String(Date.now());
        for (const database of row.config.databases) {
          const [b] = await db
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
          out.push({
            database,
            drill,
            configName: row.config.name,
            plan: await restorePlan(r!, planned ?? b, row.server, row.site),
          });
        }
        return out;
      });
    },

    /**
     * Configurations that should have produced a successful backup by now and have not: the newest success is
     * older than the schedule's interval plus an hour's grace, and not yet alerted for this silence.
     */
    async findMissedBackups(input: { now?: string } = {}): Promise<
      {
        configId: string;
        tenantId: string;
        configName: string;
        siteName: string;
        serverName: string;
        lastSuccessAt: string | null;
        expectedEveryHours: number;
      }[]
    > {
      return asActivity(async () => {
        const now = input.now ? new Date(input.now) : new Date();
        const rows = await db
          .select({
            config: backupConfigs,
            server: servers,
            site: sites,
            last: sql<Date | null>`(select max(${backups.startedAt}) from ${backups} where ${backups.configId} = ${backupConfigs.id} and ${backups.kind} = 'backup' and ${backups.status} in ('succeeded', 'partial'))`,
          })
          .from(backupConfigs)
          .innerJoin(servers, eq(servers.id, backupConfigs.serverId))
          .innerJoin(sites, eq(sites.id, servers.siteId))
          .where(eq(backupConfigs.paused, false));
        const missed = [];
        for (const { config, server, site, last } of rows) {
          const everyMs = expectedIntervalMs(config.schedule);
          const lastAt = last ? new Date(last) : null;
          const since = lastAt ?? config.createdAt;
          if (now.getTime() - since.getTime() <= everyMs + MISSED_GRACE_MS) continue;
          if (config.missedAlertAt && config.missedAlertAt > since) continue; // already said for this silence
          missed.push({
            configId: config.id,
            tenantId: config.tenantId,
            configName: config.name,
            siteName: site.name,
            serverName: server.name,
            lastSuccessAt: lastAt?.toISOString() ?? null,
            expectedEveryHours: Math.round(everyMs / 3_600_000),
          });
        }
        return missed;
      });
    },

    /** A missed-backup alert went out: the same silence is not reported again (marked only once it was sent). */
    async markMissedAlerted(input: { configId: string; now?: string }): Promise<void> {
      return asActivity(async () => {
        await db
          .update(backupConfigs)
          .set({ missedAlertAt: input.now ? new Date(input.now) : new Date() })
          .where(eq(backupConfigs.id, input.configId));
      });
    },

    /** An ECS alert event in the log, and a POST to the tenant's webhook when one is set. */
    async alert(input: AlertInput): Promise<{ webhook: 'sent' | 'none' }> {
      return asActivity(async () => {
        const { workflowId, runId } = runInfo();
        const log = runLogger({
          tenant_id: input.tenantId,
          server: input.serverName,
          database: input.database,
          config_id: input.configId ?? undefined,
        });
        const type = input.event ?? 'backup.failed';
        log.error(
          { event: { kind: 'alert', category: ['database'], type: ['error'], outcome: 'failure', action: type } },
          `${type.replace('.', ' ')}: ${input.message}`,
        );
        const [tenant] = await db
          .select({ webhookUrl: tenants.webhookUrl })
          .from(tenants)
          .where(eq(tenants.id, input.tenantId));
        if (!tenant?.webhookUrl) return { webhook: 'none' };
        const body = { type, workflowId, runId, ...input, at: new Date().toISOString() };
        const res = await doFetch(tenant.webhookUrl, {
          method: 'POST',
          // The same alert sent again (a retry) has the same key; two alerts of one workflow (a watch over many
          // configurations, a sync over many backups) differ in what they say, and so in their keys.
          headers: {
            'content-type': 'application/json',
            'idempotency-key': `${workflowId}:${type}:${createHash('sha256').update(JSON.stringify(input)).digest('hex').slice(0, 32)}`,
          },
          body: JSON.stringify(body),
          signal: AbortSignal.timeout(10_000),
        }).catch((e: Error) => {
          throw new BackupError(
            'unavailable',
            `alert webhook at ${new URL(tenant.webhookUrl!).origin} unreachable: ${(e.cause as Error | undefined)?.message ?? e.name}`,
          );
        });
        if (!res.ok) throw new BackupError('unavailable', `alert webhook answered ${res.status}`);
        return { webhook: 'sent' };
      });
    },
  };
}

export type CentralActivities = ReturnType<typeof createCentralActivities>;
