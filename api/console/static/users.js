// Users and their roles (viewer < operator < admin < owner).
import { api, el, fill, fmt, onSubmit, page, say } from './app.js';

const ROLES = ['viewer', 'operator', 'admin', 'owner'];

async function load() {
  const { items } = await api('GET', '/users');
  fill(document.getElementById('users-table'), items, [
    (u) => u.email,
    (u) => {
      const id = `role-${u.id}`;
      const select = el(
        'select',
        { id },
        ...ROLES.map((r) => el('option', { value: r, selected: r === u.role, text: r })),
      );
      select.addEventListener('change', () =>
        api('PATCH', `/users/${u.id}`, { role: select.value })
          .then(() => say(`${u.email} is now ${select.value}.`))
          .catch((e) => say(e.message, 'error')),
      );
      return [el('label', { for: id, class: 'visually-hidden' }, `Role of ${u.email}`), select];
    },
    (u) => fmt.date(u.createdAt),
    (u) =>
      el(
        'button',
        {
          type: 'button',
          onclick: async () => {
            if (!confirm(`Remove ${u.email} from the tenant?`)) return;
            await api('DELETE', `/users/${u.id}`).catch((e) => say(e.message, 'error'));
            await load();
          },
        },
        `Remove ${u.email}`,
      ),
  ]);
}

page(async () => {
  onSubmit(document.getElementById('user-form'), async (f, form) => {
    const u = await api('POST', '/users', f);
    form.reset();
    say(`${u.email} added as ${u.role}.`);
    await load();
  });
  await load();
});
