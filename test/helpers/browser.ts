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

export async function openBrowser(baseURL: string, viewport = { width: 1280, height: 900 }): Promise<ConsoleBrowser> {
  const browser = await chromium.launch({ executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium' });
  try {
    const context = await browser.newContext({ baseURL, acceptDownloads: true, viewport });
    const page = await context.newPage();
    const problems: string[] = [];
    page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
    page.on('console', (msg) => {
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
