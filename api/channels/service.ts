// Notification channels in the database: secrets sealed on the way in (common/channel-secrets.ts), never read back
// here; every change audited without them.
import { randomBytes } from 'node:crypto';
import { and, count, desc, eq } from 'drizzle-orm';
import { conflict } from '../../common/errors.ts';
import { sealSecrets } from '../../common/channel-secrets.ts';
import type { Db } from '../../db/client.ts';
import { notificationChannels, notificationDeliveries } from '../../db/schema.ts';
import type { AuthContext } from '../auth/tokens.ts';
import { uniqueViolation } from '../lib/errors.ts';
import { audit, findOwned } from '../lib/tenancy.ts';
import type { ChannelCreateInput } from './schemas.ts';

type ChannelRow = typeof notificationChannels.$inferSelect;
const duplicate = (e: unknown) => (uniqueViolation(e) ? conflict('a channel with this name exists') : e);

export function list(db: Db, tenantId: string): Promise<ChannelRow[]> {
  return db
    .select()
    .from(notificationChannels)
    .where(eq(notificationChannels.tenantId, tenantId))
    .orderBy(notificationChannels.name);
}

/** What is kept in the clear and what is sealed, by kind. */
function split(input: ChannelCreateInput): {
  settings: Record<string, unknown>;
  secrets: Record<string, string>;
} {
  switch (input.kind) {
    case 'email': {
      const { host, port, tls, user, from, to, password } = input;
      return { settings: { host, port, tls, user, from, to }, secrets: password ? { password } : {} };
    }
    case 'telegram':
      return { settings: { chatId: input.chatId }, secrets: { botToken: input.botToken } };
    case 'teams':
      return { settings: { origin: new URL(input.url).origin, format: input.format }, secrets: { url: input.url } };
    case 'webhook':
      return {
        settings: { origin: new URL(input.url).origin },
        secrets: { url: input.url, signingSecret: `whsec_${randomBytes(32).toString('base64url')}` },
      };
    default:
      return { settings: { origin: new URL(input.url).origin }, secrets: { url: input.url } };
  }
}

export const MAX_CHANNELS = 50;

/** The new channel, and the webhook's signing secret (answered this once). */
export async function create(
  db: Db,
  key: Buffer,
  auth: AuthContext,
  input: ChannelCreateInput,
): Promise<{ channel: ChannelRow; signingSecret?: string }> {
  const { settings, secrets } = split(input);
  const channel = await db
    .transaction(async (tx) => {
      // Every alert goes to each matching channel in turn: a bounded list keeps one alert's delivery bounded.
      const [held] = await tx
        .select({ n: count() })
        .from(notificationChannels)
        .where(eq(notificationChannels.tenantId, auth.tenantId));
      if ((held?.n ?? 0) >= MAX_CHANNELS)
        throw conflict(`a tenant has at most ${MAX_CHANNELS} notification channels: remove one first`);
      const [row] = await tx
        .insert(notificationChannels)
        .values({
          tenantId: auth.tenantId,
          name: input.name,
          kind: input.kind,
          events: input.events,
          offlineAfterMinutes: input.offlineAfterMinutes ?? null,
          settings,
          secrets: sealSecrets(key, secrets),
        })
        .returning();
      await audit(
        tx,
        auth,
        'channel.create',
        { type: 'channel', id: row!.id },
        {
          name: input.name,
          kind: input.kind,
          events: input.events,
        },
      );
      return row!;
    })
    .catch((e: unknown) => {
      throw duplicate(e);
    });
  return { channel, ...(secrets.signingSecret && { signingSecret: secrets.signingSecret }) };
}

export async function update(
  db: Db,
  auth: AuthContext,
  id: string,
  patch: {
    name?: string | undefined;
    events?: ChannelRow['events'] | undefined;
    offlineAfterMinutes?: number | null | undefined;
  },
): Promise<ChannelRow> {
  return db
    .transaction(async (tx) => {
      await findOwned(tx, notificationChannels, id, auth.tenantId, 'channel');
      const [row] = await tx
        .update(notificationChannels)
        .set({
          ...(patch.name !== undefined && { name: patch.name }),
          ...(patch.events !== undefined && { events: patch.events }),
          ...(patch.offlineAfterMinutes !== undefined && { offlineAfterMinutes: patch.offlineAfterMinutes }),
        })
        .where(eq(notificationChannels.id, id))
        .returning();
      await audit(tx, auth, 'channel.update', { type: 'channel', id }, patch);
      return row!;
    })
    .catch((e: unknown) => {
      throw duplicate(e);
    });
}

/** The channel goes with its delivery records. */
export async function remove(db: Db, auth: AuthContext, id: string): Promise<void> {
  await db.transaction(async (tx) => {
    const c = await findOwned(tx, notificationChannels, id, auth.tenantId, 'channel');
    await tx.delete(notificationChannels).where(eq(notificationChannels.id, id));
    await audit(tx, auth, 'channel.delete', { type: 'channel', id }, { name: c.name });
  });
}

export function deliveries(db: Db, tenantId: string, channelId: string, limit: number) {
  const d = notificationDeliveries;
  return db
    .select()
    .from(d)
    .where(and(eq(d.tenantId, tenantId), eq(d.channelId, channelId)))
    .orderBy(desc(d.createdAt))
    .limit(limit);
}
