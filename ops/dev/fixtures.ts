// What the tests and the bench set up through the API before a run: a tenant, a site with its server and running
// worker, a backup configuration. Each throws with the API's answer when it is refused.
import { randomUUID } from 'node:crypto';
import type { SiteConfigInput } from '../../activities/site-config.ts';
import type { DestinationSettings } from '../../activities/storage/index.ts';
import { PG_HOST, PG_PORT, PG_USER } from '../services/pg.ts';
import type { Platform } from './stack.ts';

/** signup → token; a fresh tenant per call. */
export async function signup(platform: Pick<Platform, 'api'>, name = `t-${randomUUID().slice(0, 8)}`) {
  const email = `${name}@example.test`;
  const res = await platform.api('POST', '/api/v1/auth/signup', {
    body: { tenantName: name, email, password: 'correct horse battery staple' },
  });
  if (res.status !== 201) throw new Error(`signup failed: ${res.status} ${JSON.stringify(res.body)}`);
  return { token: res.body.token as string, tenantId: res.body.tenant.id as string, email };
}

/** Site, server and site worker for a tenant; the server points at the machine's PostgreSQL unless told otherwise. */
export async function setUpSite(
  platform: Pick<Platform, 'api' | 'baseUrl' | 'startSiteWorker'>,
  token: string,
  opts: {
    backupsDir: string;
    serverName?: string;
    connection?: { host?: string; port?: number; user?: string; password?: string };
    /** Registered in the API by name and kind; the settings (secrets included) go only into the site's file. */
    destinations?: Record<string, DestinationSettings & { maxBytesPerSecond?: number }>;
    /** More settings for the site's file (e.g. `mirrorAllow`). */
    siteExtra?: Partial<SiteConfigInput>;
  },
) {
  const site = await platform.api('POST', '/api/v1/sites', {
    token,
    body: { name: `site-${Math.random().toString(36).slice(2, 8)}` },
  });
  if (site.status !== 201) throw new Error(`site: ${site.status} ${JSON.stringify(site.body)}`);
  const serverName = opts.serverName ?? 'main-pg';
  const server = await platform.api('POST', '/api/v1/servers', {
    token,
    body: { siteId: site.body.id, name: serverName, engine: 'postgresql' },
  });
  if (server.status !== 201) throw new Error(`server: ${server.status} ${JSON.stringify(server.body)}`);
  const c = opts.connection ?? {};
  const destinations: Record<string, { id: string; name: string; kind: string }> = {};
  for (const [name, settings] of Object.entries(opts.destinations ?? {})) {
    const d = await platform.api('POST', '/api/v1/destinations', {
      token,
      body: { siteId: site.body.id, name, kind: settings.type },
    });
    if (d.status !== 201) throw new Error(`destination: ${d.status} ${JSON.stringify(d.body)}`);
    destinations[name] = d.body;
  }
  const siteConfig = {
    destinations: opts.destinations ?? {},
    apiUrl: platform.baseUrl,
    siteKey: site.body.key as string,
    backupsDir: opts.backupsDir,
    ...opts.siteExtra,
    servers: {
      [serverName]: {
        engine: 'postgresql' as const,
        host: c.host ?? PG_HOST,
        port: c.port ?? PG_PORT,
        user: c.user ?? PG_USER,
        password: c.password ?? 'site-only-Secret-0xC0FFEE',
      },
    },
  };
  const worker = await platform.startSiteWorker(siteConfig);
  return { site: site.body, server: server.body, worker, siteConfig, destinations };
}

export async function createConfig(platform: Pick<Platform, 'api'>, token: string, body: Record<string, unknown>) {
  const res = await platform.api('POST', '/api/v1/configs', {
    token,
    body: {
      name: `cfg-${Math.random().toString(36).slice(2, 8)}`,
      schedule: { kind: 'daily', time: '03:00' },
      timezone: 'Europe/Berlin',
      ...body,
    },
  });
  if (res.status !== 201) throw new Error(`config: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
}
