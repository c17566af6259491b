// Notification workflows: the site watch (scheduled every minute) and a channel's test message (the test button).
import { proxyActivities } from '@temporalio/workflow';
import type { CentralActivities } from '../activities/central/index.ts';
import { central } from './activities.ts';

/** site.offline for each open outage (each channel hears of it once its allowance passed), site.online once. */
export async function siteWatchWorkflow(
  input: { now?: string } = {},
): Promise<{ offline: string[]; online: string[] }> {
  const outages = await central.watchSites({ now: input.now });
  for (const o of outages) {
    const offline = o.state === 'offline';
    await central
      .alert({
        tenantId: o.tenantId,
        siteName: o.siteName,
        event: offline ? 'site.offline' : 'site.online',
        key: `${offline ? 'site.offline' : 'site.online'}:${o.outageId}`,
        message: offline
          ? `the worker of site '${o.siteName}' has not polled since ${o.lastSeenAt}: is it running and connected to Temporal?`
          : `the worker of site '${o.siteName}' polls again (silent since ${o.lastSeenAt})`,
        ...(offline && { offlineSince: o.lastSeenAt }),
      })
      .catch(() => undefined);
  }
  return {
    offline: outages.filter((o) => o.state === 'offline').map((o) => o.siteName),
    online: outages.filter((o) => o.state === 'online').map((o) => o.siteName),
  };
}

/** Someone is waiting for the answer: one attempt, its outcome returned. */
const once = proxyActivities<CentralActivities>({ startToCloseTimeout: '40 seconds', retry: { maximumAttempts: 1 } });

export async function channelTestWorkflow(input: { tenantId: string; channelId: string; key: string }) {
  return once.testChannel(input);
}
