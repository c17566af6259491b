// Backup history: filters (site, server, database, status, date range) and cursor paging, newest first.
import { api, el, fill, fmt, onSubmit, options, page, param, temporalLink } from './app.js';

const $ = (id) => document.getElementById(id);
let rows = [];
let next = null;
let servers = new Map();

function query(f, cursor) {
  const q = new URLSearchParams();
  for (const k of ['siteId', 'serverId', 'database', 'status']) if (f[k]) q.set(k, f[k]);
  const configId = param('configId');
  if (configId) q.set('configId', configId);
  // A date is a whole day in the browser's time zone: from its first moment to the next day's.
  if (f.from) q.set('from', new Date(`${f.from}T00:00`).toISOString());
  if (f.to) q.set('to', new Date(new Date(`${f.to}T00:00`).getTime() + 86_400_000).toISOString());
  q.set('limit', '25');
  if (cursor) q.set('cursor', cursor);
  return q;
}

function render() {
  fill(
    $('backups-table'),
    rows,
    [
      (b) => el('a', { href: `/console/backup?id=${b.id}`, text: fmt.date(b.startedAt) }),
      (b) => b.database,
      (b) => servers.get(b.serverId),
      (b) => el('span', { class: b.status === 'succeeded' ? 'ok' : b.status === 'running' ? '' : 'bad' }, b.status),
      (b) => fmt.bytes(b.sizeBytes),
      (b) => fmt.seconds(b.startedAt, b.finishedAt),
      (b) => b.fileName ?? '—',
      (b) => b.triggeredBy ?? 'schedule',
      (b) => temporalLink(b.workflowId, b.runId, `Run of ${b.database} in Temporal`),
    ],
    'No backups match.',
  );
  $('more').hidden = !next;
}

async function load(f, cursor) {
  const pageOf = await api('GET', `/backups?${query(f, cursor)}`);
  rows = cursor ? rows.concat(pageOf.items) : pageOf.items;
  next = pageOf.nextCursor;
  render();
}

page(async () => {
  const [{ items: sites }, { items: srv }] = await Promise.all([api('GET', '/sites'), api('GET', '/servers')]);
  servers = new Map(srv.map((s) => [s.id, s.name]));
  options($('f-site'), sites);
  options($('f-server'), srv);
  const form = $('filters');
  const filters = () => Object.fromEntries(new FormData(form));
  onSubmit(form, (f) => load(f));
  $('more').addEventListener('click', () => load(filters(), next));
  await load(filters());
  // Running backups change state: the first page is read again while any of them runs.
  setInterval(() => {
    if (rows.some((b) => b.status === 'running') || rows.length === 0) load(filters()).catch(() => {});
  }, 3000);
});
