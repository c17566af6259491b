// A real browser for the console's tests: Debian's chromium (ops/setup/env.sh installs it), driven by playwright-core.
// Every page's script errors and CSP refusals are collected, so a test can insist there were none.
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';

export interface ConsoleBrowser {
  browser: Browser;
  context: BrowserContext;
  page: Page;
  /** Uncaught page errors and console errors (a CSP refusal is one), in order. */
  problems: string[];
  close(): Promise<void>;
}

/**
 * Names under `hostsDomain` (tenants' addresses) and the names in `hosts` (tenants' own domains) resolve to loopback in
 * this browser, as their DNS records would point at the platform.
 */
export async function openBrowser(
  baseURL: string,
  opts: { viewport?: { width: number; height: number }; hostsDomain?: string; hosts?: string[] } = {},
): Promise<ConsoleBrowser> {
  const viewport = opts.viewport ?? { width: 1280, height: 900 };
  const rules = [
    ...(opts.hostsDomain ? [`MAP *.${opts.hostsDomain} 127.0.0.1`] : []),
    ...(opts.hosts ?? []).map((h) => `MAP ${h} 127.0.0.1`),
  ];
  const args = rules.length ? [`--host-resolver-rules=${rules.join(', ')}`] : [];
  const browser = await chromium.launch({ executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium', args });
  try {
    const context = await browser.newContext({ baseURL, acceptDownloads: true, viewport });
    const page = await context.newPage();
    // Each wait is on a condition; on a 2-core machine shared with other test files a step (a Temporal call behind a
    // click) can take longer than playwright's 30 s default without anything being wrong.
    page.setDefaultTimeout(90_000);
    const problems: string[] = [];
    page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
    page.on('console', (msg) => {
      // Plain HTTP to a name other than localhost (a tenant's test address) makes chromium say it ignores COOP, which
      // only HTTPS carries: a notice about the test's transport, not a fault of the page.
      if (msg.text().includes('Cross-Origin-Opener-Policy header has been ignored')) return;
      if (msg.type() === 'error') problems.push(`console: ${msg.text()} (${msg.location().url})`);
    });
    return { browser, context, page, problems, close: () => browser.close() };
  } catch (err) {
    await browser.close();
    throw err;
  }
}

/** The signed-in session's token, as the console keeps it (sessionStorage), so the test can ask the API too. */
export async function consoleToken(page: Page): Promise<string> {
  return page.evaluate(() => JSON.parse(sessionStorage.getItem('bp.session') ?? '{}').token as string);
}

/**
 * Waits until the page's status line says `text`, or says an error: then fails with the console's own message, so a
 * refused step explains itself instead of timing out.
 */
export async function said(page: Page, text: string): Promise<void> {
  await page.waitForFunction((t) => {
    const s = (globalThis as any).document.getElementById('status');
    return s.textContent.includes(t) || s.dataset.kind === 'error';
  }, text);
  const status = page.locator('#status');
  if ((await status.getAttribute('data-kind')) === 'error')
    throw new Error(`waiting for "${text}", the console said: ${await status.innerText()}`);
}
