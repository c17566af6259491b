// The site watch: which sites stopped polling their task queue (an outage, recorded so that a restart of the central
// worker neither forgets it nor raises it again) and which came back. The workflow raises site.offline for each open
// outage on every watch; the deliveries' key (the outage) lets each channel hear of it once, when its allowance passed.
import { and, eq, isNull } from 'drizzle-orm';
import { ONLINE_WINDOW_MS, siteLastSeen } from '../../common/temporal.ts';
import { siteOutages, sites } from '../../db/schema.ts';
import { asActivity } from '../failure.ts';
import type { CentralContext } from './context.ts';

export interface SiteOutage {
  outageId: string;
  tenantId: string;
  siteId: string;
  siteName: string;
  /** The site's last poll before the silence. */
  lastSeenAt: string;
  /** `online`: the outage ended at this watch (said once); `offline`: it goes on. */
  state: 'offline' | 'online';
}

export function createWatchSites(central: CentralContext) {
  /**
   * Opens an outage for each site silent for longer than the online window, ends the outages of sites that poll
   * again, and answers the open ones and the ones just ended. A site never seen polling has no outage.
   */
  return async function watchSites(input: { now?: string } = {}): Promise<SiteOutage[]> {
    return asActivity(async () => {
      const open = central.openTemporal;
      if (!open) return [];
      const now = input.now ? new Date(input.now) : new Date();
      const rows = await central.db
        .select({ site: sites, outage: siteOutages })
        .from(sites)
        .leftJoin(siteOutages, and(eq(siteOutages.siteId, sites.id), isNull(siteOutages.endedAt)));
      const temporal = await open();
      const answer: SiteOutage[] = [];
      try {
        for (const { site, outage } of rows) {
          const lastSeen = await siteLastSeen(temporal, site.taskQueue);
          const online = !!lastSeen && now.getTime() - lastSeen.getTime() < ONLINE_WINDOW_MS;
          const said = { tenantId: site.tenantId, siteId: site.id, siteName: site.name };
          if (online && outage) {
            const [ended] = await central.db
              .update(siteOutages)
              .set({ endedAt: now })
              .where(and(eq(siteOutages.id, outage.id), isNull(siteOutages.endedAt)))
              .returning();
            if (ended)
              answer.push({ ...said, outageId: ended.id, lastSeenAt: ended.lastSeenAt.toISOString(), state: 'online' });
            continue;
          }
          if (online) continue;
          let current: typeof outage | undefined = outage;
          if (!current && lastSeen) {
            await central.db
              .insert(siteOutages)
              .values({ tenantId: site.tenantId, siteId: site.id, lastSeenAt: lastSeen })
              .onConflictDoNothing();
            [current] = await central.db
              .select()
              .from(siteOutages)
              .where(and(eq(siteOutages.siteId, site.id), isNull(siteOutages.endedAt)));
          }
          if (current)
            answer.push({
              ...said,
              outageId: current.id,
              lastSeenAt: current.lastSeenAt.toISOString(),
              state: 'offline',
            });
        }
      } finally {
        await temporal.connection.close();
      }
      return answer;
    });
  };
}
