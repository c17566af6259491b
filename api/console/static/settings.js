// Tenant settings: its name, its alert channel (a webhook), its address and its own domains (proven by DNS TXT).
import { api, el, fill, onSubmit, page, say } from './app.js';

const $ = (id) => document.getElementById(id);

async function domains() {
  const d = await api('GET', '/tenant/domains');
  $('address').textContent = d.address
    ? `Your tenant's address: ${d.address} (sign-in there opens this tenant only).`
    : 'The platform has no BASE_DOMAIN: tenants have no address of their own.';
  const act = (label, fn) =>
    el('button', { type: 'button', onclick: () => fn().catch((e) => say(e.message, 'error')) }, label);
  fill(
    $('domains-table'),
    d.items,
    [
      (x) => x.domain,
      (x) => (x.verified ? 'verified' : 'waiting for the TXT record'),
      (x) => el('code', {}, `${x.txtName} TXT "${x.txtValue}"`),
      (x) => [
        x.verified
          ? null
          : act(`Verify ${x.domain}`, async () => {
              await api('POST', `/tenant/domains/${x.id}/verify`);
              say(`${x.domain} is verified: it now leads to this tenant.`);
              await domains();
            }),
        act(`Remove ${x.domain}`, async () => {
          if (!confirm(`Give ${x.domain} up?`)) return;
          await api('DELETE', `/tenant/domains/${x.id}`);
          await domains();
        }),
      ],
    ],
    'No domains of your own yet.',
  );
}

page(async () => {
  const t = await api('GET', '/tenant');
  $('tenant-name').value = t.name;
  $('webhook').value = t.webhookUrl ?? '';
  onSubmit($('tenant-form'), async (f) => {
    await api('PATCH', '/tenant', { name: f.name, webhookUrl: f.webhookUrl || null });
    say('Settings saved.');
  });
  onSubmit($('domain-form'), async (f, form) => {
    const d = await api('POST', '/tenant/domains', { domain: f.domain });
    form.reset();
    say(`Add the TXT record ${d.txtName} with the value ${d.txtValue}, then verify.`);
    await domains();
  });
  await domains();
});
