// The configuration editor: schedule (daily, every two weeks, monthly, cron) in a time zone with its next run
// times, databases, table cleaning (destructive modes need the confirmation), compression, encryption, and each
// destination with its retention and a preview of what that retention would delete now.
import { api, el, fmt, onSubmit, options, page, param, say } from './app.js';

const $ = (id) => document.getElementById(id);
const COUNTS = ['keepLast', 'daily', 'weekly', 'monthly', 'yearly'];
let destinations = [];
let current = null;

function showScheduleFields() {
  const kind = $('kind').value;
  for (const node of document.querySelectorAll('[data-for]')) node.hidden = !node.dataset.for.split(' ').includes(kind);
}

function parseCleaning(text) {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .map((line) => {
      const [table, mode = 'exclude', column, days] = line.split(/\s+/);
      return mode === 'deleteOlderThan' ? { table, mode, column, days: Number(days) } : { table, mode };
    });
}

const cleaningText = (list) =>
  list
    .map((c) =>
      c.mode === 'deleteOlderThan'
        ? `${c.table} ${c.mode} ${c.column} ${c.days}`
        : c.mode === 'exclude'
          ? c.table
          : `${c.table} ${c.mode}`,
    )
    .join('\n');

function destinationRows(servers) {
  const server = servers.find((s) => s.id === $('serverId').value);
  const here = destinations.filter((d) => d.siteId === server?.siteId);
  $('no-destinations').hidden = here.length > 0;
  const chosen = new Map((current?.destinations ?? []).map((d) => [d.destinationId, d.retention]));
  $('destination-rows').replaceChildren(
    ...here.map((d) => {
      const r = chosen.get(d.id) ?? { keepLast: 7 };
      const id = (k) => `d-${d.id}-${k}`;
      return el(
        'fieldset',
        { class: 'destination', 'data-id': d.id },
        el('legend', {}, `${d.name} (${d.kind})`),
        el(
          'div',
          { class: 'check' },
          el('input', { id: id('on'), type: 'checkbox', checked: chosen.has(d.id) }),
          el('label', { for: id('on') }, `Send copies to ${d.name}`),
        ),
        ...COUNTS.flatMap((k) => [
          el('label', { for: id(k) }, `${d.name}: keep ${k}`),
          el('input', { id: id(k), type: 'number', min: 0, value: r[k] ?? '' }),
        ]),
        current &&
          el(
            'button',
            { type: 'button', onclick: () => preview(d).catch((e) => say(e.message, 'error')) },
            `Preview retention of ${d.name}`,
          ),
      );
    }),
  );
}

function retentionOf(id) {
  const r = {};
  for (const k of COUNTS) {
    const v = $(`d-${id}-${k}`).value;
    if (v !== '') r[k] = Number(v);
  }
  return r;
}

async function preview(d) {
  const p = await api('POST', `/configs/${current.id}/retention-preview`, {
    destinationId: d.id,
    retention: retentionOf(d.id),
  });
  $('preview-list').replaceChildren(
    ...p.delete.map((c) => el('li', {}, `would delete ${c.fileName ?? c.backupId} (${fmt.date(c.takenAt)})`)),
    ...p.keep.map((c) => el('li', {}, `keeps ${c.fileName ?? c.backupId}: ${c.reasons.join(', ')}`)),
  );
  $('retention-preview').hidden = false;
}

/**
 * Verification and drill as the form sets them (daily; monthly). A schedule of another kind set through the API is
 * left alone unless this part of the form was touched, so saving a name does not replace it.
 */
let checksTouched = false;
function checks(f) {
  if (current && !checksTouched) return {};
  return {
    verification: f.verifyOn ? { schedule: { kind: 'daily', time: f.verifyTime } } : null,
    drill: f.drillOn
      ? {
          schedule: { kind: 'monthly', time: f.drillTime, dayOfMonth: Number(f.drillDay) },
          tolerancePercent: current?.drill?.tolerancePercent ?? 0,
          assertions: current?.drill?.assertions ?? [],
        }
      : null,
  };
}

function fillChecks(c) {
  const v = c.verification?.schedule;
  const d = c.drill?.schedule;
  $('verifyOn').checked = !!v;
  if (v?.time) $('verifyTime').value = v.time;
  $('drillOn').checked = !!d;
  if (d?.time) $('drillTime').value = d.time;
  if (d?.dayOfMonth) $('drillDay').value = d.dayOfMonth;
  const other = [v, d].some((s) => s && s.kind !== (s === v ? 'daily' : 'monthly'));
  $('checks-note').textContent = other ? 'A schedule set through the API is kept unless you change these fields.' : '';
}

function body(f) {
  const kind = f.kind;
  const schedule =
    kind === 'cron'
      ? { kind, expression: f.expression }
      : kind === 'daily'
        ? { kind, time: f.time }
        : kind === 'biweekly'
          ? { kind, time: f.time, weekday: Number(f.weekday) }
          : { kind, time: f.time, dayOfMonth: Number(f.dayOfMonth) };
  const cleanTables = parseCleaning(f.cleanTables);
  const destructive = cleanTables.some((c) => c.mode !== 'exclude');
  if (destructive && !f.confirmDestructiveCleaning)
    throw new Error('truncate and deleteOlderThan delete rows at the source: tick the confirmation to save them');
  return {
    name: f.name,
    databases: f.databases
      .split(',')
      .map((d) => d.trim())
      .filter(Boolean),
    schedule,
    timezone: f.timezone,
    cleanTables,
    confirmDestructiveCleaning: Boolean(f.confirmDestructiveCleaning),
    compression: {
      algorithm: f.algorithm,
      level: Number(f.level),
      // zstd's long-distance matching has no control here: an edit keeps what the configuration had.
      ...(f.algorithm === 'zstd' && typeof current?.compression?.long === 'boolean'
        ? { long: current.compression.long }
        : {}),
    },
    encrypt: Boolean(f.encrypt),
    keepLocal: Number(f.keepLocal),
    ...checks(f),
    destinations: [...document.querySelectorAll('fieldset.destination')]
      .filter((fs) => $(`d-${fs.dataset.id}-on`).checked)
      .map((fs) => ({ destinationId: fs.dataset.id, retention: retentionOf(fs.dataset.id) })),
  };
}

async function nextRuns() {
  if (!current) return ($('next-runs').textContent = 'Next run times show once the configuration is saved.');
  const s = await api('GET', `/configs/${current.id}/schedule`);
  $('next-runs').textContent =
    `Next runs: ${s.nextRunTimes.map((t) => new Date(t).toLocaleString(undefined, { timeZone: current.timezone, timeZoneName: 'short' })).join('; ')}`;
}

function fillForm(c) {
  for (const k of ['name', 'timezone', 'keepLocal']) $(k).value = c[k];
  $('databases').value = c.databases.join(', ');
  $('serverId').value = c.serverId;
  $('serverId').disabled = true;
  $('kind').value = c.schedule.kind;
  for (const k of ['time', 'weekday', 'dayOfMonth', 'expression'])
    if (c.schedule[k] !== undefined) $(k).value = c.schedule[k];
  $('cleanTables').value = cleaningText(c.cleanTables);
  $('confirmDestructiveCleaning').checked = c.confirmDestructiveCleaning;
  $('algorithm').value = c.compression.algorithm;
  $('level').value = c.compression.level;
  $('encrypt').checked = c.encrypt;
  fillChecks(c);
}

page(async () => {
  const id = param('id');
  const [{ items: servers }, d] = await Promise.all([api('GET', '/servers'), api('GET', '/destinations')]);
  destinations = d.items;
  options($('serverId'), servers);
  $('timezones').replaceChildren(...Intl.supportedValuesOf('timeZone').map((z) => el('option', { value: z })));
  $('timezone').value = Intl.DateTimeFormat().resolvedOptions().timeZone;
  if (id) fillForm((current = await api('GET', `/configs/${id}`)));
  showScheduleFields();
  destinationRows(servers);
  $('kind').addEventListener('change', showScheduleFields);
  $('checks').addEventListener('change', () => (checksTouched = true));
  $('serverId').addEventListener('change', () => destinationRows(servers));
  await nextRuns();
  onSubmit($('config-form'), async (f) => {
    const b = body(f);
    if (current) current = await api('PATCH', `/configs/${current.id}`, b);
    else {
      current = await api('POST', '/configs', { ...b, serverId: f.serverId });
      history.replaceState(null, '', `/console/config?id=${current.id}`);
    }
    fillForm(current);
    checksTouched = false;
    destinationRows(servers);
    await nextRuns();
    say(`Configuration ${current.name} saved.`);
  });
});
