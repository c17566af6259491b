// Issue 21: notification channels. A real failed backup reaches an SMTP server and stand-ins for Slack, Teams, Discord,
// Telegram and a signed webhook, each in its service's documented shape; a channel that fails once is retried and
// sent once; a repeated event is one delivery; the test button answers; a stopped site worker raises one site.offline.
import assert from 'node:assert/strict';
import { createHmac, randomUUID, timingSafeEqual } from 'node:crypto';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { MockActivityEnvironment } from '@temporalio/testing';
import { eq } from 'drizzle-orm';
// The platform first: its API schemas extend zod before the central activities' modules make any schema.
import { createConfig, runNowAndWait, setUpSite } from './helpers/fixtures.ts';
import { historyText, settleAll, signup, startStack, waitFor, type Stack } from './helpers/stack.ts';
import type { AlertResult } from '../activities/central/alerts.ts';
import { createCentralActivities } from '../activities/central/index.ts';
import { channelSecretKey } from '../common/channel-secrets.ts';
import { OutboundPolicy } from '../common/outbound.ts';
import { notificationChannels, notificationDeliveries } from '../db/schema.ts';
import { tuningFrom } from '../workers/central.ts';
import { startHttpReceiver, startSmtpReceiver, type HttpReceiver, type SmtpReceiver } from './helpers/receivers.ts';

const SMTP_USER = 'alerts';
const SMTP_PASSWORD = `smtp-${randomUUID()}`;
const BOT_TOKEN = `123456789:${randomUUID().replace(/-/g, '')}`;

/** Verifies X-Backup-Signature as README "Notifications" tells a receiver to: HMAC, constant-time, 5 minutes. */
function verifySignature(secret: string, header: string, rawBody: string, nowSeconds: number): boolean {
  const parts = Object.fromEntries(header.split(',').map((p) => p.split('=', 2) as [string, string]));
  const t = Number(parts.t);
  if (!Number.isInteger(t) || Math.abs(nowSeconds - t) > 300 || !parts.v1) return false;
  const expected = createHmac('sha256', secret).update(`${t}.${rawBody}`).digest();
  const given = Buffer.from(parts.v1, 'hex');
  return given.length === expected.length && timingSafeEqual(given, expected);
}

describe('notification channels', () => {
  let stack: Stack;
  let http: HttpReceiver;
  let smtp: SmtpReceiver;

  before(async () => {
    await settleAll([
      startHttpReceiver().then((x) => (http = x)),
      startSmtpReceiver(SMTP_USER, SMTP_PASSWORD).then((x) => (smtp = x)),
    ]);
    stack = await startStack({
      env: { TELEGRAM_API_URL: `${http.base}/telegram`, SITE_OFFLINE_AFTER_MINUTES: '0.01' },
    });
  });
  after(async () => {
    await stack?.stop();
    await http?.close();
    await smtp?.close();
  });

  const channelBodies = (tag: string) => ({
    email: {
      kind: 'email',
      host: '127.0.0.1',
      port: smtp.port,
      tls: 'none',
      user: SMTP_USER,
      password: SMTP_PASSWORD,
      from: 'backups@example.test',
      to: ['ops@example.test', 'dba@example.test'],
    },
    slack: { kind: 'slack', url: `${http.base}/slack/${tag}/T000/B000/${randomUUID()}` },
    teams: { kind: 'teams', url: `${http.base}/teams/${tag}/${randomUUID()}` },
    discord: { kind: 'discord', url: `${http.base}/discord/${tag}/42/${randomUUID()}` },
    telegram: { kind: 'telegram', botToken: BOT_TOKEN, chatId: '-1001234567890' },
    webhook: { kind: 'webhook', url: `${http.base}/hook/${tag}?source=backup` },
  });

  it('validates channels, masks their secrets and keeps them sealed at rest', async () => {
    const { token, tenantId } = await signup(stack);
    const bad = await stack.api('POST', '/api/v1/channels', {
      token,
      body: { kind: 'slack', name: 'x', events: ['backup.failed'], url: 'ftp://example.com/x' },
    });
    assert.equal(bad.status, 400);
    assert.ok(
      bad.body.error.issues.some((i: any) => i.field === 'url'),
      JSON.stringify(bad.body),
    );
    const badToken = await stack.api('POST', '/api/v1/channels', {
      token,
      body: { kind: 'telegram', name: 'x', events: ['backup.failed'], botToken: 'nope', chatId: '1' },
    });
    assert.equal(badToken.status, 400);
    assert.ok(badToken.body.error.issues.some((i: any) => i.field === 'botToken'));
    const noEvents = await stack.api('POST', '/api/v1/channels', {
      token,
      body: { ...channelBodies('v').discord, name: 'x', events: [] },
    });
    assert.equal(noEvents.status, 400);
    assert.ok(noEvents.body.error.issues.some((i: any) => i.field === 'events'));
    const unknownEvent = await stack.api('POST', '/api/v1/channels', {
      token,
      body: { ...channelBodies('v').discord, name: 'x', events: ['backup.exploded'] },
    });
    assert.equal(unknownEvent.status, 400);

    const bodies = channelBodies('validate');
    const hook = await stack.api('POST', '/api/v1/channels', {
      token,
      body: { ...bodies.webhook, name: 'hook', events: ['backup.failed'] },
    });
    assert.equal(hook.status, 201);
    assert.match(hook.body.signingSecret, /^whsec_/);
    const slack = await stack.api('POST', '/api/v1/channels', {
      token,
      body: { ...bodies.slack, name: 'slack', events: ['backup.failed'] },
    });
    assert.equal(slack.status, 201);
    assert.equal(slack.body.target, `${http.base}/[hidden]`);
    const again = await stack.api('POST', '/api/v1/channels', {
      token,
      body: { ...bodies.slack, name: 'slack', events: ['backup.failed'] },
    });
    assert.equal(again.status, 409);

    const list = await stack.api('GET', '/api/v1/channels', { token });
    const text = JSON.stringify(list.body);
    assert.ok(!text.includes(bodies.slack.url) && !text.includes(hook.body.signingSecret), 'no secret is answered');
    assert.ok(
      !JSON.stringify((await stack.api('GET', `/api/v1/channels/${hook.body.id}`, { token })).body).includes('whsec_'),
    );
    const rows = await stack.db.db
      .select()
      .from(notificationChannels)
      .where(eq(notificationChannels.tenantId, tenantId));
    assert.equal(rows.length, 2);
    for (const r of rows) {
      assert.match(r.secrets, /^v1:/);
      assert.ok(!r.secrets.includes('slack') && !r.secrets.includes('whsec_'), 'secrets are sealed');
    }

    const patched = await stack.api('PATCH', `/api/v1/channels/${slack.body.id}`, {
      token,
      body: { events: ['backup.failed', 'site.offline'], offlineAfterMinutes: 15 },
    });
    assert.equal(patched.status, 200);
    assert.deepEqual(patched.body.events, ['backup.failed', 'site.offline']);
    assert.equal((await stack.api('DELETE', `/api/v1/channels/${slack.body.id}`, { token })).status, 204);
    assert.equal((await stack.api('GET', `/api/v1/channels/${slack.body.id}`, { token })).status, 404);
    const doc = (await (await fetch(`${stack.baseUrl}/openapi.json`)).json()) as { paths: Record<string, unknown> };
    assert.ok(doc.paths['/api/v1/channels'] && doc.paths['/api/v1/channels/{id}/test'], 'the channels are documented');
    const other = await signup(stack);
    assert.equal((await stack.api('GET', `/api/v1/channels/${hook.body.id}`, { token: other.token })).status, 404);
  });

  it('a failed backup reaches every channel in its service’s shape, once, with retries recorded', async () => {
    const { token, tenantId } = await signup(stack);
    const tag = randomUUID().slice(0, 8);
    const bodies = channelBodies(tag);
    const ids: Record<string, string> = {};
    let signingSecret = '';
    for (const [kind, b] of Object.entries(bodies)) {
      const res = await stack.api('POST', '/api/v1/channels', {
        token,
        body: { ...b, name: `${kind}-channel`, events: ['backup.failed', 'backup.partial'] },
      });
      assert.equal(res.status, 201, JSON.stringify(res.body));
      ids[kind] = res.body.id;
      if (kind === 'webhook') signingSecret = res.body.signingSecret;
    }
    // Slack's stand-in is down for the first attempt: the alert activity is retried, the others are not sent again.
    http.answer(`/slack/${tag}/`, 503);

    const database = `bp_missing_${randomUUID().slice(0, 8)}`;
    const { server } = await setUpSite(stack, token, { backupsDir: path.join(stack.tmp, `b-${tag}`) });
    const config = await createConfig(stack, token, { serverId: server.id, databases: [database] });
    const [row] = (await runNowAndWait(stack, token, config.id)) as any[];
    assert.equal(row.status, 'failed');

    const mine = () => http.received.filter((r) => r.path.includes(`/${tag}`) || r.path.includes(BOT_TOKEN));
    await waitFor(
      async () => {
        const list = (await stack.api('GET', '/api/v1/channels', { token })).body.items as any[];
        return list.length === 6 && list.every((c) => c.recentDeliveries[0]?.state === 'sent');
      },
      60_000,
      'every channel delivered',
    );
    const byPath = (p: string) => mine().filter((r) => r.path.startsWith(p));

    // E-mail: one message to both addresses, after a login, with a subject and body that say what failed.
    assert.equal(smtp.mails.length, 1);
    const mail = smtp.mails[0]!;
    assert.equal(mail.user, SMTP_USER);
    assert.deepEqual(mail.to, ['ops@example.test', 'dba@example.test']);
    assert.match(mail.subject, new RegExp(`^\\[backup\\] Backup failed: ${database} on main-pg \\(site site-`));
    assert.match(mail.text, new RegExp(`Database: ${database}`));
    assert.ok(mail.text.includes(row.error.slice(0, 40)), `${mail.text} / ${row.error}`);

    // Slack: two requests (the 503, then the retry), Block Kit with `text` as the fallback.
    const slack = byPath(`/slack/${tag}/`);
    assert.equal(slack.length, 2);
    const s = slack[1]!.body;
    assert.equal(typeof s.text, 'string');
    assert.ok(s.text.includes(database));
    assert.ok(Array.isArray(s.blocks) && s.blocks.length <= 50);
    assert.equal(s.blocks[0].type, 'header');
    assert.equal(s.blocks[0].text.type, 'plain_text');
    assert.ok(s.blocks[0].text.text.length <= 150);
    assert.ok(s.blocks.some((b: any) => b.type === 'section' && b.text?.type === 'mrkdwn'));
    for (const b of s.blocks) assert.ok(['header', 'section', 'context'].includes(b.type));

    // Teams: a message whose attachment is an Adaptive Card.
    const teams = byPath(`/teams/${tag}/`);
    assert.equal(teams.length, 1);
    const t = teams[0]!.body;
    assert.equal(t.type, 'message');
    assert.equal(t.attachments[0].contentType, 'application/vnd.microsoft.card.adaptive');
    assert.equal(t.attachments[0].content.type, 'AdaptiveCard');
    assert.match(t.attachments[0].content.version, /^1\.\d$/);
    assert.ok(t.attachments[0].content.body.some((e: any) => e.type === 'TextBlock' && e.text.includes(database)));
    assert.ok(
      t.attachments[0].content.body.some(
        (e: any) => e.type === 'FactSet' && e.facts.every((f: any) => f.title && f.value),
      ),
    );

    // Discord: `content` and one embed within Discord's limits.
    const discord = byPath(`/discord/${tag}/`);
    assert.equal(discord.length, 1);
    const d = discord[0]!.body;
    assert.ok(typeof d.content === 'string' && d.content.length > 0 && d.content.length <= 2000);
    assert.equal(d.embeds.length, 1);
    assert.ok(d.embeds[0].title.length <= 256 && d.embeds[0].description.length <= 4096);
    assert.ok(d.embeds[0].fields.length <= 25);
    for (const f of d.embeds[0].fields) assert.ok(typeof f.name === 'string' && typeof f.value === 'string');
    assert.ok(!Number.isNaN(Date.parse(d.embeds[0].timestamp)));
    assert.equal(typeof d.embeds[0].color, 'number');

    // Telegram: POST /bot<token>/sendMessage with chat_id and text.
    const telegram = mine().filter((r) => r.path === `/telegram/bot${BOT_TOKEN}/sendMessage`);
    assert.equal(telegram.length, 1);
    const g = telegram[0]!.body;
    assert.equal(g.chat_id, -1001234567890);
    assert.ok(g.text.includes(database) && g.text.length <= 4096);
    assert.equal(g.parse_mode, 'HTML');

    // The generic webhook: JSON, signed; the signature verifies as documented and fails for another body or secret.
    const hook = byPath(`/hook/${tag}`);
    assert.equal(hook.length, 1);
    const h = hook[0]!;
    assert.equal(h.body.type, 'backup.failed');
    assert.equal(h.body.tenantId, tenantId);
    assert.equal(h.body.database, database);
    assert.equal(h.headers['x-backup-event'], 'backup.failed');
    const header = h.headers['x-backup-signature'] as string;
    assert.match(header, /^t=\d+,v1=[0-9a-f]{64}$/);
    const now = Math.floor(Date.now() / 1000);
    assert.ok(verifySignature(signingSecret, header, h.raw, now));
    assert.ok(!verifySignature(signingSecret, header, h.raw.replace(database, 'other'), now));
    assert.ok(!verifySignature(`${signingSecret}x`, header, h.raw, now));
    assert.ok(!verifySignature(signingSecret, header, h.raw, now + 3600), 'an old signature is refused');

    // Recorded: one delivery per channel; Slack's took two attempts, the others one.
    const deliveries = await stack.db.db
      .select()
      .from(notificationDeliveries)
      .where(eq(notificationDeliveries.tenantId, tenantId));
    assert.equal(deliveries.length, 6);
    for (const x of deliveries) {
      assert.equal(x.state, 'sent');
      assert.equal(x.eventType, 'backup.failed');
      assert.equal(x.attempts, x.channelId === ids.slack ? 2 : 1, `${x.channelId}`);
      assert.ok(x.sentAt);
    }
    const slackLog = (await stack.api('GET', `/api/v1/channels/${ids.slack}/deliveries`, { token })).body.items;
    assert.equal(slackLog.length, 1);
    assert.equal(slackLog[0].attempts, 2);

    // No secret in any log line or in the run's Temporal history.
    const secrets = [SMTP_PASSWORD, BOT_TOKEN, signingSecret, bodies.slack.url, bodies.teams.url, bodies.discord.url];
    for (const line of stack.logs.raw) for (const x of secrets) assert.ok(!line.includes(x), `a log line holds ${x}`);
    const history = await historyText(stack, row.workflowId);
    for (const x of secrets) assert.ok(!history.includes(x), `the history holds ${x}`);
  });

  it('the same event raised twice, or at once, is delivered once', async () => {
    const { token, tenantId } = await signup(stack);
    const tag = randomUUID().slice(0, 8);
    const res = await stack.api('POST', '/api/v1/channels', {
      token,
      body: { ...channelBodies(tag).webhook, name: 'hook', events: ['copy.lost'] },
    });
    assert.equal(res.status, 201);
    const activities = createCentralActivities({
      db: stack.db.db,
      logger: stack.logger,
      tuning: tuningFrom(stack.centralEnv),
      outbound: new OutboundPolicy(['127.0.0.1']),
      notify: {
        channelKey: channelSecretKey(stack.centralEnv),
        outbound: new OutboundPolicy(['127.0.0.1']),
        telegramApiUrl: `${http.base}/telegram`,
        offlineAfterMinutes: 10,
      },
    });
    const raise = (workflowId: string): Promise<AlertResult> =>
      new MockActivityEnvironment({
        workflowExecution: { workflowId, runId: randomUUID() },
        activityType: 'alert',
      }).run(activities.alert, {
        tenantId,
        siteName: 'paris',
        event: 'copy.lost' as const,
        key: `copy.lost:backup-${tag}`,
        message: 'every copy of shop_20260101_000000.dump.zst is gone',
      });
    const first = await raise('sync-a');
    assert.deepEqual(
      first.channels.map((c) => c.state),
      ['sent'],
    );
    const second = await raise('sync-b');
    assert.deepEqual(
      second.channels.map((c) => c.state),
      ['already'],
    );
    await Promise.allSettled([raise('sync-c'), raise('sync-d')]);
    assert.equal(http.received.filter((r) => r.path.startsWith(`/hook/${tag}`)).length, 1);
    const rows = await stack.db.db
      .select()
      .from(notificationDeliveries)
      .where(eq(notificationDeliveries.tenantId, tenantId));
    assert.equal(rows.length, 1);
    assert.equal(rows[0]!.attempts, 1);
    assert.equal(rows[0]!.state, 'sent');
  });

  it('the test button sends now and answers how it went', async () => {
    const { token } = await signup(stack);
    const tag = randomUUID().slice(0, 8);
    const bodies = channelBodies(tag);
    const discord = await stack.api('POST', '/api/v1/channels', {
      token,
      body: { ...bodies.discord, name: 'discord', events: ['backup.failed'] },
    });
    const ok = await stack.api('POST', `/api/v1/channels/${discord.body.id}/test`, { token });
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
    assert.equal(ok.body.state, 'sent');
    const got = http.received.filter((r) => r.path.startsWith(`/discord/${tag}/`));
    assert.equal(got.length, 1);
    assert.match(got[0]!.body.embeds[0].title, /^Test notification: channel discord/);

    // A receiver that refuses (404) and an address the outbound rule refuses: answered as failed, saying why.
    const teams = await stack.api('POST', '/api/v1/channels', {
      token,
      body: { ...bodies.teams, name: 'teams', events: ['backup.failed'] },
    });
    http.answer(`/teams/${tag}/`, 404);
    const refused = await stack.api('POST', `/api/v1/channels/${teams.body.id}/test`, { token });
    assert.equal(refused.status, 200);
    assert.equal(refused.body.state, 'failed');
    assert.match(refused.body.error, /Teams answered 404: check the channel/);
    assert.ok(!refused.body.error.includes(bodies.teams.url));
    const internal = await stack.api('POST', '/api/v1/channels', {
      token,
      body: { kind: 'slack', url: 'http://10.1.2.3/services/x', name: 'internal', events: ['backup.failed'] },
    });
    const blocked = await stack.api('POST', `/api/v1/channels/${internal.body.id}/test`, { token });
    assert.equal(blocked.body.state, 'failed');
    assert.match(blocked.body.error, /not a public address/);

    const viewer = await stack.api('GET', '/api/v1/channels', { token });
    const recent = Object.fromEntries(viewer.body.items.map((c: any) => [c.name, c.recentDeliveries[0]]));
    assert.equal(recent.discord.eventType, 'test');
    assert.equal(recent.teams.state, 'failed');
    assert.match(recent.teams.lastError, /404/);
  });

  it(
    'a stopped site worker raises exactly one site.offline, and one site.online when it is back',
    { timeout: 280_000 },
    async () => {
      const { token, tenantId } = await signup(stack);
      const tag = randomUUID().slice(0, 8);
      const channel = await stack.api('POST', '/api/v1/channels', {
        token,
        body: { ...channelBodies(tag).webhook, name: 'pager', events: ['site.offline', 'site.online'] },
      });
      assert.equal(channel.status, 201);
      const { site, worker, siteConfig } = await setUpSite(stack, token, {
        backupsDir: path.join(stack.tmp, `o-${tag}`),
      });
      await waitFor(
        async () => (await stack.api('GET', `/api/v1/sites/${site.id}/status`, { token })).body.online === true,
        60_000,
        'the site online',
      );
      const watch = () =>
        stack.temporal.client.workflow.execute('siteWatchWorkflow', {
          taskQueue: stack.centralTaskQueue,
          workflowId: `site-watch-test-${randomUUID()}`,
          args: [{}],
        }) as Promise<{ offline: string[]; online: string[] }>;
      assert.ok(!(await watch()).offline.includes(site.name), 'a polling site is not offline');

      await worker.kill();
      // The site counts as offline once it has not polled for the online window (2 min); the test's allowance is 0.6 s.
      // Each look runs the watch workflow, as its schedule does: a few seconds apart, not in a tight loop.
      let looks = 0;
      await waitFor(
        async () => {
          if (looks++ > 0) await new Promise((r) => setTimeout(r, 5_000));
          return (await watch()).offline.includes(site.name);
        },
        220_000,
        'the site offline',
      );
      // More watches (as every minute, or after a restart of the central worker): the outage is known, not raised again.
      await watch();
      await watch();
      const offline = http.received.filter((r) => r.path.startsWith(`/hook/${tag}`));
      assert.equal(offline.length, 1, JSON.stringify(offline.map((r) => r.body)));
      assert.equal(offline[0]!.body.type, 'site.offline');
      assert.equal(offline[0]!.body.siteName, site.name);
      assert.match(offline[0]!.body.message, /has not polled since/);
      const rows = await stack.db.db
        .select()
        .from(notificationDeliveries)
        .where(eq(notificationDeliveries.tenantId, tenantId));
      assert.equal(rows.length, 1);
      assert.equal(rows[0]!.eventType, 'site.offline');
      const alertLines = stack.logs.lines.filter(
        (l: any) => l.event?.action === 'site.offline' && l.labels?.tenant_id === tenantId,
      );
      assert.equal(alertLines.length, 1, 'one ECS alert line for the outage');

      // The worker comes back: the outage ends with one site.online, and a later watch says nothing more.
      await stack.startSiteWorker(siteConfig);
      looks = 0;
      await waitFor(
        async () => {
          if (looks++ > 0) await new Promise((r) => setTimeout(r, 2_000));
          return (await watch()).online.includes(site.name);
        },
        60_000,
        'the site back online',
      );
      await watch();
      const said = http.received.filter((r) => r.path.startsWith(`/hook/${tag}`)).map((r) => r.body.type);
      assert.deepEqual(said, ['site.offline', 'site.online']);
    },
  );
});
