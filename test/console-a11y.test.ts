// Issue 17: the console by keyboard alone and under axe-core. From the sign-in page, Tab and Enter only: sign in,
// then reach every page through the navigation. On each page axe-core (WCAG 2 A/AA) finds no unlabeled control and no
// serious or critical violation, and at a phone's width nothing needs sideways scrolling of the page. With
// SCREENSHOTS=1 (`npm run screenshots`) the main pages are written to docs/screenshots/.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import { openBrowser, type ConsoleBrowser } from './helpers/browser.ts';
import { createConfig, createShopDatabase, runNowAndWait, setUpSite } from './helpers/fixtures.ts';
import { signup, startStack, type Stack } from './helpers/stack.ts';

const PAGES = [
  'Overview',
  'Sites',
  'Servers',
  'Destinations',
  'Configurations',
  'Backups',
  'Restores',
  'Statistics',
  'Settings',
  'Users',
  'Audit log',
];
const SHOTS = path.join(import.meta.dirname, '..', 'docs', 'screenshots');
/** Rules that mean a control or link has no name a screen reader could say. */
const UNLABELED = ['label', 'button-name', 'link-name', 'select-name', 'input-button-name', 'aria-input-field-name'];

describe('console accessibility (keyboard, axe-core)', () => {
  let stack: Stack;
  let b: ConsoleBrowser;
  let account: Awaited<ReturnType<typeof signup>>;
  let backupId: string;
  const cleanups: (() => Promise<unknown>)[] = [];

  before(async () => {
    stack = await startStack();
    b = await openBrowser(stack.baseUrl);
    // Something to show on every page: a site with its worker, a server, a configuration and one backup.
    account = await signup(stack);
    const source = await createShopDatabase({ customers: 50, events: 200 });
    cleanups.push(() => source.drop());
    const { server, worker } = await setUpSite(stack, account.token, {
      backupsDir: path.join(os.tmpdir(), `bp-a11y-${process.pid}`),
    });
    cleanups.push(() => worker.stop());
    const config = await createConfig(stack, account.token, {
      name: 'shop nightly',
      serverId: server.id,
      databases: [source.name],
    });
    const [row] = await runNowAndWait(stack, account.token, config.id);
    backupId = (row as any).id;
  });
  after(async () => {
    for (const c of cleanups.reverse()) await c().catch(() => {});
    await b?.close();
    await stack?.stop();
  });

  it('signs in and reaches every page by keyboard alone; axe-core finds no unlabeled control or serious violation', async () => {
    const { page, problems } = b;
    await page.goto('/console/signin');
    await tabTo(page, 'Skip to content');
    await tabTo(page, 'Email');
    await page.keyboard.type(account.email);
    await page.keyboard.press('Tab');
    await page.keyboard.type('correct horse battery staple');
    await page.keyboard.press('Enter');
    await page.waitForURL('**/console/');
    await ready(page);
    const axeSource = await readFile(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

    for (const name of PAGES) {
      await tabTo(page, name);
      await page.keyboard.press('Enter');
      await page.waitForURL((u) => u.pathname.startsWith('/console/'));
      await ready(page);
      assert.equal(await page.locator('h1').innerText(), name === 'Users' ? 'Users and roles' : name);
      await checkAxe(page, axeSource, name);
      if (process.env.SCREENSHOTS === '1') await shoot(page, name);
    }
    // The pages reached from a row: one backup (its restore form), the configuration editor.
    for (const [name, url] of [
      ['Backup', `/console/backup?id=${backupId}`],
      ['Backup configuration', '/console/config'],
    ] as const) {
      await page.goto(url);
      await ready(page);
      await checkAxe(page, axeSource, name);
      if (process.env.SCREENSHOTS === '1') await shoot(page, name);
    }

    // At a phone's width every page fits: nothing but a wide table scrolls sideways, inside itself.
    await page.setViewportSize({ width: 390, height: 844 });
    for (const p of ['', 'sites', 'configs', 'backups', 'statistics', 'config', `backup?id=${backupId}`]) {
      await page.goto(`/console/${p}`);
      await ready(page);
      const overflow = await page.evaluate(() => {
        const d = (globalThis as any).document.documentElement;
        return d.scrollWidth - d.clientWidth;
      });
      assert.ok(overflow <= 0, `/console/${p} is ${overflow}px wider than a phone`);
      if (process.env.SCREENSHOTS === '1' && p === 'backups') await shoot(page, 'Backups (phone)');
    }
    assert.deepEqual(problems, [], 'no script error and no CSP refusal');
  });
});

/** Presses Tab until the focused element is the one named, as a keyboard user would (at most 80 presses). */
async function tabTo(page: Page, name: string): Promise<void> {
  for (let i = 0; i < 80; i++) {
    await page.keyboard.press('Tab');
    const focused = await page.evaluate(() => {
      const g = globalThis as any;
      const el = g.document.activeElement;
      const label = el?.labels?.[0]?.textContent ?? '';
      return `${el?.textContent ?? ''}|${label}`.trim();
    });
    const [text, label] = focused.split('|');
    if (text?.trim() === name || label?.trim() === name) return;
  }
  throw new Error(`"${name}" cannot be reached with the Tab key`);
}

async function ready(page: Page): Promise<void> {
  await page.locator('body[data-ready="1"], body[data-finished]').waitFor();
}

async function checkAxe(page: Page, source: string, name: string): Promise<void> {
  // Evaluated through the browser's debugging protocol, which the page's CSP does not govern (it refuses inline scripts).
  await page.evaluate(source);
  const violations: { id: string; impact: string; help: string; nodes: { target: string[] }[] }[] = await page.evaluate(
    async () => {
      const r = await (globalThis as any).axe.run({ runOnly: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] });
      return r.violations.map((v: any) => ({
        id: v.id,
        impact: v.impact,
        help: v.help,
        nodes: v.nodes.map((n: any) => ({ target: n.target })),
      }));
    },
  );
  const bad = violations.filter((v) => UNLABELED.includes(v.id) || v.impact === 'serious' || v.impact === 'critical');
  assert.deepEqual(
    bad.map((v) => `${v.id} (${v.impact}): ${v.help} at ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`),
    [],
    `axe-core on ${name}`,
  );
}

async function shoot(page: Page, name: string): Promise<void> {
  const file = `${name
    .toLowerCase()
    .replace(/[^a-z]+/g, '-')
    .replace(/-$/, '')}.png`;
  await page.screenshot({ path: path.join(SHOTS, file), fullPage: true });
}
