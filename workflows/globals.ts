// A PostgreSQL server's globals in a backup run: one file per run beside the dumps, dumped at the site.
import type { BackupPlan, DumpResult } from '../activities/contracts.ts';
import type { siteActivities } from './activities.ts';

/** The run's globals: dumped as a file of their own, with the owners, grants and settings of these databases. */
export interface GlobalsJob {
  databases: string[];
}

export function dumpGlobals(
  plan: BackupPlan,
  site: ReturnType<typeof siteActivities>,
  fileName: string,
  databases: string[],
): Promise<DumpResult> {
  return site.quick.dumpGlobals({
    serverName: plan.serverName,
    fileName,
    databases,
    rolePasswords: plan.globals?.rolePasswords ?? false,
    compression: plan.compression,
    encrypt: plan.encrypt,
  });
}
