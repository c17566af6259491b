// One backup: its fields, its copies and their events, the download, and the restore form.
import { api, el, fill, fmt, onSubmit, options, page, param, say, send, temporalLink } from './app.js';

const $ = (id) => document.getElementById(id);

function fields(b, serverName) {
  const rows = [
    ['Database', b.database],
    ['Server', serverName],
    ['Status', b.status],
    ['Started', fmt.date(b.startedAt)],
    ['Finished', fmt.date(b.finishedAt)],
    ['Started by', b.triggeredBy ?? 'its schedule'],
    ['Size', `${fmt.bytes(b.sizeBytes)} (${b.sizeBytes ?? '—'} bytes)`],
    ['SHA-256', b.sha256 ?? '—'],
    ['File', b.fileName ?? '—'],
    ['Location', b.location ?? '—'],
    ['Compression', b.compression ?? 'none'],
    ['Encrypted', b.encrypted ? 'yes' : 'no'],
    ['Error', b.error ?? '—'],
  ];
  $('backup-fields').replaceChildren(...rows.flatMap(([k, v]) => [el('dt', {}, k), el('dd', { 'data-field': k }, v)]));
}

/** Downloads through the API with the session's token, then hands the file to the browser to save. */
async function download(b) {
  say(`Downloading ${b.fileName}…`);
  const res = await send('GET', `/backups/${b.id}/download`);
  if (!res.ok) throw new Error((await res.json()).error.message);
  const url = URL.createObjectURL(await res.blob());
  const a = el('a', { href: url, download: b.fileName });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
  say(`Downloaded ${b.fileName}; its SHA-256 should be ${res.headers.get('x-backup-sha256')}.`);
}

page(async () => {
  const id = param('id');
  const [b, { items: servers }, { items: copies }] = await Promise.all([
    api('GET', `/backups/${id}`),
    api('GET', '/servers'),
    api('GET', `/backups/${id}/copies`),
  ]);
  const server = servers.find((s) => s.id === b.serverId);
  fields(b, server?.name);
  const link = temporalLink(b.workflowId, b.runId);
  $('temporal-link').href = link.href;
  fill($('copies-table'), copies, [
    (c) => c.target,
    (c) => c.state,
    (c) => c.location ?? '—',
    (c) => fmt.bytes(c.sizeBytes),
    (c) => fmt.date(c.storedAt),
    (c) =>
      el(
        'ul',
        {},
        ...c.events.map((e) => el('li', {}, `${fmt.date(e.at)} ${e.event}${e.detail ? `: ${e.detail}` : ''}`)),
      ),
  ]);
  const dl = $('download');
  dl.disabled = !b.availableForDownload;
  dl.addEventListener('click', () => download(b).catch((e) => say(e.message, 'error')));

  options($('r-server'), servers, (s) => `${s.name} (${s.engine})`, false);
  $('r-server').value = b.serverId;
  $('r-database').value = `${b.database}_restored`;
  $('r-overwrite').addEventListener('change', (e) => ($('r-confirm-box').hidden = !e.target.checked));
  onSubmit($('restore-form'), async (f) => {
    const overwrite = Boolean(f.overwrite);
    if (overwrite && f.confirm !== f.targetDatabase)
      throw new Error(`To overwrite, type the target database's name (${f.targetDatabase}) in the confirmation field`);
    const r = await api('POST', '/restores', {
      backupId: b.id,
      targetServerId: f.targetServerId,
      targetDatabase: f.targetDatabase,
      overwrite,
    });
    location.assign(`/console/restore?id=${r.id}`);
  });
});
