// What a notification says, and how each service wants it said: Slack's Block Kit (with `text` as the fallback),
// a Teams Adaptive Card in a message (or the older MessageCard), Discord's `content` and `embeds`, Telegram's
// sendMessage, an e-mail, and the generic signed JSON webhook. Pure functions: no I/O here.
import { createHmac } from 'node:crypto';
import type { NotifyEvent } from '../../../common/model.ts';

/** One event as every channel hears it. `key` is the same every time the same event is raised. */
export interface Notice {
  type: NotifyEvent | 'test';
  key: string;
  tenantId: string;
  /** A line a person reads first: "Backup failed: shop on pg-main (site paris)". */
  title: string;
  message: string;
  /** Labelled details, in order: configuration, site, server, database, workflow. */
  facts: { name: string; value: string }[];
  at: string;
  /** The alert as raised, for the generic webhook's JSON. */
  data: Record<string, unknown>;
}

const TITLES: Record<Notice['type'], string> = {
  'backup.failed': 'Backup failed',
  'backup.partial': 'Backup partly failed',
  'backup.missed': 'Backup missed',
  'copy.lost': 'Backup copy lost',
  'copy.corrupt': 'Backup copy corrupt',
  'drill.failed': 'Restore drill failed',
  'restore.finished': 'Restore finished',
  'restore.failed': 'Restore failed',
  'database.vanished': 'Database vanished',
  'mirror.failed': 'Object mirror could not copy a version',
  'site.offline': 'Site offline',
  'site.online': 'Site back online',
  test: 'Test notification',
};

const GOOD: ReadonlySet<Notice['type']> = new Set(['restore.finished', 'site.online', 'test']);

export function noticeTitle(type: Notice['type'], subject: string | undefined): string {
  return subject ? `${TITLES[type]}: ${subject}` : TITLES[type];
}

const clip = (text: string, max: number) => (text.length <= max ? text : `${text.slice(0, max - 1)}…`);

/** Slack incoming webhook: `text` (notifications, fallback) and `blocks` (header, section, fields, context). */
export function slackPayload(n: Notice) {
  return {
    text: clip(`${n.title}: ${n.message}`, 3000),
    blocks: [
      { type: 'header', text: { type: 'plain_text', text: clip(n.title, 150) } },
      { type: 'section', text: { type: 'mrkdwn', text: clip(slackEscape(n.message), 3000) } },
      ...(n.facts.length > 0
        ? [
            {
              type: 'section',
              fields: n.facts.slice(0, 10).map((f) => ({
                type: 'mrkdwn',
                text: clip(`*${slackEscape(f.name)}*\n${slackEscape(f.value)}`, 2000),
              })),
            },
          ]
        : []),
      { type: 'context', elements: [{ type: 'mrkdwn', text: `${n.type} · ${n.at}` }] },
    ],
  };
}

/** Slack's three control characters in mrkdwn (its formatting documentation asks for these escapes). */
const slackEscape = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** Teams (Workflows / Power Automate webhook): a message with one Adaptive Card attachment. */
export function teamsAdaptivePayload(n: Notice) {
  return {
    type: 'message',
    attachments: [
      {
        contentType: 'application/vnd.microsoft.card.adaptive',
        contentUrl: null,
        content: {
          $schema: 'http://adaptivecards.io/schemas/adaptive-card.json',
          type: 'AdaptiveCard',
          version: '1.4',
          body: [
            {
              type: 'TextBlock',
              text: n.title,
              weight: 'Bolder',
              size: 'Medium',
              wrap: true,
              color: GOOD.has(n.type) ? 'Good' : 'Attention',
            },
            { type: 'TextBlock', text: n.message, wrap: true },
            { type: 'FactSet', facts: n.facts.map((f) => ({ title: f.name, value: f.value })) },
            { type: 'TextBlock', text: `${n.type} · ${n.at}`, isSubtle: true, size: 'Small', wrap: true },
          ],
        },
      },
    ],
  };
}

/** Teams (Office 365 connector): the legacy MessageCard. */
export function teamsMessageCardPayload(n: Notice) {
  return {
    '@type': 'MessageCard',
    '@context': 'https://schema.org/extensions',
    summary: clip(n.title, 200),
    themeColor: GOOD.has(n.type) ? '2E7D32' : 'C62828',
    title: n.title,
    text: n.message,
    sections: [{ facts: n.facts, text: `${n.type} · ${n.at}` }],
  };
}

/** Discord webhook: `content` (2000 chars) and one embed (title 256, description 4096, up to 25 fields of 1024). */
export function discordPayload(n: Notice) {
  return {
    content: clip(n.title, 2000),
    allowed_mentions: { parse: [] },
    embeds: [
      {
        title: clip(n.title, 256),
        description: clip(n.message, 4096),
        color: GOOD.has(n.type) ? 0x2e7d32 : 0xc62828,
        fields: n.facts
          .slice(0, 25)
          .map((f) => ({ name: clip(f.name, 256), value: clip(f.value, 1024), inline: true })),
        footer: { text: n.type },
        timestamp: n.at,
      },
    ],
  };
}

/** Telegram Bot API sendMessage: HTML parse mode, 4096 characters at most. */
export function telegramPayload(n: Notice, chatId: string) {
  const html = [
    `<b>${htmlEscape(n.title)}</b>`,
    htmlEscape(n.message),
    ...n.facts.map((f) => `<b>${htmlEscape(f.name)}:</b> ${htmlEscape(f.value)}`),
    `<i>${htmlEscape(n.type)} · ${htmlEscape(n.at)}</i>`,
  ].join('\n');
  return {
    chat_id: /^-?\d+$/.test(chatId) ? Number(chatId) : chatId,
    text: clip(html, 4096),
    parse_mode: 'HTML',
    disable_web_page_preview: true,
  };
}

const htmlEscape = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** The e-mail: a subject that says what and where, a plain-text body with every detail. */
export function emailMessage(n: Notice): { subject: string; text: string } {
  return {
    subject: clip(`[backup] ${n.title}`, 200),
    text: [
      n.title,
      '',
      n.message,
      '',
      ...n.facts.map((f) => `${f.name}: ${f.value}`),
      `Event: ${n.type}`,
      `Time: ${n.at}`,
    ].join('\n'),
  };
}

/** The generic webhook's JSON body. */
export function webhookBody(n: Notice) {
  return { ...n.data, type: n.type, key: n.key, title: n.title, message: n.message, at: n.at };
}

export const SIGNATURE_HEADER = 'x-backup-signature';

/** `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>" under the channel's secret>` (README: verifying it). */
export function signature(secret: string, body: string, unixSeconds: number): string {
  const mac = createHmac('sha256', secret).update(`${unixSeconds}.${body}`).digest('hex');
  return `t=${unixSeconds},v1=${mac}`;
}
