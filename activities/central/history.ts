// A run's history: one row per database of the run, written as running when it starts and with its outcome at the
// end, plus the site copy's row when the dump succeeded. Running either twice gives the same rows.
import { sql } from 'drizzle-orm';
import { SITE_TARGET, type BackupKind, type BackupStatus, type TableCount } from '../../common/model.ts';
import { backupCopies, backups, copyEvents, runTriggers } from '../../db/schema.ts';
import type { Db } from '../../db/client.ts';
import type { RowsRemoved } from '../contracts.ts';
import { asActivity } from '../failure.ts';
import { runsTotal } from '../../common/metrics.ts';
import type { CentralContext } from './context.ts';

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

/** The user who asked for this run (run now), as the API recorded it; null for a scheduled run. */
const triggeredBy = (runId: string) =>
  sql<string | null>`(select ${runTriggers.triggeredBy} from ${runTriggers} where ${runTriggers.runId} = ${runId})`;

export function createRecordBackupStarted(central: CentralContext) {
  /** Writes the history row of one database in this run as running; a retry leaves it as it is. */
  return async function recordBackupStarted(
    input: BackupRef & { startedAt: string; kind?: BackupKind },
  ): Promise<void> {
    return asActivity(async () => {
      const { workflowId, runId } = central.runInfo();
      await central.db
        .insert(backups)
        .values({
          ...input,
          workflowId,
          runId,
          startedAt: new Date(input.startedAt),
          status: 'running',
          triggeredBy: triggeredBy(runId),
        })
        .onConflictDoNothing({ target: [backups.runId, backups.database] });
    });
  };
}

export function createRecordBackup(central: CentralContext) {
  /**
   * Writes the outcome of one database in this run, and the site copy when there is one; running it twice gives
   * the same rows. Answers the history row's id, which the copies of this backup refer to.
   */
  return async function recordBackup(input: BackupOutcome): Promise<{ backupId: string }> {
    return asActivity(async () => {
      const run = central.runInfo();
      const { workflowId, runId } = run;
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
      const { backupId, user } = await central.db.transaction(async (tx) => {
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
            triggeredBy: triggeredBy(runId),
          })
          .onConflictDoUpdate({
            target: [backups.runId, backups.database],
            // Who asked for the run, if the API recorded it after the row's start.
            set: { ...values, triggeredBy: sql`coalesce(${backups.triggeredBy}, ${triggeredBy(runId)})` },
          })
          .returning({ id: backups.id, triggeredBy: backups.triggeredBy });
        if (input.status === 'succeeded' && input.siteKey) await recordSiteCopy(tx, input, input.siteKey, row!.id, run);
        return { backupId: row!.id, user: row!.triggeredBy };
      });
      runsTotal.inc({ outcome: input.status });
      central
        .runLogger({
          tenant_id: input.tenantId,
          site_id: input.siteId,
          database: input.database,
          config_id: input.configId,
        })
        .info(
          // The backup outcome line the Kibana dashboard (ops/elk/kibana.ndjson) is drawn from.
          {
            event: { action: 'backup', outcome: input.status === 'succeeded' ? 'success' : 'failure' },
            file: { name: input.fileName, size: input.sizeBytes, path: input.location, hash: { sha256: input.sha256 } },
            ...(user && { user: { email: user } }),
            ...(input.error && { error: { message: input.error } }),
            labels: { backup_kind: input.kind ?? 'backup', server_id: input.serverId, encrypted: !!input.encrypted },
          },
          `backup ${input.status}`,
        );
      return { backupId };
    });
  };
}

/** The dump's file at the site is the backup's first stored copy. */
async function recordSiteCopy(
  tx: Pick<Db, 'insert'>,
  input: BackupOutcome,
  siteKey: string,
  backupId: string,
  { workflowId, activityKey }: { workflowId: string; activityKey: string },
): Promise<void> {
  const copy = {
    objectKey: siteKey,
    location: input.location ?? null,
    sizeBytes: input.sizeBytes ?? null,
    sha256: input.sha256 ?? null,
    state: 'stored' as const,
    storedAt: new Date(),
    checkedAt: new Date(),
  };
  const [c] = await tx
    .insert(backupCopies)
    .values({ tenantId: input.tenantId, backupId, target: SITE_TARGET, ...copy })
    .onConflictDoUpdate({ target: [backupCopies.backupId, backupCopies.target], set: copy })
    .returning({ id: backupCopies.id });
  await tx
    .insert(copyEvents)
    .values({ tenantId: input.tenantId, copyId: c!.id, event: 'stored', workflowId, activityKey })
    .onConflictDoNothing();
}
