// With `databases: ["*"]`, what a run backs up is found at the site when it starts, and what left is reported.
import { ApplicationFailure, CancellationScope, isCancellation, patched } from '@temporalio/workflow';
import type { BackupPlan } from '../activities/contracts.ts';
import { ALL_DATABASES, isAllDatabases } from '../common/model.ts';
import { bookkeeping, describeFailure } from './activities.ts';
import { alertQuietly } from './alert.ts';
import type { SiteStubs } from './backup.ts';

/**
 * The run's databases: the configuration's names, or with "*" the server's own, discovered at the site now. A
 * database backed up before and gone now is reported once (alerted, then marked, so a lost alert goes out again).
 */
export async function runDatabases(plan: BackupPlan, site: SiteStubs, startedAt: Date): Promise<string[]> {
  // No configuration could say "*" before this shipped; the patch keeps the rule that new commands are marked.
  if (!isAllDatabases(plan.databases) || !patched('discover-databases')) return plan.databases;
  const ledger = bookkeeping(plan.tuning);
  let present: string[];
  try {
    present = await site.quick.discoverDatabases({ serverName: plan.serverName, exclude: plan.excludeDatabases });
  } catch (err) {
    if (isCancellation(err)) throw err;
    const error = `could not list the databases of server '${plan.serverName}': ${describeFailure(err, plan.siteName)}`;
    await CancellationScope.nonCancellable(async () => {
      await ledger.recordBackup({
        tenantId: plan.tenantId,
        configId: plan.configId,
        siteId: plan.siteId,
        serverId: plan.serverId,
        database: ALL_DATABASES,
        status: 'failed',
        startedAt: startedAt.toISOString(),
        error,
      });
      await alertQuietly(plan, ALL_DATABASES, error, 'backup.failed');
    });
    throw ApplicationFailure.nonRetryable(error, 'BackupFailed');
  }
  const { gone, vanished, changed } = await ledger.findVanishedDatabases({ configId: plan.configId, present });
  for (const database of vanished)
    await alertQuietly(
      plan,
      database,
      `database '${database}' is no longer on server '${plan.serverName}': it was backed up by this configuration before and is not any more (its backups are kept under their retention); add it to excludeDatabases if it was dropped on purpose`,
      'database.vanished',
    );
  if (changed) await ledger.markVanishedDatabases({ configId: plan.configId, gone });
  return present;
}
