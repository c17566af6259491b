// Issue 2: a wrong database password ends in a failed history row and one alert, with no retry storm.
// The machine's PostgreSQL trusts every local login, so this test runs a private cluster that checks passwords.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createTempDatabase, startPrivatePostgres, type PrivatePostgres } from '../ops/services/pg.ts';
import { createConfig, runNowAndWait, setUpSite } from './helpers/fixtures.ts';
import { historyText, settleAll, signup, startStack, waitFor, type Stack } from './helpers/stack.ts';

describe('a wrong database password', () => {
  let stack: Stack;
  let pg: PrivatePostgres;
  const webhook: { body: any; headers: IncomingMessage['headers'] }[] = [];
  const hook = createServer((req, res) => {
    let data = '';
    req.on('data', (d: Buffer) => (data += d.toString()));
    req.on('end', () => {
      webhook.push({ body: JSON.parse(data), headers: req.headers });
      res.writeHead(204).end();
    });
  });

  before(async () => {
    // A site that does not pick up its task within 3 s counts as offline in this file.
    await settleAll([
      startStack({ env: { SITE_PICKUP_TIMEOUT_SECONDS: '3' } }).then((x) => (stack = x)),
      startPrivatePostgres().then((x) => (pg = x)),
    ]);
    hook.listen(0, '127.0.0.1');
    await once(hook, 'listening');
  });
  after(async () => {
    hook.close();
    await pg?.stop();
    await stack?.stop();
  });

  it('fails once, non-retryably, records the failure and raises one alert', async () => {
    const db = await createTempDatabase('bp_locked', pg.port, pg.user, pg.password);
    const { token, tenantId } = await signup(stack);
    const hookUrl = `http://127.0.0.1:${(hook.address() as AddressInfo).port}/alerts`;
    assert.equal((await stack.api('PATCH', '/api/v1/tenant', { token, body: { webhookUrl: hookUrl } })).status, 200);

    const wrong = 'not-the-password-1f2e3d';
    const { server, worker } = await setUpSite(stack, token, {
      backupsDir: path.join(stack.tmp, 'locked-backups'),
      connection: { port: pg.port, user: pg.user, password: wrong },
    });
    const config = await createConfig(stack, token, { serverId: server.id, databases: [db.name] });
    const [row] = (await runNowAndWait(stack, token, config.id)) as any[];

    assert.equal(row.status, 'failed');
    assert.match(row.error, /refused the login/);
    assert.match(row.error, /check the password/);
    assert.equal(row.fileName, null);
    assert.equal(row.availableForDownload, false);

    // One alert on the webhook, naming what failed.
    await waitFor(() => webhook.length > 0, 30_000, 'the alert webhook');
    assert.equal(webhook.length, 1);
    assert.equal(webhook[0]!.body.type, 'backup.failed');
    assert.equal(webhook[0]!.body.tenantId, tenantId);
    assert.equal(webhook[0]!.body.database, db.name);
    assert.match(webhook[0]!.body.message, /refused the login/);
    // …and as an ECS alert event in the central worker's log.
    const alertLine = stack.logs.lines.find((l: any) => l.event?.kind === 'alert') as any;
    assert.ok(alertLine, 'an ECS alert event is logged');
    assert.equal(alertLine.labels.tenant_id, tenantId);

    // No retry storm: the failing step ran exactly once, and nothing after it ran at all.
    const handle = stack.temporal.client.workflow.getHandle(row.workflowId);
    await assert.rejects(handle.result(), (e: Error) =>
      /1 of 1 database backups failed/.test((e.cause as Error)?.message ?? ''),
    );
    const { status } = await handle.describe();
    assert.equal(status.name, 'FAILED');
    const events = (await handle.fetchHistory()).events ?? [];
    const started = events.filter((e) => e.activityTaskStartedEventAttributes);
    const scheduledName = (id: unknown) =>
      events.find((e) => Number(e.eventId) === Number(id))?.activityTaskScheduledEventAttributes?.activityType?.name;
    const cleanStarts = started.filter(
      (e) => scheduledName(e.activityTaskStartedEventAttributes!.scheduledEventId) === 'cleanTables',
    );
    assert.equal(cleanStarts.length, 1);
    assert.equal(cleanStarts[0]!.activityTaskStartedEventAttributes!.attempt, 1);
    assert.equal(events.filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'dump').length, 0);

    for (const line of [...worker.logs.raw, ...stack.logs.raw])
      assert.ok(!line.includes(wrong), `a log line holds the password: ${line}`);
    assert.ok(!(await historyText(stack, row.workflowId)).includes(wrong), 'the Temporal history holds the password');
    await db.drop();
  });

  it('fails with a message naming the site when no worker picks up its task', async () => {
    const { token } = await signup(stack);
    const site = (await stack.api('POST', '/api/v1/sites', { token, body: { name: 'dark-site' } })).body;
    const server = (
      await stack.api('POST', '/api/v1/servers', { token, body: { siteId: site.id, name: 'pg', engine: 'postgresql' } })
    ).body;
    assert.equal((await stack.api('GET', `/api/v1/sites/${site.id}/status`, { token })).body.online, false);
    const config = await createConfig(stack, token, { serverId: server.id, databases: ['shop'] });
    const [row] = (await runNowAndWait(stack, token, config.id)) as any[];
    assert.equal(row.status, 'failed');
    assert.match(row.error, /worker of site 'dark-site' did not pick up the task/);
  });
});
