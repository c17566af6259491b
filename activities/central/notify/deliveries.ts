// One delivery per (channel, event key): claimed in the deliveries table before it is sent, so a retried alert
// activity, the same event raised twice, or two raises at once send it once. Every attempt is counted and its
// outcome recorded (sent, or failed with the reason) for the console and the API.
import { and, eq, or, sql } from 'drizzle-orm';
import { BackupError } from '../../../common/errors.ts';
import { openSecrets } from '../../../common/channel-secrets.ts';
import type { NotifyEvent } from '../../../common/model.ts';
import type { Db } from '../../../db/client.ts';
import { notificationChannels, notificationDeliveries } from '../../../db/schema.ts';
import type { Notice } from './messages.ts';
import { sendNotice, type TransportDeps } from './transport.ts';

export interface NotifyDeps extends TransportDeps {
  /** Opens channels' secrets (CHANNEL_SECRET_KEY). */
  channelKey: Buffer;
  /** SITE_OFFLINE_AFTER_MINUTES: for channels without a setting of their own. */
  offlineAfterMinutes: number;
}

export type Channel = typeof notificationChannels.$inferSelect;

export interface DeliveryResult {
  channelId: string;
  channel: string;
  /** `already`: an earlier attempt sent it; `busy`: another attempt is sending it right now. */
  state: 'sent' | 'failed' | 'already' | 'busy';
  attempts: number;
  error?: string;
  /** A failure that may pass (an outage, 429, 5xx): worth another attempt. */
  retryable?: boolean;
}

/** A `sending` claim older than this belongs to an attempt that died: another may take it over. */
const STALE_CLAIM = sql`now() - interval '2 minutes'`;

/** Whether a channel wants this event; a channel asking for restore.finished hears of failed restores too. */
export function wants(channel: Pick<Channel, 'events'>, type: NotifyEvent | 'test'): boolean {
  if (type === 'test') return true;
  return channel.events.includes(type) || (type === 'restore.failed' && channel.events.includes('restore.finished'));
}

export async function deliver(db: Db, deps: NotifyDeps, channel: Channel, notice: Notice): Promise<DeliveryResult> {
  const base = { channelId: channel.id, channel: channel.name };
  await db
    .insert(notificationDeliveries)
    .values({
      tenantId: channel.tenantId,
      channelId: channel.id,
      eventType: notice.type,
      eventKey: notice.key,
      state: 'sending',
      attempts: 0,
    })
    .onConflictDoNothing();
  const d = notificationDeliveries;
  const [claimed] = await db
    .update(d)
    .set({ state: 'sending', attempts: sql`${d.attempts} + 1`, updatedAt: sql`now()` })
    .where(
      and(
        eq(d.channelId, channel.id),
        eq(d.eventKey, notice.key),
        or(
          eq(d.state, 'failed'),
          and(eq(d.state, 'sending'), or(eq(d.attempts, 0), sql`${d.updatedAt} < ${STALE_CLAIM}`)),
        ),
      ),
    )
    .returning({ id: d.id, attempts: d.attempts });
  if (!claimed) {
    const [row] = await db
      .select({ state: d.state, attempts: d.attempts })
      .from(d)
      .where(and(eq(d.channelId, channel.id), eq(d.eventKey, notice.key)));
    return { ...base, state: row?.state === 'sent' ? 'already' : 'busy', attempts: row?.attempts ?? 0 };
  }
  try {
    const secrets = openSecrets(deps.channelKey, channel.secrets);
    await sendNotice({ kind: channel.kind, settings: channel.settings, secrets }, notice, deps);
  } catch (err) {
    const error = err instanceof Error ? err.message : String(err);
    const retryable = err instanceof BackupError ? err.retryable : false;
    await db
      .update(d)
      .set({ state: 'failed', lastError: error, updatedAt: sql`now()` })
      .where(eq(d.id, claimed.id));
    return { ...base, state: 'failed', attempts: claimed.attempts, error, retryable };
  }
  await db
    .update(d)
    .set({ state: 'sent', lastError: null, updatedAt: sql`now()`, sentAt: sql`now()` })
    .where(eq(d.id, claimed.id));
  return { ...base, state: 'sent', attempts: claimed.attempts };
}

/** The tenant's channels that want this event. */
export async function channelsFor(db: Db, tenantId: string, type: NotifyEvent): Promise<Channel[]> {
  const rows = await db.select().from(notificationChannels).where(eq(notificationChannels.tenantId, tenantId));
  return rows.filter((c) => wants(c, type));
}
