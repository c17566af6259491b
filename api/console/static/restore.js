// One restore, live: its step and bytes read so far (from the run's heartbeat), until it ends; cancel while it runs.
import { api, el, fmt, page, param, say, temporalLink } from './app.js';

const $ = (id) => document.getElementById(id);

function show(r, size) {
  const rows = [
    ['Status', r.status],
    ['Target database', r.targetDatabase],
    ['Overwrite', r.overwrite ? 'yes' : 'no'],
    ['Started', fmt.date(r.startedAt)],
    ['Finished', fmt.date(r.finishedAt)],
    ['Restore time', r.restoreSeconds != null ? `${r.restoreSeconds.toFixed(1)} s` : '—'],
    ['Restored bytes', r.rawBytes ?? '—'],
    ['Error', r.error ?? '—'],
  ];
  $('restore-fields').replaceChildren(...rows.flatMap(([k, v]) => [el('dt', {}, k), el('dd', { 'data-field': k }, v)]));
  const bar = $('progress');
  const running = r.status === 'running';
  $('cancel').disabled = !running;
  if (!running) {
    bar.value = r.status === 'succeeded' ? 100 : bar.value;
    $('progress-text').textContent = `Restore ${r.status}.`;
    document.body.dataset.finished = r.status;
    return false;
  }
  const p = r.progress ?? {};
  if (size && typeof p.bytes === 'number') bar.value = Math.min(99, Math.floor((p.bytes / size) * 100));
  $('progress-text').textContent =
    `${p.step ?? 'starting'}${p.phase ? ` (${p.phase})` : ''}: ${fmt.bytes(p.bytes ?? 0)} of ${fmt.bytes(size)} read`;
  return true;
}

page(async () => {
  const id = param('id');
  let r = await api('GET', `/restores/${id}`);
  const size = r.backupId ? (await api('GET', `/backups/${r.backupId}`).catch(() => null))?.sizeBytes : null;
  $('temporal-link').href = temporalLink(r.workflowId).href;
  $('cancel').addEventListener('click', async () => {
    if (!confirm('Cancel this restore? A database it created is removed.')) return;
    await api('POST', `/restores/${id}/cancel`).catch((e) => say(e.message, 'error'));
    say('Cancelling…');
  });
  while (show(r, size)) {
    await new Promise((resolve) => setTimeout(resolve, 1000));
    r = await api('GET', `/restores/${id}`);
  }
});
