// Notification channels: the list, each channel's newest deliveries, a test button and removal.
import { api, el, fill, fmt, page, say } from './app.js';

const $ = (id) => document.getElementById(id);

async function load() {
  const { items } = await api('GET', '/channels?deliveries=5');
  const act = (label, fn) =>
    el('button', { type: 'button', onclick: () => fn().catch((e) => say(e.message, 'error')) }, label);
  fill(
    $('channels-table'),
    items,
    [
      (c) => c.name,
      (c) => c.kind,
      (c) => c.target,
      (c) => c.events.join(', '),
      (c) => [
        act(`Test ${c.name}`, async () => {
          say(`Sending a test message to ${c.name}…`);
          const r = await api('POST', `/channels/${c.id}/test`);
          say(
            r.state === 'sent' ? `Test message sent to ${c.name}.` : `Not sent: ${r.error ?? r.state}`,
            r.state === 'sent' ? 'info' : 'error',
          );
          await load();
        }),
        act(`Remove ${c.name}`, async () => {
          if (!confirm(`Remove the channel ${c.name} and its delivery records?`)) return;
          await api('DELETE', `/channels/${c.id}`);
          await load();
        }),
      ],
    ],
    'No channels yet: alerts go to the tenant webhook only, if one is set.',
  );
  const deliveries = items
    .flatMap((c) => c.recentDeliveries.map((d) => ({ ...d, channel: c.name })))
    .sort((a, b) => b.createdAt.localeCompare(a.createdAt));
  fill(
    $('deliveries-table'),
    deliveries,
    [
      (d) => d.channel,
      (d) => d.eventType,
      (d) => d.state,
      (d) => String(d.attempts),
      (d) => d.lastError ?? '',
      (d) => fmt.date(d.sentAt ?? d.updatedAt),
    ],
    'Nothing sent yet.',
  );
}

page(load);
