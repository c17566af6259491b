// The alert a run sends about one database, sent so that a webhook's failure never fails the run.
import { log } from '@temporalio/workflow';
import type { BackupPlan } from '../activities/contracts.ts';
import { central } from './activities.ts';

/** An unreachable webhook must not cost the other databases their backups; the alert is logged either way. */
export async function alertQuietly(
  plan: BackupPlan,
  database: string,
  message: string,
  event: 'backup.failed' | 'backup.partial' | 'database.vanished',
): Promise<void> {
  await central
    .alert({
      tenantId: plan.tenantId,
      configId: plan.configId,
      configName: plan.configName,
      serverName: plan.serverName,
      siteName: plan.siteName,
      database,
      message,
      event,
    })
    .catch((e: unknown) => log.warn('alert not delivered', { error: String(e) }));
}
