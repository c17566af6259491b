// The order of one backup run. No I/O here: every step is an activity the Web UI shows by name.
import {
  ApplicationFailure,
  CancellationScope,
  isCancellation,
  log,
  patched,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { BackupRef } from '../activities/central/history.ts';
import type { BackupPlan, DryRunReport, DumpResult, RowsRemoved } from '../activities/contracts.ts';
import { GLOBALS_DATABASE, isAllDatabases, SITE_TARGET } from '../common/model.ts';
import { backupFileName, COMPRESSION_EXT, offsiteKey, runSearchAttributes, runTag } from '../common/names.ts';
import { bookkeeping, describeFailure, siteActivities } from './activities.ts';
import { alertQuietly } from './alert.ts';
import { runDatabases } from './databases.ts';
import { dumpGlobals, type GlobalsJob } from './globals.ts';
import { applyRetention } from './prune.ts';

export interface BackupWorkflowInput {
  configId: string;
}

export interface BackupWorkflowResult {
  succeeded: string[];
  /** Databases whose dump is safe at the site but at least one destination did not take its copy. */
  partial: { database: string; failedCopies: string[] }[];
  failed: { database: string; error: string }[];
}

export async function backupWorkflow(input: BackupWorkflowInput): Promise<BackupWorkflowResult> {
  const plan = await bookkeeping().loadBackupPlan({ configId: input.configId });
  upsertSearchAttributes(runSearchAttributes(plan));
  const site = siteActivities(plan.taskQueue, plan.tuning);

  const startedAt = workflowInfo().startTime;
  const result: BackupWorkflowResult = { succeeded: [], partial: [], failed: [] };
  const databases = await runDatabases(plan, site, startedAt);
  // The server's roles and grants first: a restore needs them before the databases. Their own history row and file.
  if (plan.globals && patched('pg-globals'))
    await backupDatabase(plan, site, GLOBALS_DATABASE, startedAt, result, { databases });
  for (const database of databases) await backupDatabase(plan, site, database, startedAt, result);

  await applyRetention(plan, site);

  if (result.failed.length > 0 || result.partial.length > 0) throw runFailure(databases.length, result);
  return result;
}

export type SiteStubs = ReturnType<typeof siteActivities>;

/** How far one database's run got: what a failure after it must record or remove depends on it. */
interface DatabaseProgress {
  /** The dump's file at the site, once the dump finished. */
  dumped?: string;
  /** The history row of the recorded dump; once it exists, a later failure does not unmake the backup. */
  backupId?: string;
}

/**
 * One database of the run, start to end: its history row, the dump, its off-site copies; the outcome goes into
 * `result`. A failure is recorded and alerted, and the run goes on with the next database; a cancellation ends it.
 * With `globals`, the same for the server's globals (history kind `globals`, database GLOBALS_DATABASE).
 */
async function backupDatabase(
  plan: BackupPlan,
  site: SiteStubs,
  database: string,
  startedAt: Date,
  result: BackupWorkflowResult,
  globals?: GlobalsJob,
): Promise<void> {
  const ref: BackupRef = {
    tenantId: plan.tenantId,
    configId: plan.configId,
    siteId: plan.siteId,
    serverId: plan.serverId,
    database,
  };
  const fileName = backupFileName(
    database,
    startedAt,
    globals ? 'json' : plan.format,
    COMPRESSION_EXT[plan.compression.algorithm],
    plan.encrypt,
    // Runs already under way when this shipped keep the names their history has.
    patched('run-tag-in-file-name') ? runTag(workflowInfo().runId) : undefined,
  );
  const ledger = bookkeeping(plan.tuning);
  const kind = globals ? ('globals' as const) : undefined;
  await ledger.recordBackupStarted({ ...ref, ...(kind && { kind }), startedAt: startedAt.toISOString() });
  const progress: DatabaseProgress = {};
  try {
    const { backupId, file } = await dumpAndRecord(plan, site, ref, fileName, startedAt, progress, globals);
    const failedCopies = await copyOffsite(plan, site, { backupId, database, file });
    if (failedCopies.length === 0) result.succeeded.push(database);
    else {
      result.partial.push({ database, failedCopies });
      await alertQuietly(
        plan,
        database,
        `the backup is safe at the site, but ${failedCopies.length} of ${plan.destinations.length} off-site copies failed: ${failedCopies.join('; ')}`,
        'backup.partial',
      );
    }
  } catch (err) {
    const cancelled = isCancellation(err);
    const error = describeFailure(err, plan.siteName);
    await CancellationScope.nonCancellable(async () => {
      // Once the dump is recorded, a failure after it (a copy, a cancel) does not unmake the backup.
      if (!progress.backupId)
        await ledger.recordBackup({
          ...ref,
          ...(kind && { kind }),
          status: cancelled ? 'cancelled' : 'failed',
          startedAt: startedAt.toISOString(),
          error,
        });
      // A dump that finished just as the run was cancelled was never recorded: no history row names its file, so
      // retention would never remove it. It goes now. A dump that could not be recorded (the metadata database
      // stayed down past the bookkeeping timeout) is kept: a good backup is never thrown away for want of a row.
      // (Runs under way before this shipped removed it in both cases.)
      const removeUnrecorded = cancelled || !patched('keep-unrecorded-dump');
      if (!progress.backupId && progress.dumped && !removeUnrecorded)
        log.warn('dump kept at the site although its history could not be recorded', { file: progress.dumped });
      if (!progress.backupId && progress.dumped && removeUnrecorded)
        await site.quick
          .deleteCopies({ target: SITE_TARGET, keys: [progress.dumped] })
          .catch((e: unknown) => log.warn('unrecorded dump not removed', { error: String(e) }));
      if (!cancelled) await alertQuietly(plan, database, error, 'backup.failed');
    });
    if (cancelled) throw err;
    result.failed.push({ database, error });
  }
}

/**
 * Cleans the tables, dumps the database at the site (or, with `globals`, the server's globals), and records the dump
 * as the backup's history row.
 */
async function dumpAndRecord(
  plan: BackupPlan,
  site: SiteStubs,
  ref: BackupRef,
  fileName: string,
  startedAt: Date,
  progress: DatabaseProgress,
  globals?: GlobalsJob,
): Promise<{ backupId: string; file: DumpResult }> {
  const { database } = ref;
  let file: DumpResult;
  let rowsRemoved: RowsRemoved[] | undefined;
  if (globals) file = await dumpGlobals(plan, site, fileName, globals.databases);
  else {
    const cleaned = await site.quick.cleanTables({ serverName: plan.serverName, database, tables: plan.cleanTables });
    rowsRemoved = cleaned.rowsRemoved;
    file = await site.long.dump({
      serverName: plan.serverName,
      database,
      fileName,
      excludeTableData: cleaned.excludeTableData,
      compression: plan.compression,
      encrypt: plan.encrypt,
    });
  }
  progress.dumped = file.path;
  const { backupId } = await bookkeeping(plan.tuning).recordBackup({
    ...ref,
    ...(globals && { kind: 'globals' as const }),
    status: 'succeeded',
    startedAt: startedAt.toISOString(),
    fileName: file.fileName,
    sizeBytes: file.sizeBytes,
    sha256: file.sha256,
    location: `site:${file.path}`,
    siteKey: file.path,
    compression: file.compression,
    encrypted: file.encrypted,
    keyId: file.keyId,
    tableCounts: file.tableCounts,
    rowsRemoved,
  });
  progress.backupId = backupId;
  return { backupId, file };
}

/** The run fails when a database failed or lacks an off-site copy; the failure carries the whole result. */
function runFailure(total: number, result: BackupWorkflowResult): ApplicationFailure {
  const problems = [
    ...result.failed.map((f) => `${f.database}: ${f.error}`),
    ...result.partial.map((p) => `${p.database}: copies failed (${p.failedCopies.join('; ')})`),
  ];
  const what =
    result.failed.length > 0
      ? `${result.failed.length} of ${total} database backups failed`
      : `${result.partial.length} of ${total} backups are missing off-site copies`;
  return ApplicationFailure.nonRetryable(
    `${what}: ${problems.join('; ')}`,
    result.failed.length > 0 ? 'BackupFailed' : 'BackupPartial',
    result,
  );
}

/**
 * One upload per destination, each on its own: a destination that is down costs only its own copy. Each outcome is
 * recorded on the backup's history, so the run's state says which copies exist. Answers the failures.
 */
async function copyOffsite(
  plan: BackupPlan,
  site: SiteStubs,
  b: {
    backupId: string;
    database: string;
    file: { fileName: string; path: string; sizeBytes: number; sha256: string };
  },
): Promise<string[]> {
  const failures: string[] = [];
  for (const dest of plan.destinations) {
    const key = offsiteKey(plan.tenantId, plan.siteId, plan.serverName, b.database, b.file.fileName);
    const copy = {
      tenantId: plan.tenantId,
      backupId: b.backupId,
      target: dest.name,
      destinationId: dest.id,
      key,
      sizeBytes: b.file.sizeBytes,
      sha256: b.file.sha256,
    };
    try {
      const up = await site.long.upload({
        source: { target: 'site', key: b.file.path },
        target: dest.name,
        key,
        sizeBytes: b.file.sizeBytes,
        sha256: b.file.sha256,
      });
      await bookkeeping(plan.tuning).recordCopy({ ...copy, state: 'stored', location: up.location, event: 'stored' });
    } catch (err) {
      if (isCancellation(err)) throw err;
      const error = describeFailure(err, plan.siteName);
      failures.push(`${dest.name}: ${error}`);
      await bookkeeping(plan.tuning).recordCopy({ ...copy, state: 'missing', error, event: 'missing' });
    }
  }
  return failures;
}

/** Checks everything a backup of this configuration needs and stores nothing; the report is the result. */
export async function dryRunWorkflow(input: BackupWorkflowInput): Promise<DryRunReport> {
  const plan = await bookkeeping().loadBackupPlan({ configId: input.configId });
  const site = siteActivities(plan.taskQueue, plan.tuning);
  const startedAt = workflowInfo().startTime.toISOString();
  const ref = {
    tenantId: plan.tenantId,
    configId: plan.configId,
    siteId: plan.siteId,
    serverId: plan.serverId,
    database: plan.databases.join(', '),
  };
  let report: DryRunReport;
  try {
    // With "*", the databases a run would back up now (nothing is reported as gone: a dry run changes nothing).
    const databases =
      isAllDatabases(plan.databases) && patched('discover-databases')
        ? await site.quick.discoverDatabases({ serverName: plan.serverName, exclude: plan.excludeDatabases })
        : plan.databases;
    report = await site.quick.dryRun({
      serverName: plan.serverName,
      databases,
      tables: plan.cleanTables,
      destinations: plan.destinations.map((d) => d.name),
      encrypt: plan.encrypt,
    });
  } catch (err) {
    const error = describeFailure(err, plan.siteName);
    report = {
      ok: false,
      checks: [{ name: 'site worker', ok: false, detail: error }],
      estimatedBytes: 0,
      estimatedSeconds: 0,
      freeBytes: 0,
    };
  }
  const failed = report.checks.filter((c) => !c.ok);
  await bookkeeping(plan.tuning).recordBackup({
    ...ref,
    kind: 'dry-run',
    status: report.ok ? 'succeeded' : 'failed',
    startedAt,
    error: failed.length ? failed.map((c) => `${c.name}: ${c.detail}`).join('; ') : undefined,
    report: { ...report },
  });
  return report;
}
