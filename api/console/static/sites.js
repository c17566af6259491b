// Sites: register one (its key and worker configuration shown once), see which are online, rotate a key.
import { api, el, fill, fmt, onSubmit, page, say } from './app.js';

const table = document.getElementById('sites-table');

/** The site worker's configuration file, ready to fill in: the key is in it, server passwords are not. */
function snippet(site) {
  return JSON.stringify(
    {
      apiUrl: location.origin,
      siteKey: site.key,
      backupsDir: `/var/backups/${site.name}`,
      servers: {
        'main-pg': { engine: 'postgresql', host: '127.0.0.1', port: 5432, user: 'postgres', passwordEnv: 'PGPASSWORD' },
      },
      destinations: {},
    },
    null,
    2,
  );
}

function showKey(site) {
  const box = document.getElementById('site-key');
  document.getElementById('site-key-value').value = site.key;
  document.getElementById('site-snippet').value = snippet(site);
  box.hidden = false;
  box.focus();
}

async function rotate(site) {
  if (!confirm(`Issue a new key for ${site.name}? Its worker stops working until it is given the new key.`)) return;
  showKey(await api('POST', `/sites/${site.id}/rotate-key`));
  say(`New key for ${site.name}: the old one no longer works.`);
}

async function load() {
  const { items } = await api('GET', '/sites');
  const states = await Promise.all(items.map((s) => api('GET', `/sites/${s.id}/status`).catch(() => null)));
  const online = new Map(items.map((s, i) => [s.id, states[i]]));
  fill(table, items, [
    (s) => s.name,
    (s) => {
      const st = online.get(s.id);
      return el(
        'span',
        { class: st?.online ? 'ok' : 'bad', 'data-online': String(!!st?.online) },
        st?.online ? 'online' : 'offline',
      );
    },
    (s) => fmt.date(online.get(s.id)?.lastSeenAt ?? s.checkedInAt),
    (s) => (s.engines ?? []).join(', ') || '—',
    (s) => el('code', {}, s.taskQueue),
    (s) =>
      el(
        'button',
        { type: 'button', onclick: () => rotate(s).catch((e) => say(e.message, 'error')) },
        `Rotate key of ${s.name}`,
      ),
  ]);
}

page(async () => {
  onSubmit(document.getElementById('site-form'), async (f, form) => {
    const site = await api('POST', '/sites', { name: f.name });
    form.reset();
    showKey(site);
    say(`Site ${site.name} registered. Copy its key now: it is not shown again.`);
    await load();
  });
  await load();
  // Online state follows the workers' polling: looked at again every 10 s.
  setInterval(() => load().catch(() => {}), 10_000);
});
