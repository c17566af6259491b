// Missed backups: configurations whose schedule should have produced a successful backup by now and has not, each
// reported once per silence.
import { eq, sql } from 'drizzle-orm';
import { expectedIntervalMs } from '../../common/schedule.ts';
import { backupConfigs, backups, servers, sites } from '../../db/schema.ts';
import { asActivity } from '../failure.ts';
import type { CentralContext } from './context.ts';

/** An hour on top of the schedule's interval: a run that started late or ran long is not yet missed. */
const MISSED_GRACE_MS = 3_600_000;

export interface MissedBackup {
  configId: string;
  tenantId: string;
  configName: string;
  siteName: string;
  serverName: string;
  lastSuccessAt: string | null;
  expectedEveryHours: number;
}

export function createFindMissedBackups(central: CentralContext) {
  /**
   * Configurations that should have produced a successful backup by now and have not: the newest success is
   * older than the schedule's interval plus an hour's grace, and not yet alerted for this silence.
   */
  return async function findMissedBackups(input: { now?: string } = {}): Promise<MissedBackup[]> {
    return asActivity(async () => {
      const now = input.now ? new Date(input.now) : new Date();
      const rows = await central.db
        .select({
          config: backupConfigs,
          server: servers,
          site: sites,
          last: sql<Date | null>`(select max(${backups.startedAt}) from ${backups} where ${backups.configId} = ${backupConfigs.id} and ${backups.kind} = 'backup' and ${backups.status} in ('succeeded', 'partial'))`,
        })
        .from(backupConfigs)
        .innerJoin(servers, eq(servers.id, backupConfigs.serverId))
        .innerJoin(sites, eq(sites.id, servers.siteId))
        .where(eq(backupConfigs.paused, false));
      const missed = [];
      for (const { config, server, site, last } of rows) {
        const everyMs = expectedIntervalMs(config.schedule);
        const lastAt = last ? new Date(last) : null;
        const since = lastAt ?? config.createdAt;
        if (now.getTime() - since.getTime() <= everyMs + MISSED_GRACE_MS) continue;
        if (config.missedAlertAt && config.missedAlertAt > since) continue; // already said for this silence
        missed.push({
          configId: config.id,
          tenantId: config.tenantId,
          configName: config.name,
          siteName: site.name,
          serverName: server.name,
          lastSuccessAt: lastAt?.toISOString() ?? null,
          expectedEveryHours: Math.round(everyMs / 3_600_000),
        });
      }
      return missed;
    });
  };
}

export function createMarkMissedAlerted(central: CentralContext) {
  /** A missed-backup alert went out: the same silence is not reported again (marked only once it was sent). */
  return async function markMissedAlerted(input: { configId: string; now?: string }): Promise<void> {
    return asActivity(async () => {
      await central.db
        .update(backupConfigs)
        .set({ missedAlertAt: input.now ? new Date(input.now) : new Date() })
        .where(eq(backupConfigs.id, input.configId));
    });
  };
}
