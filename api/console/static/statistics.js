// Statistics drawn with Chart.js (served by the API from the installed package) from GET /statistics.
import { api, fill, fmt, options, page } from './app.js';

/* global Chart */
const $ = (id) => document.getElementById(id);
const charts = {};

function draw(id, type, labels, datasets, extra = {}) {
  charts[id]?.destroy();
  charts[id] = new Chart($(id), {
    type,
    data: { labels, datasets },
    options: { animation: false, responsive: true, maintainAspectRatio: false, ...extra },
  });
}

/** One dataset per configuration: its value on each day (summed over its servers), null where it did not run. */
function perConfig(stats, labels, names, value) {
  const ids = [...new Set(stats.days.map((d) => d.configId ?? ''))];
  return ids.map((id) => ({
    label: names.get(id) ?? 'deleted configuration',
    configId: id,
    data: labels.map((day) => {
      const rows = stats.days.filter((d) => d.day === day && (d.configId ?? '') === id && d.succeeded > 0);
      return rows.length ? rows.reduce((sum, d) => sum + value(d), 0) : null;
    }),
  }));
}

async function load(f, names) {
  const q = new URLSearchParams();
  if (f.configId) q.set('configId', f.configId);
  if (f.serverId) q.set('serverId', f.serverId);
  q.set('from', new Date(Date.now() - Number(f.days || 30) * 86_400_000).toISOString());
  const stats = await api('GET', `/statistics?${q}`);
  const labels = [...new Set(stats.days.map((d) => d.day))].sort();
  draw(
    'chart-size',
    'line',
    labels,
    perConfig(stats, labels, names, (d) => d.bytes),
  );
  draw(
    'chart-duration',
    'line',
    labels,
    perConfig(stats, labels, names, (d) => d.avgSeconds ?? 0),
  );
  const total = (key) => labels.map((day) => stats.days.filter((d) => d.day === day).reduce((s, d) => s + d[key], 0));
  draw(
    'chart-outcomes',
    'bar',
    labels,
    [
      { label: 'succeeded', data: total('succeeded'), backgroundColor: '#2e7d32' },
      { label: 'failed', data: total('failed'), backgroundColor: '#c62828' },
    ],
    { scales: { x: { stacked: true }, y: { stacked: true } } },
  );
  draw(
    'chart-storage',
    'bar',
    stats.storage.map((s) => s.target),
    [{ label: 'bytes stored', data: stats.storage.map((s) => s.bytes) }],
  );
  fill(
    $('drills-table'),
    stats.drills,
    [(d) => names.get(d.configId) ?? d.configId, (d) => fmt.date(d.at), (d) => d.restoreSeconds?.toFixed(1) ?? '—'],
    'No successful drill yet.',
  );
  document.body.dataset.charted = String(Date.now());
}

page(async () => {
  const [{ items: configs }, { items: servers }] = await Promise.all([api('GET', '/configs'), api('GET', '/servers')]);
  options($('s-config'), configs);
  options($('s-server'), servers);
  const names = new Map(configs.map((c) => [c.id, c.name]));
  const form = $('stats-filters');
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    load(Object.fromEntries(new FormData(form)), names);
  });
  await load(Object.fromEntries(new FormData(form)), names);
});
