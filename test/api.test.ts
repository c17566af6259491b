// Issue 2: the API's contract. Every endpoint needs a user; bad input answers 400 with the field and the reason;
// roles are enforced; history is filtered and paginated; the OpenAPI document and docs are served.
import assert from 'node:assert/strict';
import http from 'node:http';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { and, eq, sql } from 'drizzle-orm';
import { Client, Connection } from '@temporalio/client';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createApp } from '../api/app.ts';
import { UserRoles } from '../api/auth/roles.ts';
import { issueToken } from '../api/auth/tokens.ts';
// After the API: its schemas add .openapi() to zod, which the activities' shared schemas use.
import { createCentralActivities } from '../activities/central/index.ts';
import { freePort } from '../ops/services/ports.ts';
import { backups, tenants, users } from '../db/schema.ts';
import { createLogger } from '../common/logger.ts';
import { LogCapture, signup, startStack, type Stack } from './helpers/stack.ts';

describe('HTTP API contract', () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack();
  });
  after(async () => stack?.stop());

  it('answers 401 on every endpoint of the OpenAPI document without a token, except sign-up, login, check-in and the erasure key', async () => {
    const doc = (await stack.api('GET', '/openapi.json')).body;
    assert.equal(doc.openapi, '3.1.0');
    const open = new Set([
      '/api/v1/auth/signup',
      '/api/v1/auth/login',
      '/api/v1/agent/check-in',
      '/api/v1/privacy/erasure-key',
    ]);
    let checked = 0;
    for (const [p, ops] of Object.entries(doc.paths as Record<string, Record<string, unknown>>)) {
      for (const method of Object.keys(ops)) {
        const url = p.replace('{id}', randomUUID());
        const res = await stack.api(
          method.toUpperCase(),
          url,
          method === 'get' || method === 'delete' ? {} : { body: {} },
        );
        if (open.has(p)) continue;
        assert.equal(res.status, 401, `${method.toUpperCase()} ${p} answered ${res.status}`);
        checked++;
      }
    }
    assert.ok(checked >= 25, `only ${checked} endpoints walked`);
    // A forged or expired token is refused too.
    assert.equal((await stack.api('GET', '/api/v1/sites', { token: 'eyJhbGciOiJIUzI1NiJ9.e30.x' })).status, 401);
    assert.equal((await stack.api('POST', '/api/v1/agent/check-in', {})).status, 401);
    const docs = await fetch(`${stack.baseUrl}/docs`);
    assert.equal(docs.status, 200);
    assert.match(await docs.text(), /openapi\.json/);
  });

  it('answers 400 naming the field and the reason, never 500', async () => {
    const { token } = await signup(stack);
    const site = (await stack.api('POST', '/api/v1/sites', { token, body: { name: 'hq' } })).body;
    const server = (
      await stack.api('POST', '/api/v1/servers', { token, body: { siteId: site.id, name: 'pg', engine: 'postgresql' } })
    ).body;
    const good = {
      name: 'n',
      serverId: server.id,
      databases: ['shop'],
      schedule: { kind: 'daily', time: '02:00' },
      timezone: 'UTC',
    };
    const cases: [Record<string, unknown>, string][] = [
      [{ ...good, timezone: 'Mars/Olympus' }, 'timezone'],
      [{ ...good, schedule: { kind: 'daily', time: '25:00' } }, 'schedule.time'],
      [{ ...good, schedule: { kind: 'hourly' } }, 'schedule.kind'],
      [{ ...good, schedule: { kind: 'monthly', time: '01:00', dayOfMonth: 31 } }, 'schedule.dayOfMonth'],
      [{ ...good, databases: [] }, 'databases'],
      [{ ...good, databases: ['ok', 'bad name; drop'] }, 'databases.1'],
      [{ ...good, cleanTables: [{ table: 'events"; drop table x; --' }] }, 'cleanTables.0.table'],
      [{ ...good, keepLocal: 0 }, 'keepLocal'],
      [{ ...good, serverId: 'nope' }, 'serverId'],
      [{ ...good, name: undefined }, 'name'],
      [{ ...good, compression: { algorithm: 'zstd', level: 20 } }, 'compression.level'],
      [{ ...good, compression: { algorithm: 'gzip', level: 6, long: true } }, 'compression.long'],
      // A misspelt key is refused by name wherever it sits, not dropped (the drill would run with a tolerance of 0).
      [{ ...good, drill: { schedule: { kind: 'daily', time: '05:00' }, tolerancePercnt: 5 } }, 'drill.tolerancePercnt'],
      [{ ...good, schedule: { kind: 'daily', time: '02:00', timezone: 'UTC' } }, 'schedule.timezone'],
      [{ ...good, compression: { algorithm: 'zstd', level: 3, threads: 4 } }, 'compression.threads'],
      [{ ...good, keepLoacl: 3 }, 'keepLoacl'],
    ];
    for (const [body, field] of cases) {
      const res = await stack.api('POST', '/api/v1/configs', { token, body });
      assert.equal(res.status, 400, `${field}: ${res.status} ${JSON.stringify(res.body)}`);
      const fields = (res.body.error.issues as { field: string; reason: string }[]).map((i) => i.field);
      assert.ok(fields.includes(field), `expected an issue on ${field}, got ${JSON.stringify(res.body.error.issues)}`);
      assert.ok(res.body.error.issues.every((i: { reason: string }) => i.reason.length > 0));
    }
    const notJson = await stack.api('POST', '/api/v1/sites', { token, body: '{"name": ' });
    assert.equal(notJson.status, 400);
    assert.equal((await stack.api('GET', '/api/v1/sites/not-a-uuid', { token })).status, 400);
    assert.equal((await stack.api('GET', '/api/v1/backups?status=maybe', { token })).status, 400);
    assert.equal((await stack.api('GET', '/api/v1/backups?cursor=garbage', { token })).status, 400);
    assert.equal(
      (
        await stack.api('POST', '/api/v1/servers', {
          token,
          body: { siteId: site.id, name: 'Upper Case', engine: 'postgresql' },
        })
      ).status,
      400,
    );
    assert.equal(
      (await stack.api('POST', '/api/v1/servers', { token, body: { siteId: site.id, name: 'x', engine: 'oracle' } }))
        .status,
      400,
    );
    assert.equal(
      (
        await stack.api('POST', '/api/v1/servers', {
          token,
          body: { siteId: randomUUID(), name: 'x', engine: 'postgresql' },
        })
      ).status,
      404,
    );
    assert.equal((await stack.api('POST', '/api/v1/sites', { token, body: { name: 'hq' } })).status, 409);
    assert.equal(
      (
        await stack.api('POST', '/api/v1/auth/signup', {
          body: { tenantName: 'x', email: 'not-an-email', password: 'short' },
        })
      ).status,
      400,
    );
    assert.equal(
      (await stack.api('DELETE', `/api/v1/sites/${site.id}`, { token })).status,
      409,
      'a site with servers is kept',
    );
    const lonely = (await stack.api('POST', '/api/v1/sites', { token, body: { name: 'with a destination only' } }))
      .body;
    assert.equal(
      (
        await stack.api('POST', '/api/v1/destinations', {
          token,
          body: { siteId: lonely.id, name: 'offsite', kind: 'local' },
        })
      ).status,
      201,
    );
    const kept = await stack.api('DELETE', `/api/v1/sites/${lonely.id}`, { token });
    assert.equal(kept.status, 409, `a site with destinations is kept: ${JSON.stringify(kept.body)}`);
    assert.match(kept.body.error.message, /destinations .*remove them first/);
  });

  it('answers 400 naming the field for input PostgreSQL cannot store: NUL characters, dates out of its range or impossible, a bad cursor', async () => {
    const { token } = await signup(stack);
    const fieldOf = async (res: Promise<{ status: number; body: any }>, what: string) => {
      const { status, body } = await res;
      assert.equal(status, 400, `${what}: ${status} ${JSON.stringify(body)}`);
      assert.ok(
        body.error.issues.every((i: { reason: string }) => i.reason.length > 0),
        what,
      );
      return (body.error.issues as { field: string }[]).map((i) => i.field);
    };

    // NUL (U+0000) in any string: bodies of open and signed-in routes, nested fields, query strings.
    const nul = 'a\u0000b';
    assert.deepEqual(
      await fieldOf(
        stack.api('POST', '/api/v1/auth/signup', {
          body: {
            tenantName: nul,
            email: `nul-${randomUUID().slice(0, 6)}@example.test`,
            password: 'long enough password',
          },
        }),
        'signup',
      ),
      ['tenantName'],
    );
    assert.deepEqual(await fieldOf(stack.api('POST', '/api/v1/sites', { token, body: { name: nul } }), 'site'), [
      'name',
    ]);
    assert.deepEqual(await fieldOf(stack.api('PATCH', '/api/v1/tenant', { token, body: { name: nul } }), 'tenant'), [
      'name',
    ]);
    const site = (await stack.api('POST', '/api/v1/sites', { token, body: { name: 'n' } })).body;
    const server = (
      await stack.api('POST', '/api/v1/servers', { token, body: { siteId: site.id, name: 'pg', engine: 'postgresql' } })
    ).body;
    const config = {
      name: 'c',
      serverId: server.id,
      databases: ['d'],
      schedule: { kind: 'daily', time: '02:00' },
      timezone: 'UTC',
    };
    assert.deepEqual(
      await fieldOf(
        stack.api('POST', '/api/v1/configs', {
          token,
          body: { ...config, drill: { schedule: { kind: 'daily', time: '03:00' }, assertions: ['select true', nul] } },
        }),
        'assertion',
      ),
      ['drill.assertions.1'],
    );
    assert.deepEqual(await fieldOf(stack.api('GET', '/api/v1/backups?database=%00', { token }), 'database'), [
      'database',
    ]);
    assert.deepEqual(
      await fieldOf(stack.api('GET', '/api/v1/backups?kind=backup&database=x%00y', { token }), 'database'),
      ['database'],
    );

    // Dates: a year PostgreSQL does not have, an offset no zone uses, a day that does not exist.
    for (const bad of [
      '0000-01-01T00:00:00Z',
      '0001-01-01T00:30:00+01:00',
      '10000-01-01T00:00:00Z',
      '2024-01-01T00:00:00+23:59',
      '2024-02-30T00:00:00Z',
      '2023-02-29T12:00:00Z',
      '2024-13-01T00:00:00Z',
    ]) {
      const q = encodeURIComponent(bad);
      assert.deepEqual(await fieldOf(stack.api('GET', `/api/v1/backups?from=${q}`, { token }), `from ${bad}`), [
        'from',
      ]);
      assert.deepEqual(await fieldOf(stack.api('GET', `/api/v1/backups?to=${q}`, { token }), `to ${bad}`), ['to']);
      assert.deepEqual(await fieldOf(stack.api('GET', `/api/v1/restores?before=${q}`, { token }), `before ${bad}`), [
        'before',
      ]);
    }
    for (const good of [
      '2024-02-29T23:30:00-12:00',
      '9999-12-31T23:59:59Z',
      '0001-01-01T00:00:00Z',
      '2026-06-01T02:00:00+14:00',
    ]) {
      const q = encodeURIComponent(good);
      assert.equal((await stack.api('GET', `/api/v1/backups?from=${q}&to=${q}`, { token })).status, 200, good);
      assert.equal((await stack.api('GET', `/api/v1/restores?before=${q}`, { token })).status, 200, good);
    }

    // A cursor is only one this API gave out: a real instant and a UUID.
    const cursor = (at: string, id: string) => Buffer.from(JSON.stringify([at, id])).toString('base64url');
    for (const [at, id] of [
      ['2024-01-01T00:00:00.000000Z', '-'.repeat(36)],
      ['2024-01-01T00:00:00Z', `${'g'.repeat(8)}-0000-0000-0000-000000000000`],
      ['0000-01-01T00:00:00Z', randomUUID()],
      ['2024-02-30T00:00:00Z', randomUUID()],
    ]) {
      assert.deepEqual(
        await fieldOf(stack.api('GET', `/api/v1/backups?cursor=${cursor(at!, id!)}`, { token }), `cursor ${at} ${id}`),
        ['cursor'],
      );
    }
    assert.equal(
      (
        await stack.api('GET', `/api/v1/backups?cursor=${cursor('2024-01-01T00:00:00.123456Z', randomUUID())}`, {
          token,
        })
      ).status,
      200,
    );
  });

  /** A user of the owner's tenant with `role`, signed in. */
  async function userWithRole(ownerToken: string, role: string): Promise<{ id: string; token: string }> {
    const email = `${role}-${randomUUID().slice(0, 6)}@example.test`;
    const created = await stack.api('POST', '/api/v1/users', {
      token: ownerToken,
      body: { email, password: 'long enough password', role },
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    return {
      id: created.body.id as string,
      token: (await stack.api('POST', '/api/v1/auth/login', { body: { email, password: 'long enough password' } })).body
        .token as string,
    };
  }

  it('enforces roles: a viewer reads, an operator runs, an admin changes', async () => {
    const owner = await signup(stack);
    const mk = async (role: string) => (await userWithRole(owner.token, role)).token;
    const [viewer, operator, admin] = [await mk('viewer'), await mk('operator'), await mk('admin')];
    const site = (await stack.api('POST', '/api/v1/sites', { token: admin, body: { name: 's1' } })).body;
    const server = (
      await stack.api('POST', '/api/v1/servers', {
        token: admin,
        body: { siteId: site.id, name: 'pg', engine: 'postgresql' },
      })
    ).body;
    const cfg = (
      await stack.api('POST', '/api/v1/configs', {
        token: admin,
        body: {
          name: 'c',
          serverId: server.id,
          databases: ['d'],
          schedule: { kind: 'daily', time: '02:00' },
          timezone: 'UTC',
        },
      })
    ).body;

    assert.equal((await stack.api('GET', '/api/v1/configs', { token: viewer })).status, 200);
    assert.equal((await stack.api('GET', '/api/v1/backups', { token: viewer })).status, 200);
    assert.equal((await stack.api('POST', '/api/v1/sites', { token: viewer, body: { name: 'nope' } })).status, 403);
    assert.equal((await stack.api('POST', `/api/v1/configs/${cfg.id}/pause`, { token: viewer })).status, 403);
    assert.equal((await stack.api('POST', `/api/v1/configs/${cfg.id}/run`, { token: viewer })).status, 403);
    assert.equal((await stack.api('POST', `/api/v1/configs/${cfg.id}/pause`, { token: operator })).status, 200);
    assert.equal((await stack.api('POST', `/api/v1/configs/${cfg.id}/resume`, { token: operator })).status, 200);
    assert.equal(
      (await stack.api('PATCH', `/api/v1/configs/${cfg.id}`, { token: operator, body: { keepLocal: 3 } })).status,
      403,
    );
    assert.equal((await stack.api('DELETE', `/api/v1/configs/${cfg.id}`, { token: operator })).status, 403);
    assert.equal(
      (await stack.api('PATCH', `/api/v1/configs/${cfg.id}`, { token: admin, body: { keepLocal: 3 } })).status,
      200,
    );
    // A key PATCH does not know is refused by name, not dropped: pausing is POST /pause.
    const unknown = await stack.api('PATCH', `/api/v1/configs/${cfg.id}`, {
      token: admin,
      body: { paused: true, keeplocal: 5 },
    });
    assert.equal(unknown.status, 400, JSON.stringify(unknown.body));
    assert.deepEqual(
      unknown.body.error.issues.map((i: { field: string }) => i.field),
      ['paused', 'keeplocal'],
    );
    assert.match(unknown.body.error.message, /paused: not a field of this request/);
    const kept = (await stack.api('GET', `/api/v1/configs/${cfg.id}`, { token: admin })).body;
    assert.deepEqual([kept.paused, kept.keepLocal], [false, 3]);
    assert.equal(
      (
        await stack.api('POST', '/api/v1/users', {
          token: admin,
          body: { email: 'o2@example.test', password: 'long enough password', role: 'owner' },
        })
      ).status,
      403,
    );
    assert.equal((await stack.api('GET', '/api/v1/audit', { token: operator })).status, 403);
    const audit = await stack.api('GET', '/api/v1/audit', { token: admin });
    const actions = (audit.body.items as { action: string }[]).map((a) => a.action);
    for (const a of ['config.create', 'config.pause', 'config.resume', 'config.update', 'site.create', 'user.create'])
      assert.ok(actions.includes(a), `audit lacks ${a}`);
    // The last owner cannot be demoted or removed.
    const me = (await stack.api('GET', '/api/v1/me', { token: owner.token })).body;
    assert.equal(
      (await stack.api('PATCH', `/api/v1/users/${me.id}`, { token: owner.token, body: { role: 'admin' } })).status,
      409,
    );
    assert.equal(
      (await stack.api('POST', '/api/v1/auth/login', { body: { email: owner.email, password: 'wrong password!!' } }))
        .status,
      401,
    );
  });

  it("refuses a removed user's token and takes a demoted user's old powers at once: the database, not the token, says who they are", async () => {
    const owner = await signup(stack);
    const mk = (role: string) => userWithRole(owner.token, role);
    const admin = await mk('admin');
    const owner2 = await mk('owner');
    assert.equal(
      (await stack.api('POST', '/api/v1/sites', { token: admin.token, body: { name: 'before' } })).status,
      201,
    );
    assert.equal((await stack.api('GET', '/api/v1/sites', { token: owner2.token })).status, 200);

    // Demoted: the token still says admin, the next request has only a viewer's powers.
    assert.equal(
      (await stack.api('PATCH', `/api/v1/users/${admin.id}`, { token: owner.token, body: { role: 'viewer' } })).status,
      200,
    );
    assert.equal(
      (await stack.api('POST', '/api/v1/sites', { token: admin.token, body: { name: 'after' } })).status,
      403,
    );
    assert.equal((await stack.api('GET', '/api/v1/sites', { token: admin.token })).status, 200);
    assert.equal((await stack.api('GET', '/api/v1/me', { token: admin.token })).body.role, 'viewer');

    // Removed: the token is refused at once, and a removed owner cannot make a new owner.
    assert.equal((await stack.api('DELETE', `/api/v1/users/${owner2.id}`, { token: owner.token })).status, 204);
    assert.equal((await stack.api('GET', '/api/v1/sites', { token: owner2.token })).status, 401);
    const comeback = await stack.api('POST', '/api/v1/users', {
      token: owner2.token,
      body: { email: `back-${randomUUID().slice(0, 6)}@example.test`, password: 'long enough password', role: 'owner' },
    });
    assert.equal(comeback.status, 401);
    assert.equal((await stack.api('GET', '/api/v1/users', { token: owner.token })).body.items.length, 2);

    // Another API process forgets nothing: it reads the user again once its copy is USER_TTL_MS old.
    const roles = new UserRoles(stack.db.db, 5_000);
    const t0 = Date.now();
    assert.equal((await roles.current(owner.tenantId, admin.id, t0))?.role, 'viewer');
    await stack.db.db.update(users).set({ role: 'operator' }).where(eq(users.id, admin.id));
    assert.equal((await roles.current(owner.tenantId, admin.id, t0 + 4_000))?.role, 'viewer', 'within the TTL');
    assert.equal((await roles.current(owner.tenantId, admin.id, t0 + 5_001))?.role, 'operator', 'after the TTL');
    await stack.db.db.delete(users).where(eq(users.id, admin.id));
    assert.equal(await roles.current(owner.tenantId, admin.id, t0 + 10_002), null);
  });

  it('marks a restore failed and answers 503 when Temporal does not take its workflow; so do the other routes that start one', async () => {
    const { token, tenantId } = await signup(stack);
    const site = (await stack.api('POST', '/api/v1/sites', { token, body: { name: 'r' } })).body;
    const server = (
      await stack.api('POST', '/api/v1/servers', { token, body: { siteId: site.id, name: 'pg', engine: 'postgresql' } })
    ).body;
    const [backup] = await stack.db.db
      .insert(backups)
      .values({
        tenantId,
        siteId: site.id,
        serverId: server.id,
        database: 'shop',
        workflowId: 'wf-r',
        runId: 'r',
        fileName: 'shop.pgdump',
        startedAt: new Date(),
        status: 'succeeded',
      })
      .returning();
    const me = (await stack.api('GET', '/api/v1/me', { token })).body;
    // The same API on the same database, with a Temporal client pointed at a port nothing listens on (and no retries,
    // so the refusal comes at once).
    const connection = Connection.lazy({ address: `127.0.0.1:${await freePort()}`, interceptors: [] });
    const secret = randomUUID() + randomUUID();
    const app = createApp({
      db: stack.db.db,
      temporal: { connection, client: new Client({ connection }), namespace: 'default' },
      logger: stack.logger,
      jwtSecret: secret,
      jwtTtlSeconds: 60,
      centralTaskQueue: stack.centralTaskQueue,
    });
    try {
      const res = await app.request('/api/v1/restores', {
        method: 'POST',
        headers: {
          authorization: `Bearer ${issueToken({ userId: me.id, tenantId, role: 'owner' }, secret, 60)}`,
          'content-type': 'application/json',
        },
        body: JSON.stringify({ backupId: backup!.id, targetDatabase: 'shop_restored' }),
      });
      const body = (await res.json()) as { error: { code: string; message: string } };
      assert.equal(res.status, 503, JSON.stringify(body));
      assert.equal(body.error.code, 'unavailable');
      assert.match(body.error.message, /Temporal is unavailable/);
      // Every other route that starts a workflow answers the same way (here: a sync of every copy now).
      const sync = await app.request('/api/v1/sync', {
        method: 'POST',
        headers: { authorization: `Bearer ${issueToken({ userId: me.id, tenantId, role: 'owner' }, secret, 60)}` },
      });
      assert.equal(sync.status, 503, await sync.clone().text());
      assert.match(((await sync.json()) as { error: { message: string } }).error.message, /Temporal is unavailable/);
      // A server whose configurations' schedules cannot follow its new name keeps its old one.
      await stack.api('POST', '/api/v1/configs', {
        token,
        body: {
          name: 'c',
          serverId: server.id,
          databases: ['shop'],
          schedule: { kind: 'daily', time: '02:00' },
          timezone: 'UTC',
        },
      });
      const rename = await app.request(`/api/v1/servers/${server.id}`, {
        method: 'PATCH',
        headers: {
          authorization: `Bearer ${issueToken({ userId: me.id, tenantId, role: 'owner' }, secret, 60)}`,
          'content-type': 'application/json',
        },
        body: JSON.stringify({ name: 'pg-renamed' }),
      });
      assert.equal(rename.status, 503, await rename.clone().text());
      assert.equal((await stack.api('GET', `/api/v1/servers/${server.id}`, { token })).body.name, 'pg');
    } finally {
      await connection.close().catch(() => {});
    }
    const listed = (await stack.api('GET', '/api/v1/restores', { token })).body.items as {
      status: string;
      error: string;
      finishedAt: string | null;
      targetDatabase: string;
    }[];
    assert.equal(listed.length, 1);
    assert.equal(listed[0]!.targetDatabase, 'shop_restored');
    assert.equal(listed[0]!.status, 'failed', 'not running forever');
    assert.match(listed[0]!.error, /could not be started: Temporal is unavailable/);
    assert.ok(listed[0]!.finishedAt);
  });

  it('two owners demoting each other at once leave the tenant one owner', async () => {
    for (let round = 0; round < 3; round++) {
      const first = await signup(stack);
      const second = await userWithRole(first.token, 'owner');
      const me = (await stack.api('GET', '/api/v1/me', { token: first.token })).body;
      const [a, b] = await Promise.all([
        stack.api('PATCH', `/api/v1/users/${second.id}`, { token: first.token, body: { role: 'admin' } }),
        stack.api('PATCH', `/api/v1/users/${me.id}`, { token: second.token, body: { role: 'admin' } }),
      ]);
      // One wins; the other is refused: 409 if it ran beside the first, 403 if it came after (no longer an owner).
      const [won, lost] = [a.status, b.status].sort();
      assert.ok(won === 200 && (lost === 409 || lost === 403), `round ${round}: ${a.status} ${b.status}`);
      const owners = await stack.db.db
        .select()
        .from(users)
        .where(and(eq(users.tenantId, first.tenantId), eq(users.role, 'owner')));
      assert.equal(owners.length, 1);
    }
  });

  it('refuses a request body over 1 MiB before reading it, signing in included', async () => {
    const huge = JSON.stringify({ email: 'a@example.test', password: 'x'.repeat(2 * 1024 * 1024) });
    // A connection of its own: the API answers before the body is sent and closes it, which a pooled one would not survive.
    const status = await new Promise<number>((resolve, reject) => {
      const req = http.request(
        `${stack.baseUrl}/api/v1/auth/login`,
        { method: 'POST', agent: false, headers: { 'content-type': 'application/json' } },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on('error', reject);
      req.end(huge);
    });
    assert.equal(status, 413);
  });

  it('keeps the webhook URL secret: no credentials in it, shown whole to admins only, named by its origin when unreachable', async () => {
    const owner = await signup(stack);
    for (const url of ['https://alerts:s3cret@hooks.example.test/x', 'https://s3cret@hooks.example.test/x']) {
      const res = await stack.api('PATCH', '/api/v1/tenant', { token: owner.token, body: { webhookUrl: url } });
      assert.equal(res.status, 400, JSON.stringify(res.body));
      assert.deepEqual(
        res.body.error.issues.map((i: { field: string }) => i.field),
        ['webhookUrl'],
      );
      assert.match(res.body.error.message, /user:password/);
    }
    const url = 'https://hooks.example.test/services/T0/B0/s3cret';
    assert.equal(
      (await stack.api('PATCH', '/api/v1/tenant', { token: owner.token, body: { webhookUrl: url } })).body.webhookUrl,
      url,
    );
    assert.equal((await stack.api('GET', '/api/v1/tenant', { token: owner.token })).body.webhookUrl, url);
    for (const role of ['viewer', 'operator']) {
      const { token } = await userWithRole(owner.token, role);
      assert.equal(
        (await stack.api('GET', '/api/v1/tenant', { token })).body.webhookUrl,
        'https://hooks.example.test/[hidden]',
        role,
      );
    }

    // A URL with credentials saved before the check: fetch refuses it, and the failure names only the origin.
    await stack.db.db
      .update(tenants)
      .set({ webhookUrl: 'https://alerts:s3cret@hooks.example.test/x' })
      .where(eq(tenants.id, owner.tenantId));
    const activities = createCentralActivities({
      db: stack.db.db,
      logger: stack.logger,
      tuning: { dumpHeartbeatTimeoutMs: 3000, dumpTimeoutMs: 60_000, sitePickupTimeoutMs: 3000, retryInitialMs: 200 },
    });
    const quiet = { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error() {} };
    const mock = new MockActivityEnvironment({ attempt: 1 }, { logger: quiet });
    await assert.rejects(
      mock.run(activities.alert, { tenantId: owner.tenantId, siteName: 's', message: 'm' }),
      (e: Error) => {
        assert.match(e.message, /alert webhook at https:\/\/hooks\.example\.test unreachable/);
        assert.ok(!e.message.includes('s3cret'), e.message);
        return true;
      },
    );
  });

  it("logs a failed query with its text and the database's reason, never its parameters", async () => {
    const logs = new LogCapture();
    const app = createApp({
      db: stack.db.db,
      temporal: stack.temporal,
      logger: createLogger('backup-api', logs),
      jwtSecret: randomUUID() + randomUUID(),
      jwtTtlSeconds: 60,
      centralTaskQueue: stack.centralTaskQueue,
    });
    const hash = `scrypt$32768$8$1$${randomUUID()}`;
    app.get('/fails', async (c) => {
      await stack.db.db.execute(sql`select ${hash}::text as password_hash, 1 / 0 as nothing`);
      return c.body(null, 204);
    });
    const res = await app.request('/fails');
    assert.equal(res.status, 500);
    assert.ok(!(await res.text()).includes(hash));
    const line = logs.lines.find((l) => l.message === 'unhandled error') as
      { error: { message: string; stack_trace: string } } | undefined;
    assert.ok(line, logs.raw.join('\n'));
    assert.match(line.error.message, /select \$1::text as password_hash, 1 \/ 0 as nothing: division by zero/);
    assert.match(line.error.stack_trace, /^DrizzleQueryError: Failed query: .*\n\s+at /);
    for (const raw of logs.raw) assert.ok(!raw.includes(hash), `a log line holds the query's parameter: ${raw}`);
  });

  it('filters and paginates backup history with a stable cursor', async () => {
    const { token, tenantId } = await signup(stack);
    const site = (await stack.api('POST', '/api/v1/sites', { token, body: { name: 'p' } })).body;
    const server = (
      await stack.api('POST', '/api/v1/servers', { token, body: { siteId: site.id, name: 'pg', engine: 'postgresql' } })
    ).body;
    const t0 = Date.UTC(2026, 0, 1);
    const rows = Array.from({ length: 120 }, (_, i) => ({
      tenantId,
      siteId: site.id,
      serverId: server.id,
      database: i % 2 ? 'odd' : 'even',
      workflowId: `wf-${i}`,
      runId: `r-${i}`,
      startedAt: new Date(t0 + Math.floor(i / 2) * 3_600_000),
      status: (i % 10 === 0 ? 'failed' : 'succeeded') as 'failed' | 'succeeded',
    }));
    await stack.db.db.insert(backups).values(rows);

    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const res: { body: { items: { id: string; startedAt: string }[]; nextCursor: string | null } } = await stack.api(
        'GET',
        `/api/v1/backups?limit=50${cursor ? `&cursor=${cursor}` : ''}`,
        { token },
      );
      const times = res.body.items.map((x) => x.startedAt);
      assert.deepEqual(times, [...times].sort().reverse(), 'newest first');
      seen.push(...res.body.items.map((x) => x.id));
      cursor = res.body.nextCursor;
      pages++;
    } while (cursor);
    assert.equal(pages, 3);
    assert.equal(seen.length, 120);
    assert.equal(new Set(seen).size, 120, 'no row twice across pages');

    // The listing is encoded by PostgreSQL, a single backup by the API: both say the same, field for field.
    await stack.db.db.insert(backups).values({
      tenantId,
      siteId: site.id,
      serverId: server.id,
      database: 'full',
      workflowId: 'wf-full',
      runId: 'r-full',
      fileName: 'full_20270101_000000.pgdump.zst',
      sizeBytes: 9_007_199_254,
      sha256: 'ab'.repeat(32),
      startedAt: new Date(t0 + 400 * 3_600_000),
      finishedAt: new Date(t0 + 400 * 3_600_000 + 61_234),
      status: 'succeeded',
      error: 'a "quoted" error\nwith a line break and ü',
      kind: 'backup',
      compression: 'zstd',
      encrypted: true,
      keyId: '0123456789abcdef',
      tableCounts: [{ table: 'public.orders', rows: 12, exact: true }],
      rowsRemoved: [{ table: 'public.log', mode: 'truncate', rows: 3 }],
      report: { checks: [{ name: 'x', ok: true }] },
      location: 'site:pg/full/full_20270101_000000.pgdump.zst',
      availableForDownload: true,
    });
    const firstPage = (await stack.api('GET', '/api/v1/backups?limit=5', { token })).body.items as {
      id: string;
      database: string;
    }[];
    assert.equal(firstPage[0]!.database, 'full');
    for (const item of firstPage)
      assert.deepEqual(item, (await stack.api('GET', `/api/v1/backups/${item.id}`, { token })).body);
    // The API keeps listed rows' JSON; a row changed or deleted behind its back (another process, plain SQL) is listed
    // as it is now, not as it was.
    const [extra] = await stack.db.db
      .insert(backups)
      .values({
        tenantId,
        siteId: site.id,
        serverId: server.id,
        database: 'extra',
        workflowId: 'wf-extra',
        runId: 'r',
        startedAt: new Date(t0 + 500 * 3_600_000),
        status: 'running',
      })
      .returning({ id: backups.id });
    const top = async () =>
      (await stack.api('GET', '/api/v1/backups?limit=5', { token })).body.items as {
        id: string;
        status: string;
        error: string | null;
      }[];
    assert.deepEqual((await top())[0], (await stack.api('GET', `/api/v1/backups/${extra!.id}`, { token })).body);
    await stack.db.db
      .update(backups)
      .set({ status: 'failed', error: 'changed after it was listed' })
      .where(sql`${backups.id} = ${extra!.id}`);
    assert.deepEqual((await top())[0], (await stack.api('GET', `/api/v1/backups/${extra!.id}`, { token })).body);
    assert.equal((await top())[0]!.error, 'changed after it was listed');
    await stack.db.db.delete(backups).where(sql`${backups.id} = ${extra!.id}`);
    assert.deepEqual(
      (await top()).map((x) => x.id),
      firstPage.map((x) => x.id),
      'the deleted row is gone from the listing',
    );
    // Rows a few microseconds apart, in one millisecond: a page boundary between them loses neither.
    await stack.db.db
      .execute(sql`insert into backups (tenant_id, site_id, server_id, database, workflow_id, run_id, started_at, status)
      select ${tenantId}, ${site.id}, ${server.id}, 'micro', 'wf-micro-' || g, 'r-micro-' || g, timestamptz '2025-06-01 00:00:00.123456+00' - g * interval '100 microseconds', 'succeeded'
      from generate_series(0, 4) g`);
    const micro: string[] = [];
    for (let c: string | null = '', n = 0; c !== null && n < 10; n++) {
      const page: { items: { startedAt: string }[]; nextCursor: string | null } = (
        await stack.api('GET', `/api/v1/backups?database=micro&limit=2${c ? `&cursor=${c}` : ''}`, { token })
      ).body;
      micro.push(...page.items.map((x) => x.startedAt));
      c = page.nextCursor;
    }
    assert.equal(micro.length, 5, `every row once across pages: ${micro.join(', ')}`);
    assert.deepEqual(micro, [
      '2025-06-01T00:00:00.123Z',
      '2025-06-01T00:00:00.123Z',
      '2025-06-01T00:00:00.123Z',
      '2025-06-01T00:00:00.123Z',
      '2025-06-01T00:00:00.123Z',
    ]);

    const q = async (qs: string) =>
      (await stack.api('GET', `/api/v1/backups?limit=500&${qs}`, { token })).body.items.length;
    assert.equal(await q('status=failed'), 12);
    assert.equal(await q('database=odd'), 60);
    assert.equal(await q(`serverId=${server.id}&status=succeeded&database=even`), 48);
    assert.equal(
      await q(`from=${new Date(t0 + 10 * 3_600_000).toISOString()}&to=${new Date(t0 + 20 * 3_600_000).toISOString()}`),
      20,
    );
    assert.equal(await q(`siteId=${randomUUID()}`), 0);
  });
});
