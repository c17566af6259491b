// Destinations: off-site places known by name and kind; their settings and secrets stay at the site.
import { api, fill, fmt, onSubmit, options, page, say } from './app.js';

async function load() {
  const [{ items: sites }, { items }] = await Promise.all([api('GET', '/sites'), api('GET', '/destinations')]);
  options(document.getElementById('destination-site'), sites);
  const siteName = new Map(sites.map((s) => [s.id, s.name]));
  fill(document.getElementById('destinations-table'), items, [
    (x) => x.name,
    (x) => x.kind,
    (x) => siteName.get(x.siteId),
    (x) => fmt.date(x.createdAt),
  ]);
}

page(async () => {
  onSubmit(document.getElementById('destination-form'), async (f, form) => {
    const d = await api('POST', '/destinations', f);
    form.querySelector('#destination-name').value = '';
    say(`Destination ${d.name} added.`);
    await load();
  });
  await load();
});
