// Issue 17: the console's history page in a real browser (Debian's chromium via playwright-core) on the million-row
// tenant: from navigation to the first page of rows drawn. Skipped, with a line saying why, where there is no chromium.
import { access } from 'node:fs/promises';
import type { BenchContext } from './context.ts';

const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';

export async function historyFirstPaint(
  ctx: BenchContext,
  baseUrl: string,
  session: { token: string; email: string },
): Promise<void> {
  if (
    !(await access(CHROMIUM).then(
      () => true,
      () => false,
    ))
  ) {
    ctx.log(`  history page in the browser: skipped, no ${CHROMIUM} (npm test installs Debian's chromium)`);
    return;
  }
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({ executablePath: CHROMIUM });
  ctx.cleanup.add('chromium', () => browser.close());
  try {
    const page = await browser.newPage({ baseURL: baseUrl, viewport: { width: 1280, height: 900 } });
    // The session as the sign-in page leaves it (sessionStorage of this origin).
    await page.goto('/console/signin');
    await page.evaluate(
      (s) =>
        sessionStorage.setItem(
          'bp.session',
          JSON.stringify({ token: s.token, user: { email: s.email, role: 'owner' }, tenant: { name: 'bench' } }),
        ),
      session,
    );
    for (let r = 0; r <= ctx.runs; r++) {
      const t = performance.now();
      await page.goto('/console/backups');
      await page.locator('#backups-table tbody tr:nth-child(25)').waitFor();
      const ms = performance.now() - t;
      const fcp = await page.evaluate(
        () => performance.getEntriesByName('first-contentful-paint')[0]?.startTime ?? Number.NaN,
      );
      if (r === 0) continue; // warm-up: the browser's cache of the page's script and styles
      ctx.results.figure('console-history-rows', '(17) history page, 1M rows: navigation to 25 rows drawn', 'ms', ms);
      ctx.results.figure('console-history-fcp', '(17) history page, 1M rows: first contentful paint', 'ms', fcp);
      ctx.log(
        `  history page in chromium [${r}/${ctx.runs}]: first paint ${fcp.toFixed(0)} ms, rows ${ms.toFixed(0)} ms`,
      );
    }
  } finally {
    await browser.close();
  }
}
