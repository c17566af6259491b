// Tenant settings: its name and its alert channel (a webhook).
import { api, onSubmit, page, say } from './app.js';

page(async () => {
  const t = await api('GET', '/tenant');
  document.getElementById('tenant-name').value = t.name;
  document.getElementById('webhook').value = t.webhookUrl ?? '';
  onSubmit(document.getElementById('tenant-form'), async (f) => {
    await api('PATCH', '/tenant', { name: f.name, webhookUrl: f.webhookUrl || null });
    say('Settings saved.');
  });
});
