// Issue 17: the web console in a real browser (Debian's chromium) against the whole platform: sign up, register a
// site and start its worker from the snippet the console shows, add a server and a configuration, run it, download
// the file, restore it with live progress, and see the statistics chart draw the run's size.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import postgres from 'postgres';
import { PG_HOST, PG_PORT, PG_USER } from '../ops/services/pg.ts';
import { consoleToken, openBrowser, said, type ConsoleBrowser } from './helpers/browser.ts';
import { createShopDatabase, sha256OfFile } from './helpers/fixtures.ts';
import { startStack, type Stack } from './helpers/stack.ts';

const adminUrl = `postgres://${PG_USER}@${PG_HOST}:${PG_PORT}/postgres`;

describe('web console (chromium, whole platform)', () => {
  let stack: Stack;
  let b: ConsoleBrowser;
  let work: string;
  const cleanups: (() => Promise<unknown>)[] = [];
  // A tenant's own domain: its TXT proof is answered by this stand-in for DNS, its name resolved to loopback.
  const ownDomain = `backups.globex-${randomUUID().slice(0, 6)}.example`;
  const txt = new Map<string, string[][]>();

  before(async () => {
    stack = await startStack({
      env: { BASE_DOMAIN: 'console.test' },
      resolveTxt: async (name) => {
        const found = txt.get(name);
        if (!found) throw Object.assign(new Error(`queryTxt ENOTFOUND ${name}`), { code: 'ENOTFOUND' });
        return found;
      },
    });
    work = await mkdtemp(path.join(os.tmpdir(), 'bp-console-'));
    b = await openBrowser(stack.baseUrl, { hostsDomain: 'console.test', hosts: [ownDomain] });
  });
  after(async () => {
    for (const c of cleanups.reverse()) await c().catch(() => {});
    await b?.close();
    await stack?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('signs up, sets up a site, backs up, downloads, restores and charts, in the browser', async () => {
    const { page, problems } = b;
    const source = await createShopDatabase({ customers: 300, events: 2000 });
    cleanups.push(() => source.drop());
    const tenant = `console-${randomUUID().slice(0, 8)}`;

    // No session: every page sends the visitor to sign in; from there, sign up.
    await page.goto('/console/backups');
    await page.waitForURL(/\/console\/signin\?next=/);
    await page.getByRole('link', { name: 'Sign up' }).click();
    await page.getByLabel("Organisation (your tenant's name)").fill(tenant);
    await page.getByLabel('Email').fill(`${tenant}@example.test`);
    await page.getByLabel('Password').fill('correct horse battery staple');
    await page.getByRole('button', { name: 'Sign up' }).click();
    await page.waitForURL('**/console/sites');
    const token = await consoleToken(page);
    assert.ok(token, 'the session is kept for the tab');

    // A site: its key and the worker's configuration are shown once; the worker starts from that snippet.
    await page.getByLabel("New site's name").fill('branch-office');
    await page.getByRole('button', { name: 'Register site' }).click();
    await page.getByRole('heading', { name: 'Site worker configuration (shown once)' }).waitFor();
    const snippet = JSON.parse(await page.getByLabel('Configuration file (site-worker.json)').inputValue());
    assert.equal(snippet.siteKey, await page.getByLabel('Connection key').inputValue());
    assert.equal(snippet.apiUrl, stack.baseUrl);
    const backupsDir = path.join(work, 'backups');
    const worker = await stack.startSiteWorker({
      ...snippet,
      backupsDir,
      servers: { 'main-pg': { engine: 'postgresql', host: PG_HOST, port: PG_PORT, user: PG_USER, password: 'x' } },
    });
    cleanups.push(() => worker.stop());
    await page.locator('#sites-table [data-online="true"]').waitFor({ timeout: 60_000 });

    // A server, then a configuration of it.
    await page.getByRole('link', { name: 'Servers' }).click();
    await page.getByLabel('Name (as in the site').fill('main-pg');
    await page.getByRole('button', { name: 'Add server' }).click();
    await page.locator('#servers-table td', { hasText: 'main-pg' }).waitFor();

    await page.goto('/console/config');
    await page.getByLabel('Name', { exact: true }).fill('nightly shop');
    await page.getByLabel('Databases').fill(source.name);
    await page.getByLabel('Kind').selectOption('monthly');
    await page.getByLabel('Day of the month (1-28)', { exact: true }).fill('5');
    await page.getByLabel('Time zone').fill('Europe/Berlin');
    await page.getByLabel(/One table per line/).fill('events');
    await page.getByRole('button', { name: 'Save configuration' }).click();
    await said(page, 'Configuration nightly shop saved.');
    assert.match(await page.locator('#next-runs').innerText(), /^Next runs: .*5/);
    const configId = new URL(page.url()).searchParams.get('id')!;
    const cfg = (await stack.api('GET', `/api/v1/configs/${configId}`, { token })).body;
    assert.deepEqual(cfg.schedule, { kind: 'monthly', time: '02:30', dayOfMonth: 5 });
    assert.deepEqual(cfg.cleanTables, [{ table: 'events', mode: 'exclude' }]);
    assert.equal(cfg.drill, null);

    // Edited: a monthly restore drill; what else it has stays.
    await page.getByLabel(/^Restore the newest backup/).check();
    await page.getByLabel('Drill day of the month (1-28)').fill('9');
    await page.getByRole('button', { name: 'Save configuration' }).click();
    await said(page, 'Configuration nightly shop saved.');
    const edited = (await stack.api('GET', `/api/v1/configs/${configId}`, { token })).body;
    assert.deepEqual(edited.drill, {
      schedule: { kind: 'monthly', time: '05:00', dayOfMonth: 9 },
      tolerancePercent: 0,
      assertions: [],
    });
    assert.deepEqual([edited.schedule, edited.verification], [cfg.schedule, null]);

    // A dry run answers its report; pause and resume flip the schedule.
    await page.getByRole('link', { name: 'Configurations' }).click();
    await page.getByRole('button', { name: 'Dry run nightly shop' }).click();
    await said(page, 'Dry run of nightly shop done.');
    assert.match(await page.locator('#dry-run-summary').innerText(), /^nightly shop: ready to back up/);
    assert.ok((await page.locator('#dry-run-checks li').count()) > 0, 'the report lists its checks');
    await page.getByRole('button', { name: 'Pause nightly shop' }).click();
    await page.getByRole('button', { name: 'Resume nightly shop' }).waitFor();
    assert.equal((await stack.api('GET', `/api/v1/configs/${configId}`, { token })).body.paused, true);
    await page.getByRole('button', { name: 'Resume nightly shop' }).click();
    await page.getByRole('button', { name: 'Pause nightly shop' }).waitFor();

    // Run it now; the row appears in the history and turns succeeded.
    await page.getByRole('link', { name: 'Configurations' }).click();
    await page.getByRole('button', { name: 'Run nightly shop now' }).click();
    await said(page, 'Backup of nightly shop started.');
    await page.getByRole('link', { name: 'History of nightly shop' }).click();
    const row = page.locator('#backups-table tbody tr', { hasText: source.name });
    await row.locator('td', { hasText: /^succeeded$/ }).waitFor({ timeout: 120_000 });
    const [backup] = (await stack.api('GET', `/api/v1/backups?configId=${configId}`, { token })).body.items;
    assert.equal(backup.status, 'succeeded', backup.error);

    // Download: the file saved by the browser is the one the history describes.
    await row.getByRole('link').first().click();
    await page.waitForURL(/\/console\/backup\?id=/);
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.getByRole('button', { name: 'Download' }).click(),
    ]);
    const saved = path.join(work, download.suggestedFilename());
    await download.saveAs(saved);
    assert.equal(download.suggestedFilename(), backup.fileName);
    assert.equal(await sha256OfFile(saved), backup.sha256);
    assert.ok(
      (await page.getByRole('link', { name: /Temporal Web UI/ }).getAttribute('href'))!.endsWith(
        `/namespaces/default/workflows/${encodeURIComponent(backup.workflowId)}/${backup.runId}/history`,
      ),
      'the run links to itself in the Temporal Web UI',
    );

    // Restore into a new database and watch it to the end.
    const target = `${source.name}_console`;
    cleanups.push(() => dropDatabase(target));
    await page.getByLabel('Target database', { exact: true }).fill(target);
    await page.getByRole('button', { name: 'Restore', exact: true }).click();
    await page.waitForURL(/\/console\/restore\?id=/);
    await page.locator('body[data-finished]').waitFor({ timeout: 120_000 });
    assert.equal(await page.locator('body').getAttribute('data-finished'), 'succeeded');
    assert.equal(await page.locator('#progress').evaluate((p: any) => p.value), 100);
    const sql = postgres(`postgres://${PG_USER}@${PG_HOST}:${PG_PORT}/${target}`, { max: 1 });
    const [counts] = await sql`select (select count(*)::int from customers) as customers`;
    await sql.end();
    assert.equal(counts!.customers, 300);

    // Statistics: the size chart is drawn, and its point is the run's size as the API computes it.
    await page.getByRole('link', { name: 'Statistics' }).click();
    await page.locator('body[data-charted]').waitFor();
    const stats = (await stack.api('GET', `/api/v1/statistics?configId=${configId}`, { token })).body;
    assert.deepEqual(
      stats.days.map((d: any) => d.bytes),
      [backup.sizeBytes],
    );
    const chart = await page.evaluate(() => {
      // Runs in the page: the test's own types know no DOM.
      const g = globalThis as any;
      const c = g.Chart.getChart('chart-size');
      const canvas = g.document.getElementById('chart-size');
      const pixels = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
      let drawn = 0;
      for (let i = 3; i < pixels.length; i += 4) if (pixels[i] > 0) drawn++;
      return { labels: c.data.labels, data: c.data.datasets.map((d: any) => d.data), drawn };
    });
    assert.deepEqual(
      chart.labels,
      stats.days.map((d: any) => d.day),
    );
    assert.deepEqual(chart.data, [stats.days.map((d: any) => d.bytes)]);
    assert.ok(chart.drawn > 1000, `the canvas has ${chart.drawn} drawn pixels`);

    // Key rotation, once confirmed: the new key is shown once, and it is another.
    await page.getByRole('link', { name: 'Sites' }).click();
    page.once('dialog', (d) => void d.accept());
    await page.getByRole('button', { name: 'Rotate key of branch-office' }).click();
    await said(page, 'New key for branch-office');
    assert.notEqual(await page.getByLabel('Connection key').inputValue(), snippet.siteKey);

    assert.deepEqual(problems, [], 'no script error and no CSP refusal on any page');
  });

  it("signs in through the tenant's address and its own proven domain, to that tenant only", async () => {
    const { page, problems } = b;
    const email = `${randomUUID().slice(0, 8)}@example.test`;
    const password = 'correct horse battery staple';
    const mine = await stack.api('POST', '/api/v1/auth/signup', { body: { tenantName: 'Globex', email, password } });
    // The same email and password open a second tenant: only the address tells them apart.
    const other = await stack.api('POST', '/api/v1/auth/signup', { body: { tenantName: 'Initech', email, password } });
    const domains = await stack.api('GET', '/api/v1/tenant/domains', { token: mine.body.token });
    assert.match(domains.body.address, /^globex(-[0-9a-f]{6})?\.console\.test$/);
    const port = new URL(stack.baseUrl).port;

    await page.goto(`http://${domains.body.address}:${port}/console/signin`);
    await page.getByLabel('Email', { exact: true }).fill(email);
    await page.getByLabel('Password', { exact: true }).fill(password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(`http://${domains.body.address}:${port}/console/`);
    await page.locator('body[data-ready="1"]').waitFor();
    assert.match(await page.locator('#who').innerText(), /· Globex$/);
    const token = await consoleToken(page);
    assert.equal((await stack.api('GET', '/api/v1/tenant', { token })).body.id, mine.body.tenant.id);
    assert.notEqual(other.body.tenant.id, mine.body.tenant.id);

    await page.getByRole('link', { name: 'Settings' }).click();
    await page.getByText(`Your tenant's address: ${domains.body.address}`).waitFor();

    // Its own domain, proven by a TXT record, signs in to it too (a new origin: a fresh session).
    const claimed = await stack.api('POST', '/api/v1/tenant/domains', { token, body: { domain: ownDomain } });
    assert.equal(claimed.status, 201, JSON.stringify(claimed.body));
    txt.set(claimed.body.txtName, [[claimed.body.txtValue]]);
    const proven = await stack.api('POST', `/api/v1/tenant/domains/${claimed.body.id}/verify`, { token });
    assert.equal(proven.status, 200, JSON.stringify(proven.body));
    await page.goto(`http://${ownDomain}:${port}/console/signin`);
    await page.getByLabel('Email', { exact: true }).fill(email);
    await page.getByLabel('Password', { exact: true }).fill(password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(`http://${ownDomain}:${port}/console/`);
    await page.locator('body[data-ready="1"]').waitFor();
    assert.match(await page.locator('#who').innerText(), /· Globex$/);
    const onDomain = await consoleToken(page);
    assert.equal((await stack.api('GET', '/api/v1/tenant', { token: onDomain })).body.id, mine.body.tenant.id);
    assert.deepEqual(problems, []);
  });
});

async function dropDatabase(name: string) {
  const sql = postgres(adminUrl, { max: 1, onnotice: () => {} });
  await sql.unsafe(`drop database if exists "${name}" with (force)`);
  await sql.end();
}
