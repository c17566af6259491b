// Servers: known by name and engine; their connection settings stay in the site's configuration.
import { api, fill, fmt, onSubmit, options, page, say } from './app.js';

async function load() {
  const [{ items: sites }, { items: servers }] = await Promise.all([api('GET', '/sites'), api('GET', '/servers')]);
  options(document.getElementById('server-site'), sites);
  const siteName = new Map(sites.map((s) => [s.id, s.name]));
  fill(document.getElementById('servers-table'), servers, [
    (x) => x.name,
    (x) => x.engine,
    (x) => siteName.get(x.siteId),
    (x) => fmt.date(x.createdAt),
  ]);
}

page(async () => {
  onSubmit(document.getElementById('server-form'), async (f, form) => {
    const server = await api('POST', '/servers', f);
    form.querySelector('#server-name').value = '';
    say(`Server ${server.name} added.`);
    await load();
  });
  await load();
});
