// Erasing a tenant, the last central steps: every metadata row of the tenant, then the signed report, kept after it.
import { and, eq, inArray, sql } from 'drizzle-orm';
import type { PgColumn, PgTable } from 'drizzle-orm/pg-core';
import { BackupError } from '../../common/errors.ts';
import { readErasureKey, signReport, type ErasureReport } from '../../common/erasure.ts';
import type { Tx } from '../../db/client.ts';
import {
  auditLog,
  backupConfigs,
  backupCopies,
  backupDaily,
  backups,
  copyEvents,
  destinations,
  erasureReports,
  restores,
  runTriggers,
  servers,
  sites,
  tenantDomains,
  tenants,
  users,
} from '../../db/schema.ts';
import { asActivity } from '../failure.ts';
import type { CentralContext } from './context.ts';

/**
 * The tenant's tables, children before parents, so that no `restrict` foreign key refuses a delete. A table added
 * later with a `tenant_id` column is found in the catalogue and emptied first (see `deleteTenantRows`).
 */
const TENANT_TABLES: { name: string; table: PgTable; key: PgColumn }[] = [
  { name: 'copy_events', table: copyEvents, key: copyEvents.tenantId },
  { name: 'backup_copies', table: backupCopies, key: backupCopies.tenantId },
  { name: 'run_triggers', table: runTriggers, key: runTriggers.tenantId },
  { name: 'restores', table: restores, key: restores.tenantId },
  { name: 'backups', table: backups, key: backups.tenantId },
  // After backups: the trigger that keeps the daily sums writes a row for each backup deleted.
  { name: 'backup_daily', table: backupDaily, key: backupDaily.tenantId },
  { name: 'backup_configs', table: backupConfigs, key: backupConfigs.tenantId },
  { name: 'destinations', table: destinations, key: destinations.tenantId },
  { name: 'servers', table: servers, key: servers.tenantId },
  { name: 'sites', table: sites, key: sites.tenantId },
  { name: 'tenant_domains', table: tenantDomains, key: tenantDomains.tenantId },
  { name: 'audit_log', table: auditLog, key: auditLog.tenantId },
  { name: 'users', table: users, key: users.tenantId },
  { name: 'tenants', table: tenants, key: tenants.id },
];
/** Tables with a tenant_id that are not the tenant's data: the erasure reports outlive the tenant. */
const KEPT_TABLES = new Set(['erasure_reports']);

export function createDeleteTenantRows(central: CentralContext) {
  /** Every row of the tenant, in one transaction; answers the count per table (a second run finds zeros). */
  return async function deleteTenantRows(input: { tenantId: string }): Promise<{ rows: Record<string, number> }> {
    return asActivity(async () => {
      const rows: Record<string, number> = {};
      await central.db.transaction(async (tx) => {
        const known = new Set(TENANT_TABLES.map((t) => t.name));
        for (const name of await tablesWithTenantId(tx)) {
          if (known.has(name) || KEPT_TABLES.has(name)) continue;
          const res = await tx.execute(
            sql`delete from ${sql.identifier(name)} where tenant_id = ${input.tenantId} returning 1`,
          );
          rows[name] = rowsOf(res).length;
        }
        for (const t of TENANT_TABLES) {
          const gone = await tx
            .delete(t.table)
            .where(eq(t.key, input.tenantId))
            .returning({ one: sql<number>`1` });
          rows[t.name] = gone.length;
        }
      });
      central.runLogger({ tenant_id: input.tenantId }).info({ labels: rows }, 'tenant rows erased');
      return { rows };
    });
  };
}

/** postgres.js answers rows as an array, PGlite as `{ rows }`. */
const rowsOf = <R>(res: unknown): R[] => (Array.isArray(res) ? res : (res as { rows: R[] }).rows);

/** Every table of the metadata schema with a `tenant_id` column. */
export async function tablesWithTenantId(tx: Pick<Tx, 'execute'>): Promise<string[]> {
  const res = await tx.execute(sql`select table_name from information_schema.columns
    where column_name = 'tenant_id' and table_schema = current_schema() order by table_name`);
  return rowsOf<{ table_name: string }>(res).map((r) => r.table_name);
}

export function createFinishTenantErasure(central: CentralContext, signingKeyFile: string | undefined) {
  /** Signs the report and keeps it for the requester; the same report is signed again on a retry (same bytes). */
  return async function finishTenantErasure(input: {
    erasureId: string;
    report: Omit<ErasureReport, 'requestedBy' | 'requestedAt' | 'finishedAt' | 'version' | 'erasureId'>;
  }): Promise<{ signed: true }> {
    return asActivity(async () => {
      if (!signingKeyFile)
        throw new BackupError('invalid', 'set ERASURE_SIGNING_KEY_FILE on the central worker to sign erasure reports');
      const key = await readErasureKey(signingKeyFile);
      const [row] = await central.db.select().from(erasureReports).where(eq(erasureReports.id, input.erasureId));
      if (!row) throw new BackupError('invalid', `erasure ${input.erasureId} has no record`);
      if (row.status === 'done') return { signed: true };
      const finishedAt = new Date();
      const report: ErasureReport = {
        version: 1,
        erasureId: row.id,
        requestedBy: row.requested.requestedBy,
        requestedAt: row.requestedAt.toISOString(),
        finishedAt: finishedAt.toISOString(),
        ...input.report,
        tenantId: row.tenantId,
        // The users went when the erasure was asked for (their sessions ended then): counted with the rest.
        rows: { ...input.report.rows, users: (input.report.rows['users'] ?? 0) + row.requested.usersDeleted },
      };
      const { payload, signature } = signReport(report, key);
      await central.db
        .update(erasureReports)
        .set({ status: 'done', finishedAt, payload, signature })
        .where(and(eq(erasureReports.id, row.id), inArray(erasureReports.status, ['running'])));
      central.runLogger({ tenant_id: row.tenantId }).info({ labels: { erasure_id: row.id } }, 'erasure report signed');
      return { signed: true };
    });
  };
}
