// Restores and drills, newest first; each opens its live view.
import { api, el, fill, fmt, page, temporalLink } from './app.js';

page(async () => {
  const { items } = await api('GET', '/restores');
  fill(document.getElementById('restores-table'), items, [
    (r) => el('a', { href: `/console/restore?id=${r.id}`, text: fmt.date(r.startedAt) }),
    (r) => r.kind,
    (r) => r.targetDatabase,
    (r) => r.status,
    (r) => (r.restoreSeconds != null ? `${r.restoreSeconds.toFixed(1)} s` : '—'),
    (r) => temporalLink(r.workflowId, null, `Run of ${r.targetDatabase} in Temporal`),
  ]);
});
