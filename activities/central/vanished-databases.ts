// Vanished databases: with `databases: ["*"]`, a database this configuration backed up that the server no longer has.
// Each is reported once while it stays away: the workflow alerts, then marks (so a lost alert is sent again).
import { and, eq, inArray } from 'drizzle-orm';
import { backupConfigs, backups } from '../../db/schema.ts';
import { asActivity } from '../failure.ts';
import type { CentralContext } from './context.ts';

export function createFindVanishedDatabases(central: CentralContext) {
  /**
   * `gone`: databases with a good backup by this configuration that are neither on the server now (`present`) nor
   * excluded; `vanished`: those of them not yet reported; `changed`: the reported set must become `gone`.
   */
  return async function findVanishedDatabases(input: {
    configId: string;
    present: string[];
  }): Promise<{ gone: string[]; vanished: string[]; changed: boolean }> {
    return asActivity(async () => {
      const [config] = await central.db
        .select({ exclude: backupConfigs.excludeDatabases, reported: backupConfigs.vanishedDatabases })
        .from(backupConfigs)
        .where(eq(backupConfigs.id, input.configId));
      if (!config) return { gone: [], vanished: [], changed: false };
      const rows = await central.db
        .selectDistinct({ database: backups.database })
        .from(backups)
        .where(
          and(
            eq(backups.configId, input.configId),
            eq(backups.kind, 'backup'),
            inArray(backups.status, ['succeeded', 'partial']),
          ),
        );
      const gone = rows
        .map((r) => r.database)
        .filter((d) => !input.present.includes(d) && !config.exclude.includes(d))
        .sort();
      const vanished = gone.filter((d) => !config.reported.includes(d));
      // A database that came back leaves the reported set too, so its next disappearance is reported again.
      return { gone, vanished, changed: vanished.length > 0 || gone.length !== config.reported.length };
    });
  };
}

export function createMarkVanishedDatabases(central: CentralContext) {
  /** The databases now reported as gone; one that came back drops out, so its next disappearance is reported. */
  return async function markVanishedDatabases(input: { configId: string; gone: string[] }): Promise<void> {
    return asActivity(async () => {
      await central.db
        .update(backupConfigs)
        .set({ vanishedDatabases: input.gone })
        .where(eq(backupConfigs.id, input.configId));
    });
  };
}
