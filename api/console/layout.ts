// The frame every console page shares: a skip link, the navigation, one <main>. Pages are HTML shells with labelled
// controls; their data comes from the API's own routes, fetched by the page's same-origin script (static/), so the
// console holds no business logic and no second way to authorise.
import { html } from 'hono/html';
import type { HtmlEscapedString } from 'hono/utils/html';

type Html = HtmlEscapedString | Promise<HtmlEscapedString>;

const NAV: [href: string, label: string][] = [
  ['/console/', 'Overview'],
  ['/console/sites', 'Sites'],
  ['/console/servers', 'Servers'],
  ['/console/destinations', 'Destinations'],
  ['/console/configs', 'Configurations'],
  ['/console/backups', 'Backups'],
  ['/console/restores', 'Restores'],
  ['/console/statistics', 'Statistics'],
  ['/console/channels', 'Notifications'],
  ['/console/settings', 'Settings'],
  ['/console/users', 'Users'],
  ['/console/audit', 'Audit log'],
];

export interface PageMeta {
  title: string;
  /** The page's script in static/ (an ES module); absent for a page without one. */
  script?: string;
  /** Sign-in and sign-up have no navigation: there is no one to navigate for yet. */
  open?: boolean;
  /** Other scripts the page needs first (Chart.js for statistics). */
  vendor?: string[];
}

export function layout(meta: PageMeta, path: string, settings: { temporalUi: string }, body: Html) {
  const nav = meta.open
    ? ''
    : html`<nav aria-label="Console">
        <ul>
          ${NAV.map(
            ([href, label]) =>
              html`<li><a href="${href}" ${href === path ? html`aria-current="page"` : ''}>${label}</a></li>`,
          )}
        </ul>
        <button type="button" id="sign-out">Sign out</button>
      </nav>`;
  return html`<!doctype html>
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <meta name="temporal-ui" content="${settings.temporalUi}" />
        <title>${meta.title} · Backup console</title>
        <link rel="icon" href="data:," />
        <link rel="stylesheet" href="/console/assets/style.css" />
        ${(meta.vendor ?? []).map((v) => html`<script src="/console/vendor/${v}"></script>`)}
        ${meta.script ? html`<script type="module" src="/console/assets/${meta.script}"></script>` : ''}
      </head>
      <body ${meta.open ? html`data-open="1"` : ''}>
        <a class="skip" href="#main">Skip to content</a>
        <header><span class="brand">Backup console</span> <span id="who"></span></header>
        ${nav}
        <main id="main" tabindex="-1">
          <h1>${meta.title}</h1>
          <p id="status" role="status" aria-live="polite"></p>
          ${body}
        </main>
      </body>
    </html>`;
}
