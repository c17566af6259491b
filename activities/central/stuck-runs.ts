// Rows that say `running` for a run that is over: a run terminated by an operator, or one whose bookkeeping gave up
// after a long metadata database outage, never wrote its outcome. The sweep asks Temporal whether each run still
// runs and, when it does not, records the row as failed so the history never claims work that nobody is doing.
import { WorkflowNotFoundError } from '@temporalio/client';
import { and, eq, lt } from 'drizzle-orm';
import { backupConfigs, backups, restores, servers, sites } from '../../db/schema.ts';
import type { TemporalHandles } from '../../common/temporal.ts';
import { asActivity } from '../failure.ts';
import type { CentralContext } from './context.ts';

/** A run younger than this is left alone: its workflow may not be visible yet, or be about to write its row. */
const STUCK_GRACE_MS = 15 * 60_000;

export interface SettledRun {
  kind: 'backup' | 'restore';
  tenantId: string;
  configId: string | null;
  configName?: string;
  siteName: string;
  serverName?: string;
  database: string;
  error: string;
}

/** 'RUNNING', or how the run ended ('TERMINATED', 'FAILED', …, 'NOT_FOUND' when Temporal no longer knows it). */
async function runStatus(temporal: TemporalHandles, workflowId: string, runId?: string): Promise<string> {
  try {
    const d = await temporal.client.workflow.getHandle(workflowId, runId).describe();
    return d.status.name;
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return 'NOT_FOUND';
    throw err;
  }
}

const endedWithout = (status: string) =>
  `the run ended (${status.toLowerCase().replace('_', ' ')}) without recording an outcome for this database`;

export function createSettleStuckRuns(central: CentralContext) {
  /** Marks `running` rows of runs that are over as failed, once each, and answers them for the alerts. */
  return async function settleStuckRuns(input: { now?: string; graceMs?: number } = {}): Promise<SettledRun[]> {
    return asActivity(async () => {
      const before = new Date((input.now ? Date.parse(input.now) : Date.now()) - (input.graceMs ?? STUCK_GRACE_MS));
      const open = central.openTemporal;
      if (!open) return [];
      const stuckBackups = await central.db
        .select({ id: backups.id, workflowId: backups.workflowId, runId: backups.runId })
        .from(backups)
        .where(and(eq(backups.status, 'running'), lt(backups.startedAt, before)));
      const stuckRestores = await central.db
        .select({ id: restores.id, workflowId: restores.workflowId })
        .from(restores)
        .where(and(eq(restores.status, 'running'), lt(restores.startedAt, before)));
      if (stuckBackups.length === 0 && stuckRestores.length === 0) return [];

      const temporal = await open();
      const settled: SettledRun[] = [];
      try {
        const statuses = new Map<string, string>();
        const statusOf = async (workflowId: string, runId?: string) => {
          const key = `${workflowId}/${runId ?? ''}`;
          if (!statuses.has(key)) statuses.set(key, await runStatus(temporal, workflowId, runId));
          return statuses.get(key)!;
        };
        for (const row of stuckBackups) {
          const status = await statusOf(row.workflowId, row.runId);
          if (status === 'RUNNING') continue;
          settled.push(...(await settleBackup(central, row.id, endedWithout(status))));
        }
        for (const row of stuckRestores) {
          const status = await statusOf(row.workflowId);
          if (status === 'RUNNING') continue;
          settled.push(...(await settleRestore(central, row.id, endedWithout(status))));
        }
      } finally {
        await temporal.connection.close();
      }
      for (const s of settled)
        central
          .runLogger({ tenant_id: s.tenantId, database: s.database })
          .warn({ event: { outcome: 'failure' } }, s.error);
      return settled;
    });
  };
}

/** Only a row still `running` changes: a sweep run twice (or racing the run's own write) settles it once. */
async function settleBackup(central: CentralContext, id: string, error: string): Promise<SettledRun[]> {
  const changed = await central.db
    .update(backups)
    .set({ status: 'failed', error, finishedAt: new Date() })
    .where(and(eq(backups.id, id), eq(backups.status, 'running')))
    .returning({ tenantId: backups.tenantId, configId: backups.configId, database: backups.database });
  if (changed.length === 0) return [];
  const [names] = await central.db
    .select({ configName: backupConfigs.name, siteName: sites.name, serverName: servers.name })
    .from(backups)
    .leftJoin(backupConfigs, eq(backupConfigs.id, backups.configId))
    .innerJoin(sites, eq(sites.id, backups.siteId))
    .innerJoin(servers, eq(servers.id, backups.serverId))
    .where(eq(backups.id, id));
  return changed.map((c) => ({
    kind: 'backup' as const,
    ...c,
    configName: names?.configName ?? undefined,
    siteName: names?.siteName ?? '',
    serverName: names?.serverName,
    error,
  }));
}

async function settleRestore(central: CentralContext, id: string, error: string): Promise<SettledRun[]> {
  const changed = await central.db
    .update(restores)
    .set({ status: 'failed', error, finishedAt: new Date() })
    .where(and(eq(restores.id, id), eq(restores.status, 'running')))
    .returning({ tenantId: restores.tenantId, configId: restores.configId, database: restores.targetDatabase });
  if (changed.length === 0) return [];
  const [names] = await central.db
    .select({ siteName: sites.name, serverName: servers.name })
    .from(restores)
    .innerJoin(sites, eq(sites.id, restores.targetSiteId))
    .innerJoin(servers, eq(servers.id, restores.targetServerId))
    .where(eq(restores.id, id));
  return changed.map((c) => ({
    kind: 'restore' as const,
    ...c,
    siteName: names?.siteName ?? '',
    serverName: names?.serverName,
    error,
  }));
}
