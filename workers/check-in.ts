// The site worker's check-in: it proves it holds the site key, learns which task queue to poll and, when the
// platform runs its own Temporal server, gets a short-lived token for that queue.
import type { SiteIdentity } from '../activities/site/context.ts';
import type { SiteConfig } from '../activities/site-config.ts';
import { engineFor } from '../activities/engines/index.ts';
import { ENGINES, type Engine } from '../common/model.ts';

export interface CheckIn extends SiteIdentity {
  taskQueue: string;
  siteName: string;
  /** When the platform runs its own Temporal server: a short-lived token for this site's one task queue. */
  temporal?: { token: string; expiresAt: string };
}

export class SiteKeyRefused extends Error {
  override name = 'SiteKeyRefused';
}

/** Asks the API who this site is; a wrong key stops the worker with a clear message rather than polling nothing. */
export async function checkIn(config: SiteConfig): Promise<CheckIn> {
  const url = new URL('/api/v1/agent/check-in', config.file.apiUrl);
  const engines = await servableEngines();
  const res = await fetch(url, {
    method: 'POST',
    headers: { authorization: `Bearer ${config.file.siteKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({ engines }),
    signal: AbortSignal.timeout(15_000),
  });
  if (res.status === 401)
    throw new SiteKeyRefused(
      `the API at ${config.file.apiUrl} refused this site's key: copy the key shown when the site was created into ${config.sourcePath}`,
    );
  if (!res.ok) throw new Error(`check-in with ${url} failed: HTTP ${res.status} ${await res.text()}`);
  return (await res.json()) as CheckIn;
}

/** The engines whose tools this machine has: the API refuses a server this site could not back up. */
export async function servableEngines(): Promise<Engine[]> {
  const found = await Promise.all(
    ENGINES.map(async (name) =>
      (await engineFor(name)
        .dumpToolVersion()
        .then(
          () => true,
          () => false,
        ))
        ? name
        : undefined,
    ),
  );
  return found.filter((e): e is Engine => e !== undefined);
}
