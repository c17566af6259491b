// Issue 21, metrics: the API's /metrics (bearer METRICS_TOKEN) shows a configuration that just ran — its last success
// time and size as the history row has them, the run counter, the run-now route's latency — and a site worker with
// METRICS_PORT answers its own /metrics with the activities it ran. Every scrape is parsed as Prometheus text.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createApp } from '../api/app.ts';
import { createConfig, createShopDatabase, setUpSite, runNowAndWait } from './helpers/fixtures.ts';
import { signup, startStack, waitFor, type Stack } from './helpers/stack.ts';

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
const LABEL = '[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\\\\n]|\\\\[\\\\"n])*"';
const SAMPLE = new RegExp(`^(${NAME})(?:\\{((?:${LABEL})(?:,${LABEL})*,?)?\\})? (\\S+)(?: -?\\d+)?$`);
const VALUE = /^(?:[+-]?(?:\d+\.?\d*(?:e[+-]?\d+)?|\.\d+)|NaN|[+-]Inf)$/i;

/** The text exposition format, line by line: comments are HELP/TYPE, every other non-empty line a valid sample. */
function parseMetrics(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    if (line.startsWith('#')) {
      assert.match(
        line,
        new RegExp(`^# (?:HELP ${NAME} .*|TYPE ${NAME} (?:counter|gauge|histogram|summary|untyped))$`),
      );
      continue;
    }
    const m = SAMPLE.exec(line);
    assert.ok(m, `not a valid sample line: ${line}`);
    assert.match(m[3]!, VALUE, `not a number: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(new RegExp(`([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\\]|\\\\.)*)"`, 'g')))
      labels[l[1]!] = l[2]!.replace(/\\n/g, '\n').replace(/\\(["\\])/g, '$1');
    samples.push({ name: m[1]!, labels, value: Number(m[3]!.replace(/Inf$/i, 'Infinity')) });
  }
  return samples;
}

const find = (samples: Sample[], name: string, labels: Record<string, string> = {}) =>
  samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));

describe('metrics', () => {
  let stack: Stack;
  const metricsToken = randomUUID();
  before(async () => {
    stack = await startStack({ env: { METRICS_TOKEN: metricsToken } });
  });
  after(async () => {
    await stack?.stop();
  });

  const scrape = async (headers: Record<string, string> = { authorization: `Bearer ${metricsToken}` }) => {
    const res = await fetch(`${stack.baseUrl}/metrics`, { headers });
    return { status: res.status, type: res.headers.get('content-type'), text: await res.text() };
  };

  it('shows a configuration that just ran, the run counter and the run-now route; a site worker serves its own', async () => {
    const db = await createShopDatabase({ customers: 50, events: 200 });
    try {
      const { token } = await signup(stack);
      const { server, worker, siteConfig } = await setUpSite(stack, token, {
        backupsDir: path.join(stack.tmp, 'metrics-backups'),
      });
      // The site's worker again, now with its own metrics listener on a free loopback port.
      await worker.stop();
      const siteWorker = await stack.startSiteWorker(siteConfig, { env: { METRICS_PORT: '0' } });
      const succeeded = (s: Sample[]) => find(s, 'backup_platform_runs_total', { outcome: 'succeeded' })[0]?.value ?? 0;
      const runsBefore = succeeded(parseMetrics((await scrape()).text));

      const config = await createConfig(stack, token, { serverId: server.id, databases: [db.name] });
      const [row] = (await runNowAndWait(stack, token, config.id)) as any[];
      assert.equal(row.status, 'succeeded');

      const res = await scrape();
      assert.equal(res.status, 200);
      assert.match(res.type ?? '', /^text\/plain; version=0\.0\.4/);
      const samples = parseMetrics(res.text);
      const labels = { config_id: config.id };
      const [last] = find(samples, 'backup_platform_config_last_success_timestamp_seconds', labels);
      assert.ok(last, 'the configuration has a last success time');
      assert.ok(Math.abs(last.value - Date.parse(row.finishedAt) / 1000) <= 2, `${last.value} vs ${row.finishedAt}`);
      assert.equal(last.labels.config_name, config.name);
      assert.equal(find(samples, 'backup_platform_config_last_size_bytes', labels)[0]?.value, Number(row.sizeBytes));
      const duration = find(samples, 'backup_platform_config_last_duration_seconds', labels)[0]?.value;
      assert.ok(duration !== undefined && duration >= 0 && duration < 120);
      assert.equal(find(samples, 'backup_platform_config_last_copies', { ...labels, state: 'stored' })[0]?.value, 1);
      assert.equal(succeeded(samples), runsBefore + 1);
      const runNow = find(samples, 'backup_platform_http_request_duration_seconds_count', {
        route: '/api/v1/configs/:id/run',
        method: 'POST',
        status: '2xx',
      });
      assert.equal(runNow[0]?.value, 1);
      // Route patterns only: no id of any row, no database name, no secret in any label.
      const labelText = samples.flatMap((s) => Object.values(s.labels)).join('\n');
      const routes = find(samples, 'backup_platform_http_request_duration_seconds_count').map((s) => s.labels.route!);
      assert.ok(!routes.some((r) => r.includes(config.id)), 'route patterns, not paths');
      for (const secret of [db.name, siteConfig.siteKey, siteConfig.servers['main-pg']!.password, metricsToken])
        assert.ok(!labelText.includes(secret), 'no database name or secret in a label');
      assert.ok(find(samples, 'backup_platform_process_cpu_user_seconds_total').length === 1, 'default metrics');

      // The site worker's listener: it says where it listens, and counts the activities it ran.
      const line = await waitFor(
        () =>
          siteWorker.logs.lines
            .map((l) => String(l.message))
            .find((m) => /^metrics on http:\/\/127\.0\.0\.1:\d+\/metrics$/.test(m)),
        30_000,
        'the site worker metrics listener',
      );
      const site = await fetch(line.slice('metrics on '.length));
      assert.equal(site.status, 200);
      const siteSamples = parseMetrics(await site.text());
      const dumps = find(siteSamples, 'backup_platform_activities_total', { activity: 'dump', outcome: 'success' });
      assert.equal(dumps[0]?.value, 1);
      assert.equal(find(siteSamples, 'backup_platform_config_last_size_bytes').length, 0, 'no metadata at a site');
    } finally {
      await db.drop();
    }
  });

  it('refuses a scrape without the token (401) and has no /metrics without METRICS_TOKEN (404)', async () => {
    assert.equal((await scrape({})).status, 401);
    assert.equal((await scrape({ authorization: `Bearer ${metricsToken}x` })).status, 401);
    assert.equal((await scrape({ authorization: metricsToken })).status, 401);
    const open = createApp({
      db: stack.db.db,
      temporal: stack.temporal,
      logger: stack.logger,
      jwtSecret: randomUUID() + randomUUID(),
      jwtTtlSeconds: 60,
      centralTaskQueue: stack.centralTaskQueue,
    });
    assert.equal(
      (await open.request('/metrics', { headers: { authorization: `Bearer ${metricsToken}` } })).status,
      404,
    );
  });
});
