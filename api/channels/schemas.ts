// The shapes of the notification channels API. A channel's secrets (SMTP password, webhook URLs that embed a token,
// a bot token, the signing secret) are taken once and never answered; `target` says where messages go, masked.
import { z } from '@hono/zod-openapi';
import { CHANNEL_KINDS, NOTIFY_EVENTS } from '../../common/model.ts';
import type { notificationChannels, notificationDeliveries } from '../../db/schema.ts';

const Name = z
  .string()
  .trim()
  .min(1)
  .max(100)
  .regex(/^[^\u0000-\u001f\u007f]+$/, 'no control characters');
const Events = z
  .array(z.enum(NOTIFY_EVENTS))
  .min(1, 'at least one event')
  .refine((e) => new Set(e).size === e.length, 'each event once')
  .openapi({ description: 'restore.finished also brings failed restores' });
const OfflineAfterMinutes = z.number().int().min(1).max(10_080).nullable().optional().openapi({
  description: "site.offline: minutes a site may be silent before this channel hears of it (default: the platform's)",
});
const WebhookUrl = z
  .string()
  .url()
  .max(2000)
  .refine((u) => /^https?:\/\//i.test(u), 'must be an http(s) URL')
  .refine((u) => !URL.canParse(u) || (!new URL(u).username && !new URL(u).password), 'must not contain user:password@');
const Host = z
  .string()
  .min(1)
  .max(253)
  .regex(
    /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$|^[0-9.]+$|^\[?[0-9a-fA-F:]+\]?$/,
    'a host name or an IP address',
  );
const Address = z.string().email().max(254);

const common = { name: Name, events: Events, offlineAfterMinutes: OfflineAfterMinutes };
export const ChannelCreate = z
  .discriminatedUnion('kind', [
    z.object({
      ...common,
      kind: z.literal('email'),
      host: Host,
      port: z.number().int().min(1).max(65_535).default(587),
      tls: z.enum(['tls', 'starttls', 'none']).default('starttls').openapi({
        description: 'tls: TLS from the start (port 465); starttls: required upgrade (587); none: plain (on-premise)',
      }),
      user: z.string().min(1).max(254).optional(),
      password: z.string().min(1).max(1000).optional(),
      from: Address,
      to: z.array(Address).min(1).max(20),
    }),
    z.object({ ...common, kind: z.literal('slack'), url: WebhookUrl }),
    z.object({
      ...common,
      kind: z.literal('teams'),
      url: WebhookUrl,
      format: z.enum(['adaptive', 'messagecard']).default('adaptive').openapi({
        description: 'adaptive: a Workflows (Power Automate) webhook; messagecard: an Office 365 connector',
      }),
    }),
    z.object({ ...common, kind: z.literal('discord'), url: WebhookUrl }),
    z.object({
      ...common,
      kind: z.literal('telegram'),
      botToken: z
        .string()
        .regex(/^\d{1,20}:[A-Za-z0-9_-]{20,100}$/, "a bot token as BotFather gives it: '<id>:<secret>'"),
      chatId: z
        .string()
        .regex(/^(-?\d{1,20}|@[A-Za-z][A-Za-z0-9_]{4,31})$/, 'a numeric chat id or an @channel username'),
    }),
    z.object({ ...common, kind: z.literal('webhook'), url: WebhookUrl }),
  ])
  .openapi('ChannelCreate');
export type ChannelCreateInput = z.infer<typeof ChannelCreate>;

export const ChannelPatch = z
  .object({ name: Name.optional(), events: Events.optional(), offlineAfterMinutes: OfflineAfterMinutes })
  .openapi('ChannelPatch');

export const Channel = z
  .object({
    id: z.string(),
    name: z.string(),
    kind: z.enum(CHANNEL_KINDS),
    events: z.array(z.enum(NOTIFY_EVENTS)),
    offlineAfterMinutes: z.number().nullable(),
    target: z.string().openapi({ description: 'where messages go, without any secret' }),
    createdAt: z.string(),
  })
  .openapi('Channel');
export const ChannelCreated = Channel.extend({
  signingSecret: z.string().optional().openapi({
    description: 'webhook channels: the HMAC key of X-Backup-Signature, shown this once',
  }),
}).openapi('ChannelCreated');

export const Delivery = z
  .object({
    id: z.string(),
    eventType: z.string(),
    eventKey: z.string(),
    state: z.enum(['sending', 'sent', 'failed']),
    attempts: z.number(),
    lastError: z.string().nullable(),
    createdAt: z.string(),
    updatedAt: z.string(),
    sentAt: z.string().nullable(),
  })
  .openapi('Delivery');
export const TestResult = z
  .object({ state: z.enum(['sent', 'failed', 'already', 'busy']), attempts: z.number(), error: z.string().optional() })
  .openapi('ChannelTestResult');

type ChannelRow = typeof notificationChannels.$inferSelect;

/** Where a channel's messages go, said without its secret: a webhook's origin only (its path is the token). */
export function channelTarget(c: ChannelRow): string {
  const s = c.settings as Record<string, unknown>;
  switch (c.kind) {
    case 'email':
      return `${(s.to as string[]).join(', ')} via ${String(s.host)}:${String(s.port)}`;
    case 'telegram':
      return `Telegram chat ${String(s.chatId)}`;
    default:
      return `${String(s.origin)}/[hidden]`;
  }
}

export const channelOut = (c: ChannelRow) => ({
  id: c.id,
  name: c.name,
  kind: c.kind,
  events: c.events,
  offlineAfterMinutes: c.offlineAfterMinutes,
  target: channelTarget(c),
  createdAt: c.createdAt.toISOString(),
});

export const deliveryOut = (d: typeof notificationDeliveries.$inferSelect) => ({
  id: d.id,
  eventType: d.eventType,
  eventKey: d.eventKey,
  state: d.state,
  attempts: d.attempts,
  lastError: d.lastError,
  createdAt: d.createdAt.toISOString(),
  updatedAt: d.updatedAt.toISOString(),
  sentAt: d.sentAt?.toISOString() ?? null,
});
