// alert: an ECS alert event in the central log, one delivery to each of the tenant's notification channels that wants
// the event (deduplicated by the event's key), and the legacy POST to the tenant's webhook URL when one is set.
import { createHash } from 'node:crypto';
import { eq } from 'drizzle-orm';
import { BackupError } from '../../common/errors.ts';
import type { NotifyEvent } from '../../common/model.ts';
import { outboundRequest } from '../../common/outbound.ts';
import { tenants } from '../../db/schema.ts';
import { asActivity } from '../failure.ts';
import type { CentralContext } from './context.ts';
import { channelsFor, deliver, type Channel, type DeliveryResult, type NotifyDeps } from './notify/deliveries.ts';
import { noticeTitle, type Notice } from './notify/messages.ts';

export interface AlertInput {
  tenantId: string;
  configId?: string | null;
  configName?: string;
  serverName?: string;
  siteName: string;
  database?: string;
  message: string;
  /** What happened; the webhook's `type`. */
  event?: NotifyEvent;
  /**
   * The event's identity: raised again with the same key, no channel hears of it twice. By default the run, the
   * event and what the alert says, so a retry is the same event and two alerts of one run are two.
   */
  key?: string;
  /** site.offline: when the site last polled; each channel hears of it once its own silence allowance has passed. */
  offlineSince?: string;
}

/** The events the tenant's webhook URL has always had; newer ones go to channels only. */
const LEGACY_EVENTS: ReadonlySet<NotifyEvent> = new Set([
  'backup.failed',
  'backup.partial',
  'backup.missed',
  'copy.lost',
  'copy.corrupt',
  'drill.failed',
  'restore.failed',
  'database.vanished',
  'mirror.failed',
]);
const GOOD_NEWS: ReadonlySet<NotifyEvent> = new Set(['restore.finished', 'site.online']);
const SITE_EVENTS: ReadonlySet<NotifyEvent> = new Set(['site.offline', 'site.online']);

export interface AlertResult {
  webhook: 'sent' | 'none';
  channels: Pick<DeliveryResult, 'channel' | 'state' | 'attempts' | 'error'>[];
}

export function createAlert(central: CentralContext) {
  /** An ECS alert event in the log, a delivery to each channel that wants it, and the tenant's webhook when set. */
  return async function alert(input: AlertInput): Promise<AlertResult> {
    return asActivity(async () => {
      const { workflowId, runId } = central.runInfo();
      const log = central.runLogger({
        tenant_id: input.tenantId,
        server: input.serverName,
        database: input.database,
        config_id: input.configId ?? undefined,
      });
      const type = input.event ?? 'backup.failed';
      const key =
        input.key ?? `${workflowId}:${type}:${createHash('sha256').update(JSON.stringify(input)).digest('hex')}`;
      const logAlert = () => {
        const good = GOOD_NEWS.has(type);
        log[good ? 'info' : 'error'](
          {
            event: {
              kind: 'alert',
              category: ['database'],
              type: [good ? 'info' : 'error'],
              outcome: good ? 'success' : 'failure',
              action: type,
            },
          },
          `${type.replace('.', ' ')}: ${input.message}`,
        );
      };
      // A site's outage is looked at by every watch while it lasts: logged once something is said about it.
      if (!SITE_EVENTS.has(type)) logAlert();

      const results = central.notify ? await deliverAll(central, central.notify, input, type, key, workflowId) : [];
      if (SITE_EVENTS.has(type) && results.some((r) => r.state === 'sent' || r.state === 'failed')) logAlert();
      for (const r of results.filter((x) => x.state === 'failed'))
        log.warn(
          { event: { kind: 'event', category: ['network'], type: ['error'], outcome: 'failure', action: 'notify' } },
          `notification to channel '${r.channel}' failed (attempt ${r.attempts}): ${r.error}`,
        );

      const webhook = LEGACY_EVENTS.has(type) ? await legacyWebhook(central, input, type, workflowId, runId) : 'none';
      const pending = results.filter((r) => r.state === 'busy' || (r.state === 'failed' && r.retryable));
      if (pending.length > 0)
        throw new BackupError(
          'unavailable',
          `not yet delivered to ${pending.map((r) => `'${r.channel}' (${r.error ?? 'being sent by another attempt'})`).join(', ')}`,
        );
      return {
        webhook,
        channels: results.map(({ channel, state, attempts, error }) => ({ channel, state, attempts, error })),
      };
    });
  };
}

async function deliverAll(
  central: CentralContext,
  deps: NotifyDeps,
  input: AlertInput,
  type: NotifyEvent,
  key: string,
  workflowId: string,
): Promise<DeliveryResult[]> {
  const notice = noticeOf(input, type, key, workflowId);
  const results: DeliveryResult[] = [];
  for (const channel of await channelsFor(central.db, input.tenantId, type)) {
    if (type === 'site.offline' && !silentLongEnough(channel, input.offlineSince, deps)) continue;
    results.push(await deliver(central.db, deps, channel, notice));
  }
  return results;
}

function silentLongEnough(channel: Channel, since: string | undefined, deps: NotifyDeps): boolean {
  if (!since) return true;
  const minutes = channel.offlineAfterMinutes ?? deps.offlineAfterMinutes;
  return Date.now() - Date.parse(since) >= minutes * 60_000;
}

export function noticeOf(input: AlertInput, type: NotifyEvent, key: string, workflowId: string): Notice {
  const where = input.serverName ? `${input.serverName} (site ${input.siteName})` : `site ${input.siteName}`;
  const subject = input.database
    ? `${input.database} on ${where}`
    : input.configName
      ? `${input.configName} on ${where}`
      : where;
  const facts = [
    ['Configuration', input.configName],
    ['Site', input.siteName],
    ['Server', input.serverName],
    ['Database', input.database],
    ['Offline since', input.offlineSince],
    ['Workflow', workflowId || undefined],
  ]
    .filter((f): f is [string, string] => !!f[1])
    .map(([name, value]) => ({ name, value }));
  return {
    type,
    key,
    tenantId: input.tenantId,
    title: noticeTitle(type, subject),
    message: input.message,
    facts,
    at: new Date().toISOString(),
    data: { ...input, workflowId },
  };
}

async function legacyWebhook(
  central: CentralContext,
  input: AlertInput,
  type: NotifyEvent,
  workflowId: string,
  runId: string,
): Promise<'sent' | 'none'> {
  const [tenant] = await central.db
    .select({ webhookUrl: tenants.webhookUrl })
    .from(tenants)
    .where(eq(tenants.id, input.tenantId));
  if (!tenant?.webhookUrl) return 'none';
  const body = { type, workflowId, runId, ...input, at: new Date().toISOString() };
  const origin = new URL(tenant.webhookUrl).origin;
  const res = await outboundRequest(
    tenant.webhookUrl,
    {
      method: 'POST',
      // The same alert sent again (a retry) has the same key; two alerts of one workflow (a watch over many
      // configurations, a sync over many backups) differ in what they say, and so in their keys.
      headers: {
        'content-type': 'application/json',
        'idempotency-key': `${workflowId}:${type}:${createHash('sha256').update(JSON.stringify(input)).digest('hex').slice(0, 32)}`,
      },
      body: JSON.stringify(body),
      timeoutMs: 10_000,
    },
    central.outbound,
  ).catch((e: Error) => {
    // A refused address is the tenant's to fix (not retried); anything else is an outage.
    const kind = e instanceof BackupError && e.kind === 'invalid' ? 'invalid' : 'unavailable';
    const why = e instanceof BackupError ? e.message : ((e as NodeJS.ErrnoException).code ?? e.name);
    throw new BackupError(kind, `alert webhook at ${origin} unreachable: ${why}`);
  });
  if (res.status < 200 || res.status >= 300)
    throw new BackupError('unavailable', `alert webhook answered ${res.status}`);
  return 'sent';
}
