// The audit log: who did what to which object, newest first.
import { api, fill, fmt, page } from './app.js';

page(async () => {
  const [{ items }, { items: users }] = await Promise.all([api('GET', '/audit?limit=200'), api('GET', '/users')]);
  const email = new Map(users.map((u) => [u.id, u.email]));
  fill(document.getElementById('audit-table'), items, [
    (a) => fmt.date(a.at),
    (a) => a.action,
    (a) => `${a.targetType}${a.targetId ? ` ${a.targetId}` : ''}`,
    (a) => email.get(a.userId) ?? a.userId ?? '—',
  ]);
});
