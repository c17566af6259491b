// The API while a dependency is away (issue 23): the metadata database halted or hung, Temporal stopped or hung. Every
// route that needs the missing part answers 503 with Retry-After in about 2 s, the others keep working, and the next
// requests succeed once it is back. Measured before: 503 after 17-21 s (Temporal), 500 (database, site status), and
// still 503 for 29-76 s after Temporal was back.
import assert from 'node:assert/strict';
import { after, before, describe, test, type TestContext } from 'node:test';
import { backups } from '../db/schema.ts';
import { createConfig } from './helpers/fixtures.ts';
import { signup, startStack, waitFor, type Stack } from './helpers/stack.ts';
import { DEPENDENCY_TIMEOUT_MS } from '../api/lib/middleware.ts';

/** The API gives each dependency call 1.5 s; the bound leaves room for a loaded machine. */
const ANSWER_LIMIT_MS = 4000;
/** From the dependency answering again to every route answering as usual. */
const RECOVERY_LIMIT_MS = 10_000;
/**
 * Temporal stays away this long while clients keep calling: grpc-js's reconnect backoff grows with each failed attempt
 * (1 s, 1.6 s, 2.6 s, … up to 2 min), so an outage of 20 s was enough for its old lag of 10-17 s to show.
 */
const LONG_OUTAGE_MS = 20_000;

interface Call {
  name: string;
  method: string;
  path: string;
  /** The usual answers: a run now meets the first one still waiting for a site worker (409) once it started one. */
  ok: number[];
  body?: unknown;
  anonymous?: boolean;
}

let stack: Stack;
let token: string;
let email: string;
let siteId: string;
let configId: string;
let backupId: string;

/** Routes that read or write only the metadata database. */
const databaseRoutes = (): Call[] => [
  { name: 'sign-in', method: 'POST', path: '/api/v1/auth/login', ok: [200], anonymous: true, body: credentials() },
  { name: 'list configs', method: 'GET', path: '/api/v1/configs', ok: [200] },
  { name: 'list backups', method: 'GET', path: '/api/v1/backups', ok: [200] },
  { name: 'list sites', method: 'GET', path: '/api/v1/sites', ok: [200] },
  { name: 'get site', method: 'GET', path: `/api/v1/sites/${siteId}`, ok: [200] },
  { name: 'list restores', method: 'GET', path: '/api/v1/restores', ok: [200] },
];

/** Routes that need Temporal too: runs, schedules, task queue pollers. */
const temporalRoutes = (): Call[] => [
  { name: 'run now', method: 'POST', path: `/api/v1/configs/${configId}/run`, ok: [202, 409] },
  { name: 'site status', method: 'GET', path: `/api/v1/sites/${siteId}/status`, ok: [200] },
  { name: 'get config', method: 'GET', path: `/api/v1/configs/${configId}`, ok: [200] },
  { name: 'schedule', method: 'GET', path: `/api/v1/configs/${configId}/schedule`, ok: [200] },
  { name: 'start sync', method: 'POST', path: '/api/v1/sync', ok: [202] },
  {
    name: 'start restore',
    method: 'POST',
    path: '/api/v1/restores',
    ok: [202],
    body: { backupId, targetDatabase: 'shop_restored' },
  },
];

const credentials = () => ({ email, password: 'correct horse battery staple' });

async function call(c: Call) {
  const started = performance.now();
  const res = await stack.api(c.method, c.path, { ...(!c.anonymous && { token }), body: c.body });
  return { res, ms: Math.round(performance.now() - started) };
}

/** Each route answers 503 + Retry-After in time; the times are reported. */
async function expectUnavailable(t: TestContext, calls: Call[], during: string) {
  const times: string[] = [];
  for (const c of calls) {
    const { res, ms } = await call(c);
    assert.equal(res.status, 503, `${c.name} while ${during}: ${res.status} ${JSON.stringify(res.body)}`);
    assert.equal(res.body.error.code, 'unavailable');
    assert.ok(Number(res.headers.get('retry-after')) > 0, `${c.name}: Retry-After ${res.headers.get('retry-after')}`);
    assert.ok(ms <= ANSWER_LIMIT_MS, `${c.name} while ${during} answered after ${ms} ms`);
    times.push(`${c.name} ${ms} ms`);
  }
  t.diagnostic(`503 while ${during}: ${times.join(', ')}`);
}

async function expectWorking(calls: Call[], during: string) {
  for (const c of calls) {
    const { res, ms } = await call(c);
    assert.ok(c.ok.includes(res.status), `${c.name} while ${during}: ${res.status} ${JSON.stringify(res.body)}`);
    assert.ok(ms <= ANSWER_LIMIT_MS, `${c.name} while ${during} answered after ${ms} ms`);
  }
}

/** Polls until every route answers as usual; the time from the dependency's return is reported. */
async function expectRecovery(t: TestContext, calls: Call[], after: string) {
  const started = performance.now();
  let last = '';
  await waitFor(
    async () => {
      for (const c of calls) {
        const { res } = await call(c);
        last = `${c.name}: ${res.status} ${JSON.stringify(res.body)}`;
        if (!c.ok.includes(res.status)) return false;
      }
      return true;
    },
    RECOVERY_LIMIT_MS,
    `every route to answer as usual after ${after}`,
  ).catch((err: Error) => {
    throw new Error(`${err.message}; last: ${last}`);
  });
  t.diagnostic(`all routes answered as usual ${Math.round(performance.now() - started)} ms after ${after}`);
}

describe('API outages', () => {
  before(async () => {
    // The production limit (the scratch platform allows a loaded machine more).
    stack = await startStack({
      privateMetadataServer: true,
      temporalStateFile: true,
      env: { DEPENDENCY_TIMEOUT_MS: String(DEPENDENCY_TIMEOUT_MS) },
    });
    const tenant = await signup(stack);
    ({ token, email } = tenant);
    const site = await stack.api('POST', '/api/v1/sites', { token, body: { name: 'outage-site' } });
    assert.equal(site.status, 201, JSON.stringify(site.body));
    siteId = site.body.id;
    const server = await stack.api('POST', '/api/v1/servers', {
      token,
      body: { siteId, name: 'main-pg', engine: 'postgresql' },
    });
    assert.equal(server.status, 201, JSON.stringify(server.body));
    configId = (await createConfig(stack, token, { serverId: server.body.id, databases: ['shop'] })).id;
    // A backup to restore (its restores wait for a site worker that never comes: only their start counts here).
    const [backup] = await stack.db.db
      .insert(backups)
      .values({
        tenantId: tenant.tenantId,
        siteId,
        serverId: server.body.id,
        database: 'shop',
        workflowId: 'wf-outage',
        runId: 'r',
        fileName: 'shop.pgdump',
        startedAt: new Date(),
        status: 'succeeded',
      })
      .returning();
    backupId = backup!.id;
    await expectWorking([...databaseRoutes(), ...temporalRoutes()], 'all is up');
  });
  after(() => stack?.stop());

  test('metadata database halted: 503 at once, and back with it', async (t) => {
    const db = stack.metadataServer!;
    await db.halt();
    try {
      await expectUnavailable(t, [...databaseRoutes(), ...temporalRoutes()], 'the database is halted');
      // More sign-ins than the 10 wrong passwords that lock an account: an outage is not a wrong password.
      const signIn = databaseRoutes().find((c) => c.name === 'sign-in')!;
      for (let i = 0; i < 11; i++) assert.equal((await call(signIn)).res.status, 503);
    } finally {
      await db.start();
    }
    await expectRecovery(t, [...databaseRoutes(), ...temporalRoutes()], 'the database started');
  });

  test('metadata database hung (accepts, never answers): 503 within the limit, and back when it goes on', async (t) => {
    const db = stack.metadataServer!;
    db.pause();
    try {
      await expectUnavailable(t, [...databaseRoutes(), ...temporalRoutes()], 'the database is hung');
    } finally {
      db.resume();
    }
    await expectRecovery(t, [...databaseRoutes(), ...temporalRoutes()], 'the database went on');
  });

  test('Temporal stopped: its routes answer 503 at once, the others work, and it is back with Temporal', async (t) => {
    const temporal = stack.devServer!;
    await temporal.stop();
    const stopped = performance.now();
    try {
      await expectUnavailable(t, temporalRoutes(), 'Temporal is stopped');
      await expectWorking(databaseRoutes(), 'Temporal is stopped');
      while (performance.now() - stopped < LONG_OUTAGE_MS)
        await expectUnavailable(t, temporalRoutes(), 'Temporal is still stopped');
    } finally {
      await temporal.start();
    }
    await expectRecovery(t, [...temporalRoutes(), ...databaseRoutes()], 'Temporal started');
  });

  test('Temporal hung: its routes answer 503 within the limit, the others work', async (t) => {
    const pid = stack.devServer!.process.pid!;
    process.kill(pid, 'SIGSTOP');
    try {
      await expectUnavailable(t, temporalRoutes(), 'Temporal is hung');
      await expectWorking(databaseRoutes(), 'Temporal is hung');
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    await expectRecovery(t, [...temporalRoutes(), ...databaseRoutes()], 'Temporal went on');
  });
});
