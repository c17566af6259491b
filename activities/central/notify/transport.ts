// Sends one notice to one channel: e-mail over SMTP (nodemailer), or an HTTP POST in the service's own shape. Every
// connection goes through the outbound rule (common/outbound.ts). Errors say what to fix and never carry a URL (the
// URLs of Slack, Teams and Discord webhooks are their secret) or a token.
import nodemailer from 'nodemailer';
import { BackupError } from '../../../common/errors.ts';
import type { ChannelKind } from '../../../common/model.ts';
import { outboundRequest, permittedAddress, type OutboundPolicy } from '../../../common/outbound.ts';
import {
  discordPayload,
  emailMessage,
  signature,
  SIGNATURE_HEADER,
  slackPayload,
  teamsAdaptivePayload,
  teamsMessageCardPayload,
  telegramPayload,
  webhookBody,
  type Notice,
} from './messages.ts';

/** A channel as the sender needs it: its settings and its opened secrets. */
export interface OpenChannel {
  kind: ChannelKind;
  settings: Record<string, unknown>;
  secrets: Record<string, string>;
}

export interface TransportDeps {
  outbound: OutboundPolicy;
  /** Telegram's Bot API base (TELEGRAM_API_URL): another one only in tests. */
  telegramApiUrl: string;
}

const TIMEOUT_MS = 10_000;

export async function sendNotice(channel: OpenChannel, notice: Notice, deps: TransportDeps): Promise<void> {
  const s = channel.settings;
  switch (channel.kind) {
    case 'email':
      return sendEmail(channel, notice, deps);
    case 'slack':
      return post('Slack', channel.secrets.url!, slackPayload(notice), deps);
    case 'teams':
      return post(
        'Teams',
        channel.secrets.url!,
        s.format === 'messagecard' ? teamsMessageCardPayload(notice) : teamsAdaptivePayload(notice),
        deps,
      );
    case 'discord':
      return post('Discord', channel.secrets.url!, discordPayload(notice), deps);
    case 'telegram':
      return post(
        'Telegram',
        `${deps.telegramApiUrl.replace(/\/$/, '')}/bot${channel.secrets.botToken!}/sendMessage`,
        telegramPayload(notice, String(s.chatId)),
        deps,
      );
    case 'webhook': {
      const body = JSON.stringify(webhookBody(notice));
      const t = Math.floor(Date.parse(notice.at) / 1000);
      return post('webhook', channel.secrets.url!, body, deps, {
        [SIGNATURE_HEADER]: signature(channel.secrets.signingSecret!, body, t),
        'x-backup-event': notice.type,
        'idempotency-key': notice.key,
      });
    }
  }
}

async function post(
  service: string,
  url: string,
  payload: unknown,
  deps: TransportDeps,
  headers: Record<string, string> = {},
): Promise<void> {
  const body = typeof payload === 'string' ? payload : JSON.stringify(payload);
  const res = await outboundRequest(
    url,
    { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body, timeoutMs: TIMEOUT_MS },
    deps.outbound,
  ).catch((e: Error) => {
    if (e instanceof BackupError) throw new BackupError(e.kind, `${service}: ${e.message}`, e.details);
    throw new BackupError('unavailable', `${service} unreachable: ${(e as NodeJS.ErrnoException).code ?? e.name}`);
  });
  if (res.status >= 200 && res.status < 300) {
    if (service === 'Telegram' && !/"ok"\s*:\s*true/.test(res.text))
      throw new BackupError('unavailable', `Telegram did not confirm the message: ${describe(res.text)}`);
    return;
  }
  // Too many requests, a timeout or the service's own trouble pass; anything else is the channel's set-up.
  const passing = res.status === 408 || res.status === 429 || res.status >= 500;
  throw new BackupError(
    passing ? 'unavailable' : 'invalid',
    `${service} answered ${res.status}${passing ? '' : ': check the channel'}: ${describe(res.text)}`,
  );
}

/** A service's own words (Telegram's `description`, Slack's `invalid_payload`), short, without anything URL-like. */
function describe(text: string): string {
  let said = text;
  try {
    const json = JSON.parse(text) as { description?: unknown; message?: unknown };
    said = String(json.description ?? json.message ?? text);
  } catch {
    // not JSON: the text itself
  }
  return (
    said
      .replace(/\s+/g, ' ')
      .replace(/https?:\/\/\S+/g, '[url]')
      .slice(0, 200) || '(no body)'
  );
}

async function sendEmail(channel: OpenChannel, notice: Notice, deps: TransportDeps): Promise<void> {
  const s = channel.settings as {
    host: string;
    port: number;
    tls: 'tls' | 'starttls' | 'none';
    user?: string;
    from: string;
    to: string[];
  };
  const address = await permittedAddress(s.host, deps.outbound);
  const transport = nodemailer.createTransport({
    host: address,
    port: s.port,
    secure: s.tls === 'tls',
    requireTLS: s.tls === 'starttls',
    ignoreTLS: s.tls === 'none',
    tls: { servername: s.host },
    ...(s.user && { auth: { user: s.user, pass: channel.secrets.password ?? '' } }),
    connectionTimeout: TIMEOUT_MS,
    greetingTimeout: TIMEOUT_MS,
    socketTimeout: TIMEOUT_MS,
  });
  const { subject, text } = emailMessage(notice);
  try {
    await transport.sendMail({
      from: s.from,
      to: s.to,
      subject,
      text,
      headers: { 'X-Backup-Event': notice.type, 'X-Backup-Key': notice.key },
    });
  } catch (err) {
    const e = err as Error & { code?: string; responseCode?: number; response?: string };
    // A refused login or a 5xx answer is the channel's set-up; a 4xx answer or a lost connection passes.
    const permanent = e.code === 'EAUTH' || (e.responseCode !== undefined && e.responseCode >= 500);
    const said = (e.response ?? e.code ?? e.name).replace(/\s+/g, ' ').slice(0, 200);
    throw new BackupError(permanent ? 'invalid' : 'unavailable', `SMTP server ${s.host}:${s.port}: ${said}`);
  } finally {
    transport.close();
  }
}
