// Overview: each configuration's health (last backup, verification, drill and its measured restore time).
import { api, el, fill, fmt, page } from './app.js';

page(async () => {
  const { items } = await api('GET', '/configs');
  const health = await Promise.all(items.map((c) => api('GET', `/configs/${c.id}/health`).catch(() => null)));
  const rows = items.map((c, i) => ({ c, h: health[i] ?? {} }));
  fill(
    document.getElementById('health-table'),
    rows,
    [
      ({ c }) => el('a', { href: `/console/backups?configId=${c.id}`, text: c.name }),
      ({ h }) => (h.lastBackup ? `${h.lastBackup.status}, ${fmt.date(h.lastBackup.at)}` : 'never'),
      ({ h }) => fmt.date(h.lastSuccessfulBackupAt),
      ({ h }) => fmt.date(h.lastVerifiedAt),
      ({ h }) => (h.lastDrill ? `${h.lastDrill.status}, ${fmt.date(h.lastDrill.at)}` : 'never'),
      ({ h }) =>
        h.lastSuccessfulDrill?.restoreSeconds != null ? `${h.lastSuccessfulDrill.restoreSeconds.toFixed(1)} s` : '—',
    ],
    'No configurations yet: add a site, a server, then a configuration.',
  );
});
