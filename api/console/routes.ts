// The web console, served by the API process on the same origin: HTML shells at /console/…, their scripts and styles
// at /console/assets/…, Chart.js at /console/vendor/… from the installed package (no CDN). Pages carry no tenant data;
// each page's script calls the API's own routes with the signed-in user's token.
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Hono } from 'hono';
import type { HtmlEscapedString } from 'hono/utils/html';
import { layout, type PageMeta } from './layout.ts';
import * as account from './pages/account.ts';
import * as channels from './pages/channels.ts';
import * as configs from './pages/configs.ts';
import * as history from './pages/history.ts';
import * as setup from './pages/setup.ts';
import * as tenant from './pages/tenant.ts';

type Body = () => HtmlEscapedString | Promise<HtmlEscapedString>;

const PAGES: Record<string, PageMeta & { body: Body }> = {
  '': { title: 'Overview', script: 'overview.js', body: configs.overview },
  signin: { title: 'Sign in', script: 'account.js', open: true, body: account.signin },
  signup: { title: 'Sign up', script: 'account.js', open: true, body: account.signup },
  sites: { title: 'Sites', script: 'sites.js', body: setup.sites },
  servers: { title: 'Servers', script: 'servers.js', body: setup.servers },
  destinations: { title: 'Destinations', script: 'destinations.js', body: setup.destinations },
  configs: { title: 'Configurations', script: 'configs.js', body: configs.configs },
  config: { title: 'Backup configuration', script: 'config.js', body: configs.config },
  backups: { title: 'Backups', script: 'backups.js', body: history.backups },
  backup: { title: 'Backup', script: 'backup.js', body: history.backup },
  restores: { title: 'Restores', script: 'restores.js', body: history.restores },
  restore: { title: 'Restore', script: 'restore.js', body: history.restore },
  statistics: { title: 'Statistics', script: 'statistics.js', vendor: ['chart.umd.min.js'], body: tenant.statistics },
  settings: { title: 'Settings', script: 'settings.js', body: tenant.settings },
  channels: { title: 'Notification channels', script: 'channels.js', body: channels.channels },
  users: { title: 'Users and roles', script: 'users.js', body: tenant.users },
  audit: { title: 'Audit log', script: 'audit.js', body: tenant.audit },
};

const STATIC_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), 'static');
const CHART_DIR = path.dirname(createRequire(import.meta.url).resolve('chart.js'));
const TYPES: Record<string, string> = { '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8' };
const VENDOR: Record<string, string> = { 'chart.umd.min.js': path.join(CHART_DIR, 'chart.umd.min.js') };

export interface ConsoleOptions {
  /** Where operators open the Temporal Web UI; each run links to itself there. */
  temporalUi: string;
  namespace: string;
}

export function consoleRoutes(opts: ConsoleOptions) {
  const app = new Hono();
  const cache = new Map<string, Buffer>();
  const file = async (full: string) => {
    let body = cache.get(full);
    if (!body) cache.set(full, (body = await readFile(full)));
    return new Uint8Array(body);
  };
  const settings = { temporalUi: `${opts.temporalUi.replace(/\/$/, '')}/namespaces/${opts.namespace}` };

  app.get('/', (c) => c.redirect('/console/'));
  app.get('/console', (c) => c.redirect('/console/'));
  app.get('/console/assets/:name', async (c) => {
    const name = c.req.param('name');
    const type = TYPES[path.extname(name)];
    // Only plain names of files in static/: no path can climb out of it.
    if (!type || !/^[a-z-]+\.(js|css)$/.test(name)) return c.notFound();
    const body = await file(path.join(STATIC_DIR, name)).catch(() => null);
    if (!body) return c.notFound();
    return c.body(body, 200, { 'content-type': type, 'cache-control': 'no-cache' });
  });
  app.get('/console/vendor/:name', async (c) => {
    const full = VENDOR[c.req.param('name')];
    if (!full) return c.notFound();
    return c.body(await file(full), 200, {
      'content-type': TYPES['.js']!,
      'cache-control': 'public, max-age=86400',
    });
  });
  app.get('/console/:page{[a-z]*}', (c) => {
    const name = c.req.param('page');
    const page = PAGES[name];
    if (!page) return c.notFound();
    return c.html(layout(page, c.req.path, settings, page.body()));
  });
  return app;
}
