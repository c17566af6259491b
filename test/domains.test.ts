// Custom domains (issue 17): each tenant is at `<slug>.<BASE_DOMAIN>`; a domain of its own counts once a DNS TXT record
// proves it (the resolver is a stand-in here); the tenant is read from Host, and a tenant's address signs in to that
// tenant only and refuses another tenant's session.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { createApp } from '../api/app.ts';
import { startStack, type Stack } from './helpers/stack.ts';

describe('tenant addresses and custom domains', () => {
  let stack: Stack;
  const txt = new Map<string, string[][]>();
  let app: ReturnType<typeof createApp>;
  before(async () => {
    stack = await startStack();
    app = createApp({
      db: stack.db.db,
      temporal: stack.temporal,
      logger: stack.logger,
      jwtSecret: 'y'.repeat(40),
      jwtTtlSeconds: 600,
      centralTaskQueue: stack.centralTaskQueue,
      signupsPerHour: 1000,
      baseDomain: 'bp.test',
      resolveTxt: async (name) => {
        const found = txt.get(name);
        if (!found) throw Object.assign(new Error('queryTxt ENOTFOUND'), { code: 'ENOTFOUND' });
        return found;
      },
    });
  });
  after(async () => {
    await stack?.stop();
  });

  const call = async (host: string, method: string, path: string, opts: { token?: string; body?: unknown } = {}) => {
    const headers: Record<string, string> = { host };
    if (opts.token) headers.authorization = `Bearer ${opts.token}`;
    if (opts.body) headers['content-type'] = 'application/json';
    const res = await app.request(`/api/v1${path}`, {
      method,
      headers,
      body: opts.body ? JSON.stringify(opts.body) : undefined,
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : null };
  };
  const platform = 'backups.platform.example:3000';

  it('signs in on a tenant address to that tenant only; proves a domain by DNS TXT', async () => {
    const name = `Acme ${randomUUID().slice(0, 6)}`;
    const email = `${randomUUID().slice(0, 8)}@example.test`;
    const password = 'correct horse battery staple';
    // One email and password in two tenants of the same name: two addresses.
    const a = await call(platform, 'POST', '/auth/signup', { body: { tenantName: name, email, password } });
    const b = await call(platform, 'POST', '/auth/signup', { body: { tenantName: name, email, password } });
    assert.equal(a.status, 201);
    assert.equal(b.status, 201);
    const addrA = (await call(platform, 'GET', '/tenant/domains', { token: a.body.token })).body.address;
    const addrB = (await call(platform, 'GET', '/tenant/domains', { token: b.body.token })).body.address;
    assert.equal(addrA, `${name.toLowerCase().replace(' ', '-')}.bp.test`);
    assert.match(addrB, new RegExp(`^${name.toLowerCase().replace(' ', '-')}-[0-9a-f]{6}\\.bp\\.test$`));

    // The platform's address cannot tell which; each tenant's address signs in to its own tenant.
    assert.equal((await call(platform, 'POST', '/auth/login', { body: { email, password } })).status, 400);
    const onA = await call(`${addrA}:3000`, 'POST', '/auth/login', { body: { email, password } });
    const onB = await call(addrB, 'POST', '/auth/login', { body: { email, password } });
    assert.equal(onA.body.tenant.id, a.body.tenant.id);
    assert.equal(onB.body.tenant.id, b.body.tenant.id);
    const named = await call(addrA, 'POST', '/auth/login', { body: { email, password, tenant: b.body.tenant.id } });
    assert.equal(named.status, 401, "another tenant named on A's address matches no account");

    // A session works on its own address and the platform's, not on another tenant's.
    assert.equal((await call(addrA, 'GET', '/me', { token: onA.body.token })).status, 200);
    assert.equal((await call(platform, 'GET', '/me', { token: onA.body.token })).status, 200);
    const crossed = await call(addrB, 'GET', '/me', { token: onA.body.token });
    assert.equal(crossed.status, 401);
    assert.match(crossed.body.error.message, /another tenant's address/);
    assert.equal((await call('nobody.bp.test', 'POST', '/auth/login', { body: { email, password } })).status, 404);
    assert.equal(
      (await call(addrA, 'POST', '/auth/signup', { body: { tenantName: 'x', email: 'x@example.test', password } }))
        .status,
      403,
    );

    // A domain of A's own: claimed, refused until the TXT record is there, then it leads to A.
    const domain = `backups.${randomUUID().slice(0, 8)}.example.com`;
    const claimed = await call(platform, 'POST', '/tenant/domains', { token: a.body.token, body: { domain } });
    assert.equal(claimed.status, 201);
    assert.equal(claimed.body.txtName, `_backup-platform.${domain}`);
    assert.match(claimed.body.txtValue, /^backup-platform-verify=[\w-]{24}$/);
    assert.equal((await call(domain, 'POST', '/auth/login', { body: { email, password } })).status, 400, 'not yet');
    const early = await call(platform, 'POST', `/tenant/domains/${claimed.body.id}/verify`, { token: a.body.token });
    assert.equal(early.status, 409);
    assert.match(early.body.error.message, /no TXT record _backup-platform\..* \(found none\)/);
    const [head, tail] = [claimed.body.txtValue.slice(0, 10), claimed.body.txtValue.slice(10)];
    txt.set(claimed.body.txtName, [['v=spf1 -all'], [head, tail]]);
    const proven = await call(platform, 'POST', `/tenant/domains/${claimed.body.id}/verify`, { token: a.body.token });
    assert.equal(proven.status, 200, JSON.stringify(proven.body));
    assert.equal(proven.body.verified, true);
    const onDomain = await call(domain.toUpperCase(), 'POST', '/auth/login', { body: { email, password } });
    assert.equal(onDomain.body.tenant.id, a.body.tenant.id);

    // B may claim it too, but not prove it while A holds it; names under BASE_DOMAIN are the platform's.
    const rival = await call(platform, 'POST', '/tenant/domains', { token: b.body.token, body: { domain } });
    txt.set(rival.body.txtName, [[rival.body.txtValue]]);
    const refused = await call(platform, 'POST', `/tenant/domains/${rival.body.id}/verify`, { token: b.body.token });
    assert.equal(refused.status, 409);
    const under = await call(platform, 'POST', '/tenant/domains', {
      token: b.body.token,
      body: { domain: 'x.bp.test' },
    });
    assert.equal(under.status, 400);

    // Given up, the domain no longer leads to A.
    assert.equal(
      (await call(platform, 'DELETE', `/tenant/domains/${claimed.body.id}`, { token: a.body.token })).status,
      204,
    );
    assert.equal((await call(domain, 'POST', '/auth/login', { body: { email, password } })).status, 400);
  });
});
