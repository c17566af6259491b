// Erasing a tenant, the central steps: its schedules and workflow executions in Temporal, the plan of the files each
// of its sites must delete, every metadata row, and the signed report. Each step is idempotent: run again after a
// crash, it finds less to delete and says so.
import { Context } from '@temporalio/activity';
import { ScheduleNotFoundError, WorkflowNotFoundError } from '@temporalio/client';
import { eq } from 'drizzle-orm';
import { BackupError } from '../../common/errors.ts';
import { SITE_TARGET } from '../../common/model.ts';
import {
  backupWorkflowIdPrefix,
  drillScheduleId,
  mirrorScheduleId,
  scheduleId,
  SearchAttr,
  verifyScheduleId,
} from '../../common/names.ts';
import type { TemporalHandles } from '../../common/temporal.ts';
import { backupConfigs, backupCopies, backups, destinations, objectMirrors, restores, sites } from '../../db/schema.ts';
import { asActivity } from '../failure.ts';
import type { CentralContext } from './context.ts';

/** What one site must delete: the keys on record per target, and the folder to sweep for any the records missed. */
export interface SiteErasure {
  siteId: string;
  taskQueue: string;
  targets: { target: string; kind: string; keys: string[]; sweepPrefix: string }[];
}

async function withTemporal<T>(central: CentralContext, fn: (t: TemporalHandles) => Promise<T>): Promise<T> {
  if (!central.openTemporal)
    throw new BackupError('invalid', 'this central worker has no Temporal client: erasure cannot reach Temporal');
  const t = await central.openTemporal();
  try {
    return await fn(t);
  } finally {
    await t.connection.close().catch(() => undefined);
  }
}

const configIdsOf = async (central: CentralContext, tenantId: string) =>
  (
    await central.db.select({ id: backupConfigs.id }).from(backupConfigs).where(eq(backupConfigs.tenantId, tenantId))
  ).map((r) => r.id);

export function createEraseTenantSchedules(central: CentralContext) {
  /** Pauses every schedule of the tenant's configurations and mirrors, then deletes them; answers the ids deleted. */
  return async function eraseTenantSchedules(input: { tenantId: string }): Promise<{ schedules: string[] }> {
    return asActivity(async () => {
      const mirrors = await central.db
        .select({ id: objectMirrors.id })
        .from(objectMirrors)
        .where(eq(objectMirrors.tenantId, input.tenantId));
      const ids = [
        ...(await configIdsOf(central, input.tenantId)).flatMap((c) => [
          scheduleId(c),
          verifyScheduleId(c),
          drillScheduleId(c),
        ]),
        ...mirrors.map((m) => mirrorScheduleId(m.id)),
      ];
      return withTemporal(central, async ({ client }) => {
        const present: string[] = [];
        for (const id of ids) {
          try {
            await client.schedule.getHandle(id).pause('tenant erasure');
            present.push(id);
          } catch (err) {
            if (!(err instanceof ScheduleNotFoundError)) throw err;
          }
        }
        // All paused before any goes: none starts a run of the tenant while the others are being deleted.
        for (const id of present) {
          await client.schedule
            .getHandle(id)
            .delete()
            .catch((err: unknown) => {
              if (!(err instanceof ScheduleNotFoundError)) throw err;
            });
        }
        central
          .runLogger({ tenant_id: input.tenantId })
          .info({ labels: { count: present.length } }, 'schedules erased');
        return { schedules: present };
      });
    });
  };
}

/** The prefixes of every workflow id the platform gives a configuration's or a restore's runs. */
function workflowPrefixes(configIds: string[], restoreIds: string[], tenantId: string): string[] {
  return [
    ...configIds.flatMap((c) => [
      `${backupWorkflowIdPrefix(c)}-`,
      `verify-${c}-`,
      `drill-${c}-`,
      `dryrun-${c}-`,
      `prune-${c}-`,
    ]),
    ...restoreIds.map((r) => `restore-${r}`),
    `sync-${tenantId}-`,
  ];
}

const quote = (s: string) => `'${s.replaceAll("'", '')}'`;

export function createEraseTenantWorkflows(central: CentralContext) {
  /**
   * Deletes every workflow execution of the tenant from Temporal (a running one is terminated by it): those tagged
   * with the tenant's search attribute and those whose ids name its configurations, restores or syncs. Visibility is
   * updated asynchronously, so the activity lists again until nothing of the tenant is left, heartbeating meanwhile.
   */
  return async function eraseTenantWorkflows(input: {
    tenantId: string;
  }): Promise<{ workflows: { workflowId: string; runId: string }[] }> {
    return asActivity(async () => {
      const configIds = await configIdsOf(central, input.tenantId);
      const restoreIds = (
        await central.db.select({ id: restores.id }).from(restores).where(eq(restores.tenantId, input.tenantId))
      ).map((r) => r.id);
      const queries = [
        `${SearchAttr.tenant.name} = ${quote(input.tenantId)}`,
        ...workflowPrefixes(configIds, restoreIds, input.tenantId).map((p) => `WorkflowId STARTS_WITH ${quote(p)}`),
      ];
      const ctx = Context.current();
      return withTemporal(central, async ({ client, connection, namespace }) => {
        // What an earlier attempt deleted (it heartbeats the list): an attempt that gave up after deleting, on a slow
        // Temporal, must not leave a retry that finds nothing to report the executions it erased.
        const prior = (ctx.info.heartbeatDetails as { deleted?: { workflowId: string; runId: string }[] } | undefined)
          ?.deleted;
        const deleted = new Map((prior ?? []).map((w) => [w.runId, w] as const));
        for (let round = 0; ; round++) {
          const found: { workflowId: string; runId: string }[] = [];
          for (const query of queries)
            for await (const w of client.workflow.list({ query }))
              found.push({ workflowId: w.workflowId, runId: w.runId });
          const fresh = found.filter((w) => !deleted.has(w.runId));
          if (found.length === 0) break;
          if (round > 600)
            // about five minutes of a visibility store that lags behind its deletions
            throw new BackupError('unavailable', `Temporal still lists ${found.length} workflow(s) of the tenant`);
          for (const w of fresh) {
            try {
              await connection.workflowService.deleteWorkflowExecution({
                namespace,
                workflowExecution: { workflowId: w.workflowId, runId: w.runId },
              });
            } catch (err) {
              // Already gone (deleted in an earlier attempt): its visibility record is on its way out.
              if (!(err instanceof WorkflowNotFoundError) && (err as { code?: number }).code !== 5) throw err;
            }
            deleted.set(w.runId, w);
          }
          ctx.heartbeat({ deleted: [...deleted.values()] });
          await new Promise((r) => setTimeout(r, 500));
        }
        central
          .runLogger({ tenant_id: input.tenantId })
          .info({ labels: { count: deleted.size } }, 'workflow executions erased');
        return { workflows: [...deleted.values()] };
      });
    });
  };
}

export function createPlanTenantErasure(central: CentralContext) {
  /**
   * Per site of the tenant, what to delete: its Backups folder (every key on record, then the whole folder swept:
   * the site is the tenant's) and each destination registered at it (every key on record, then `<tenant>/` swept).
   */
  return async function planTenantErasure(input: { tenantId: string }): Promise<SiteErasure[]> {
    return asActivity(async () => {
      const db = central.db;
      const siteRows = await db
        .select({ id: sites.id, taskQueue: sites.taskQueue })
        .from(sites)
        .where(eq(sites.tenantId, input.tenantId))
        .orderBy(sites.id);
      const destRows = await db
        .select({ siteId: destinations.siteId, name: destinations.name, kind: destinations.kind })
        .from(destinations)
        .where(eq(destinations.tenantId, input.tenantId))
        .orderBy(destinations.name);
      const copies = await db
        .select({ siteId: backups.siteId, target: backupCopies.target, key: backupCopies.objectKey })
        .from(backupCopies)
        .innerJoin(backups, eq(backups.id, backupCopies.backupId))
        .where(eq(backupCopies.tenantId, input.tenantId))
        .orderBy(backupCopies.objectKey);
      const keysOf = (siteId: string, target: string) => [
        ...new Set(copies.filter((c) => c.siteId === siteId && c.target === target).map((c) => c.key)),
      ];
      return siteRows.map((s) => ({
        siteId: s.id,
        taskQueue: s.taskQueue,
        targets: [
          { target: SITE_TARGET, kind: 'site', keys: keysOf(s.id, SITE_TARGET), sweepPrefix: '' },
          ...destRows
            .filter((d) => d.siteId === s.id)
            .map((d) => ({ target: d.name, kind: d.kind, keys: keysOf(s.id, d.name), sweepPrefix: input.tenantId })),
        ],
      }));
    });
  };
}
