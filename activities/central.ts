// Activities on the central worker: the ones that read or write the metadata database or tenant-wide state.
import { and, eq, inArray } from 'drizzle-orm';
import { Context } from '@temporalio/activity';
import { withRunLabels, type Logger } from '../common/logger.ts';
import { BackupError } from '../common/errors.ts';
import type { Db } from '../db/client.ts';
import { backupConfigs, backups, servers, sites, tenants, type BackupStatus, type CleanTable, type Engine } from '../db/schema.ts';
import { asActivity } from './failure.ts';

/** Timeouts and retry pacing the workflow applies; set by the central worker's environment. */
export interface RunTuning {
  dumpHeartbeatTimeoutMs: number;
  dumpTimeoutMs: number;
  sitePickupTimeoutMs: number;
  retryInitialMs: number;
}

/** What one run needs to know, read once at its start so a configuration edited mid-run does not change it. */
export interface BackupPlan {
  tenantId: string;
  configId: string;
  configName: string;
  siteId: string;
  siteName: string;
  taskQueue: string;
  serverId: string;
  serverName: string;
  engine: Engine;
  databases: string[];
  cleanTables: CleanTable[];
  keepLocal: number;
  tuning: RunTuning;
}

export interface BackupRef {
  tenantId: string;
  configId: string;
  siteId: string;
  serverId: string;
  database: string;
}

export interface BackupOutcome extends BackupRef {
  status: Exclude<BackupStatus, 'running'>;
  startedAt: string;
  fileName?: string;
  sizeBytes?: number;
  sha256?: string;
  location?: string;
  error?: string;
}

export interface AlertInput {
  tenantId: string;
  configId: string;
  configName: string;
  serverName: string;
  siteName: string;
  database?: string;
  message: string;
}

export function createCentralActivities(deps: { db: Db; logger: Logger; tuning: RunTuning; fetch?: typeof fetch }) {
  const { db, tuning } = deps;
  const doFetch = deps.fetch ?? fetch;

  function runInfo() {
    const info = Context.current().info;
    return { workflowId: info.workflowExecution?.workflowId ?? '', runId: info.workflowExecution?.runId ?? '', info };
  }

  function runLogger(labels: { tenant_id?: string; site_id?: string; server?: string; database?: string; config_id?: string }) {
    const { workflowId, runId, info } = runInfo();
    return withRunLabels(deps.logger, { workflow_id: workflowId, run_id: runId, activity: info.activityType, attempt: info.attempt, ...labels });
  }

  return {
    async loadBackupPlan(input: { configId: string }): Promise<BackupPlan> {
      return asActivity(async () => {
        const [row] = await db
          .select({ config: backupConfigs, server: servers, site: sites })
          .from(backupConfigs)
          .innerJoin(servers, eq(servers.id, backupConfigs.serverId))
          .innerJoin(sites, eq(sites.id, servers.siteId))
          .where(eq(backupConfigs.id, input.configId));
        if (!row) throw new BackupError('invalid', `backup configuration ${input.configId} no longer exists; delete its schedule`, { code: 'ConfigNotFound' });
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

    /** Writes the outcome of one database in this run; running it twice gives the same row. */
    async recordBackup(input: BackupOutcome): Promise<void> {
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
        };
        await db
          .insert(backups)
          .values({ tenantId: input.tenantId, configId: input.configId, siteId: input.siteId, serverId: input.serverId, database: input.database, workflowId, startedAt: new Date(input.startedAt), ...values })
          .onConflictDoUpdate({ target: [backups.workflowId, backups.database], set: values });
        runLogger({ tenant_id: input.tenantId, site_id: input.siteId, database: input.database, config_id: input.configId })
          .info({ event: { outcome: input.status === 'succeeded' ? 'success' : 'failure' }, file: { name: input.fileName, size: input.sizeBytes } }, `backup ${input.status}`);
      });
    },

    /** The site deleted these files: their history rows no longer have a site copy. */
    async markPruned(input: { tenantId: string; serverId: string; database: string; fileNames: string[] }): Promise<number> {
      return asActivity(async () => {
        if (input.fileNames.length === 0) return 0;
        const rows = await db
          .update(backups)
          .set({ location: null, availableForDownload: false })
          .where(and(eq(backups.tenantId, input.tenantId), eq(backups.serverId, input.serverId), eq(backups.database, input.database), inArray(backups.fileName, input.fileNames)))
          .returning({ id: backups.id });
        return rows.length;
      });
    },

    /** An ECS alert event in the log, and a POST to the tenant's webhook when one is set. */
    async alert(input: AlertInput): Promise<{ webhook: 'sent' | 'none' }> {
      return asActivity(async () => {
        const { workflowId, runId } = runInfo();
        const log = runLogger({ tenant_id: input.tenantId, server: input.serverName, database: input.database, config_id: input.configId });
        log.error({ event: { kind: 'alert', category: ['database'], type: ['error'], outcome: 'failure' } }, `backup failed: ${input.message}`);
        const [tenant] = await db.select({ webhookUrl: tenants.webhookUrl }).from(tenants).where(eq(tenants.id, input.tenantId));
        if (!tenant?.webhookUrl) return { webhook: 'none' };
        const body = { type: 'backup.failed', workflowId, runId, ...input, at: new Date().toISOString() };
        const res = await doFetch(tenant.webhookUrl, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'idempotency-key': `${workflowId}:${input.database ?? ''}` },
          body: JSON.stringify(body),
          signal: AbortSignal.timeout(10_000),
        }).catch((e: Error) => {
          throw new BackupError('unavailable', `alert webhook unreachable: ${e.message}`);
        });
        if (!res.ok) throw new BackupError('unavailable', `alert webhook answered ${res.status}`);
        return { webhook: 'sent' };
      });
    },
  };
}

export type CentralActivities = ReturnType<typeof createCentralActivities>;
