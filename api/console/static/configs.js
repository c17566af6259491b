// Configurations: run now, dry run (with its report), pause and resume, edit.
import { api, el, fill, page, say } from './app.js';

const describe = (s) =>
  s.kind === 'cron'
    ? `cron ${s.expression}`
    : s.kind === 'daily'
      ? `daily at ${s.time}`
      : s.kind === 'biweekly'
        ? `every two weeks, day ${s.weekday}, at ${s.time}`
        : `monthly on day ${s.dayOfMonth} at ${s.time}`;

async function act(cfg, verb) {
  if (verb === 'dry-run') return dryRun(cfg);
  await api('POST', `/configs/${cfg.id}/${verb}`);
  say(verb === 'run' ? `Backup of ${cfg.name} started.` : `${cfg.name}: ${verb}d.`);
  await load();
}

async function dryRun(cfg) {
  say(`Dry run of ${cfg.name} under way…`);
  const report = await api('POST', `/configs/${cfg.id}/run`, { dryRun: true });
  const box = document.getElementById('dry-run');
  document.getElementById('dry-run-summary').textContent =
    `${cfg.name}: ${report.ok ? 'ready to back up' : 'not ready'}; about ${report.estimatedBytes} bytes, ${report.estimatedSeconds} s; ${report.freeBytes} bytes free.`;
  document
    .getElementById('dry-run-checks')
    .replaceChildren(
      ...report.checks.map((c) =>
        el('li', { class: c.ok ? 'ok' : 'bad' }, `${c.ok ? '✔' : '✘'} ${c.name}: ${c.detail}`),
      ),
    );
  box.hidden = false;
  box.focus();
  say(`Dry run of ${cfg.name} done.`);
}

async function load() {
  const [{ items }, { items: servers }] = await Promise.all([api('GET', '/configs'), api('GET', '/servers')]);
  const serverName = new Map(servers.map((s) => [s.id, s.name]));
  const button = (cfg, verb, label) =>
    el('button', { type: 'button', onclick: () => act(cfg, verb).catch((e) => say(e.message, 'error')) }, label);
  fill(document.getElementById('configs-table'), items, [
    (c) => el('a', { href: `/console/config?id=${c.id}`, text: c.name }),
    (c) => serverName.get(c.serverId),
    (c) => c.databases.join(', '),
    (c) => `${describe(c.schedule)} (${c.timezone})`,
    (c) => (c.paused ? 'paused' : 'active'),
    (c) => [
      button(c, 'run', `Run ${c.name} now`),
      button(c, 'dry-run', `Dry run ${c.name}`),
      c.paused ? button(c, 'resume', `Resume ${c.name}`) : button(c, 'pause', `Pause ${c.name}`),
      el('a', { href: `/console/backups?configId=${c.id}`, text: `History of ${c.name}` }),
    ],
  ]);
}

page(load);
