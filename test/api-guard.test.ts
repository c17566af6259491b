// Issue 16, HTTP hygiene, tried as an attacker would over a real socket: password guessing, weak passwords, closed
// sign-up, security headers, the docs page without a CDN, an oversized body's connection, lone surrogates.
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, it } from 'node:test';
import { MockActivityEnvironment } from '@temporalio/testing';
import { eq } from 'drizzle-orm';
import { createApp } from '../api/app.ts';
// After the API: its schemas add .openapi() to zod, which the activities' shared schemas use.
import { createCentralActivities } from '../activities/central/index.ts';
import { OutboundPolicy } from '../common/outbound.ts';
import { tenants } from '../db/schema.ts';
import { signup, startStack, type Stack } from './helpers/stack.ts';

describe('API guards (issue 16)', () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack();
  });
  after(async () => {
    await stack?.stop();
  });

  /** The API in this process, on the stack's database and Temporal, with other settings. */
  const appWith = (settings: { signupOpen?: boolean; signupsPerHour?: number }) =>
    createApp({
      db: stack.db.db,
      temporal: stack.temporal,
      logger: stack.logger,
      jwtSecret: 'x'.repeat(40),
      jwtTtlSeconds: 60,
      centralTaskQueue: stack.centralTaskQueue,
      ...settings,
    });

  const login = (email: string, password: string) =>
    stack.api('POST', '/api/v1/auth/login', { body: { email, password } });

  it('the 11th wrong password in a minute gets 429 with Retry-After, even with the right password', async () => {
    const victim = await signup(stack);
    for (let i = 1; i <= 10; i++) assert.equal((await login(victim.email, `wrong password ${i}!`)).status, 401);
    const eleventh = await login(victim.email, 'wrong password 11!');
    assert.equal(eleventh.status, 429);
    assert.ok(Number(eleventh.headers.get('retry-after')) >= 59);
    assert.equal((await login(victim.email, 'correct horse battery staple')).status, 429, 'no guess is checked');
    // An account nobody has is throttled the same way: the answer does not say which emails exist.
    for (let i = 1; i <= 10; i++) await login('nobody@example.test', `wrong password ${i}!`);
    assert.equal((await login('nobody@example.test', 'wrong password 11!')).status, 429);
    const other = await signup(stack);
    assert.equal((await login(other.email, 'correct horse battery staple')).status, 200, 'others sign in');
  });

  it('refuses the passwords guessers try first, naming the field', async () => {
    const res = await stack.api('POST', '/api/v1/auth/signup', {
      body: { tenantName: 'weak', email: 'weak@example.test', password: 'Password2026!' },
    });
    assert.equal(res.status, 400);
    assert.match(JSON.stringify(res.body), /password/);
    assert.match(JSON.stringify(res.body), /too easy to guess/);
  });

  it('a platform with sign-up closed refuses it', async () => {
    const closed = appWith({ signupOpen: false });
    const res = await closed.request('/api/v1/auth/signup', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ tenantName: 'x', email: 'closed@example.test', password: 'blue-kettle-orbit-57' }),
    });
    assert.equal(res.status, 403);
  });

  it('sign-ups from one address are limited per hour (SIGNUP_PER_HOUR)', async () => {
    const app = appWith({ signupsPerHour: 2 });
    const statuses: number[] = [];
    for (let i = 0; i < 3; i++) {
      const res = await app.request('/api/v1/auth/signup', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          tenantName: `limited-${i}`,
          email: `limited-${i}-${Date.now()}@example.test`,
          password: 'blue-kettle-orbit-57',
        }),
      });
      statuses.push(res.status);
      if (res.status === 429) assert.ok(Number(res.headers.get('retry-after')) > 0);
    }
    assert.deepEqual(statuses, [201, 201, 429]);
  });

  it('no answer says whether an email has an account in another tenant (enumeration)', async () => {
    const victim = await signup(stack);
    const password = 'blue-kettle-orbit-57';
    // Sign-up and user creation with the victim's email answer as for any new email.
    const again = await stack.api('POST', '/api/v1/auth/signup', {
      body: { tenantName: 'prober', email: victim.email, password },
    });
    assert.equal(again.status, 201, JSON.stringify(again.body));
    const prober = again.body.tenant.id as string;
    const probe = await signup(stack);
    const made = await stack.api('POST', '/api/v1/users', {
      token: probe.token,
      body: { email: victim.email.toUpperCase(), password, role: 'viewer' },
    });
    assert.equal(made.status, 201, JSON.stringify(made.body));
    // Within one tenant an email stays unique: that answer is about the admin's own tenant.
    const twice = await stack.api('POST', '/api/v1/users', {
      token: probe.token,
      body: { email: victim.email, password, role: 'viewer' },
    });
    assert.equal(twice.status, 409);
    // A wrong password answers the same for an email with three accounts as for one nobody has.
    const known = await login(victim.email, 'not the password at all');
    const unknown = await login(`nobody-${Date.now()}@example.test`, 'not the password at all');
    assert.deepEqual([known.status, known.body], [unknown.status, unknown.body]);
    // Each password opens its own account; one password opening two tenants asks which.
    const own = await login(victim.email, 'correct horse battery staple');
    assert.equal(own.status, 200);
    assert.equal(own.body.tenant.id, victim.tenantId);
    const shared = await login(victim.email, password);
    assert.equal(shared.status, 400);
    assert.equal(shared.body.error.issues[0].field, 'tenant');
    const named = await stack.api('POST', '/api/v1/auth/login', {
      body: { email: victim.email, password, tenant: prober },
    });
    assert.equal(named.status, 200);
    assert.equal(named.body.tenant.id, prober);
    assert.equal(named.body.user.role, 'owner');
  });

  it('roles as the README states them: viewers read restores; pruning, which deletes backups, is for admins', async () => {
    const owner = await signup(stack);
    const tokenOf = async (role: string) => {
      const email = `${role}-${Date.now()}@example.test`;
      const made = await stack.api('POST', '/api/v1/users', {
        token: owner.token,
        body: { email, password: 'blue-kettle-orbit-57', role },
      });
      assert.equal(made.status, 201);
      return (await login(email, 'blue-kettle-orbit-57')).body.token as string;
    };
    const viewer = await tokenOf('viewer');
    const operator = await tokenOf('operator');
    assert.equal((await stack.api('GET', '/api/v1/restores', { token: viewer })).status, 200);
    assert.equal((await stack.api('GET', '/api/v1/audit', { token: operator })).status, 403);
    const id = '00000000-0000-4000-8000-000000000000';
    assert.equal((await stack.api('POST', `/api/v1/configs/${id}/prune`, { token: operator })).status, 403);
    assert.equal((await stack.api('POST', `/api/v1/configs/${id}/prune`, { token: owner.token })).status, 404);
  });

  it('every answer carries security headers; token answers are not cached', async () => {
    const t = await signup(stack);
    for (const res of [
      await fetch(`${stack.baseUrl}/api/v1/configs`),
      await fetch(`${stack.baseUrl}/api/v1/configs`, { headers: { authorization: `Bearer ${t.token}` } }),
      await fetch(`${stack.baseUrl}/healthz`),
    ]) {
      assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
      assert.equal(res.headers.get('x-frame-options'), 'DENY');
      assert.match(res.headers.get('content-security-policy') ?? '', /default-src 'none'/);
      assert.equal(res.headers.get('referrer-policy'), 'no-referrer');
      assert.equal(res.headers.get('cache-control'), 'no-store');
    }
    const session = await login(t.email, 'correct horse battery staple');
    assert.equal(session.headers.get('cache-control'), 'no-store');
  });

  it('the docs page loads only this origin’s script, served from the installed package', async () => {
    const page = await fetch(`${stack.baseUrl}/docs`);
    const html = await page.text();
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-security-policy') ?? '', /script-src 'self'(;|$)/);
    const scripts = [...html.matchAll(/<script[^>]*src="([^"]+)"/g)].map((m) => m[1]!);
    assert.ok(scripts.length > 0);
    for (const src of scripts) {
      assert.ok(src.startsWith('/docs/'), src);
      const res = await fetch(`${stack.baseUrl}${src}`);
      assert.equal(res.status, 200, src);
      await res.arrayBuffer();
    }
    assert.doesNotMatch(html, /https?:\/\//, 'nothing from another origin');
  });

  it('an oversized body gets 413 and the connection is closed, as the answer says', async () => {
    const url = new URL(`${stack.baseUrl}/api/v1/auth/login`);
    const { status, connection, ended } = await new Promise<{ status: number; connection: string; ended: boolean }>(
      (resolve, reject) => {
        const req = http.request(
          { host: url.hostname, port: url.port, path: url.pathname, method: 'POST', agent: false },
          (res) => {
            res.resume();
            res.on('end', () =>
              res.socket.once('close', () =>
                resolve({ status: res.statusCode!, connection: String(res.headers.connection), ended: true }),
              ),
            );
          },
        );
        req.setHeader('content-type', 'application/json');
        req.setHeader('content-length', String(2 * 1024 * 1024));
        req.on('error', reject);
        req.write('{"email":"');
        req.end();
      },
    );
    assert.equal(status, 413);
    assert.equal(connection, 'close');
    assert.ok(ended);
  });

  it('a lone UTF-16 surrogate gets 400 naming the field', async () => {
    const t = await signup(stack);
    const res = await fetch(`${stack.baseUrl}/api/v1/configs`, {
      method: 'POST',
      headers: { authorization: `Bearer ${t.token}`, 'content-type': 'application/json' },
      body: '{"name":"x","drill":{"assertions":["select \\ud800"]}}',
    });
    assert.equal(res.status, 400);
    assert.match(await res.text(), /drill\.assertions\.0.*surrogate|surrogate.*drill\.assertions\.0/s);
  });

  it('an alert webhook on loopback, a private address or behind a redirect is refused, and nothing is sent', async () => {
    const received: string[] = [];
    const receiver = http.createServer((req, res) => {
      received.push(req.url ?? '');
      res.writeHead(302, { location: `http://127.0.0.1:${port}/landed` }).end();
    });
    receiver.listen(0, '127.0.0.1');
    await new Promise((r) => receiver.once('listening', r));
    const port = (receiver.address() as { port: number }).port;
    const quiet = { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error() {} };
    const t = await signup(stack);
    const tuning = {
      dumpHeartbeatTimeoutMs: 3000,
      dumpTimeoutMs: 60_000,
      sitePickupTimeoutMs: 3000,
      retryInitialMs: 200,
    };
    const alertTo = async (url: string, outbound = new OutboundPolicy()) => {
      await stack.db.db.update(tenants).set({ webhookUrl: url }).where(eq(tenants.id, t.tenantId));
      const activities = createCentralActivities({ db: stack.db.db, logger: stack.logger, tuning, outbound });
      const mock = new MockActivityEnvironment({ attempt: 1 }, { logger: quiet });
      return mock.run(activities.alert, { tenantId: t.tenantId, siteName: 's', message: 'm' });
    };
    try {
      for (const url of [
        `http://127.0.0.1:${port}/a`,
        `http://localhost:${port}/b`,
        'http://10.0.0.1/c',
        'http://169.254.169.254/latest',
      ]) {
        await assert.rejects(alertTo(url), (e: Error) => /unreachable: refused/.test(e.message), url);
      }
      assert.deepEqual(received, [], 'nothing reached the receiver');
      // Allowed on purpose, the receiver answers a redirect to loopback: not followed.
      await assert.rejects(
        alertTo(`http://127.0.0.1:${port}/r`, new OutboundPolicy(['127.0.0.1'])),
        /redirects are not followed/,
      );
      assert.deepEqual(received, ['/r']);
    } finally {
      receiver.close();
    }
  });
});
