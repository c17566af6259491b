// The README's start command: the whole stack from nothing (embedded PGlite, its own Temporal dev server with the
// Web UI), a backup through it, and a restart that keeps every record.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { connectTemporal } from '../common/temporal.ts';
import { SYNC_SCHEDULE_ID } from '../common/names.ts';
import { freePort } from '../ops/services/ports.ts';
import { createShopDatabase } from './helpers/fixtures.ts';
import { waitFor } from './helpers/stack.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

describe('npm start (ops/dev/dev.ts)', () => {
  let dataDir: string;
  let source: Awaited<ReturnType<typeof createShopDatabase>>;
  let ports: { api: number; temporal: number; ui: number };
  let child: ChildProcess | undefined;

  async function start() {
    const proc = spawn(process.execPath, [path.join(ROOT, 'ops/dev/dev.ts')], {
      cwd: ROOT,
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        BP_TEMPORAL: process.env.BP_TEMPORAL,
        DATA_DIR: dataDir,
        PORT: String(ports.api),
        TEMPORAL_PORT: String(ports.temporal),
        TEMPORAL_UI_PORT: String(ports.ui),
        ...(process.env.WORKFLOW_BUNDLE && { WORKFLOW_BUNDLE: process.env.WORKFLOW_BUNDLE }),
      },
      stdio: ['ignore', 'ignore', 'pipe'],
      // Its own process group: a failed test kills the stack's children (site worker, dev server) with it.
      detached: true,
    });
    child = proc;
    let banner = '';
    proc.stderr!.on('data', (d: Buffer) => (banner += d.toString()));
    await waitFor(
      () => {
        if (proc.exitCode !== null) throw new Error(`npm start exited: ${banner}`);
        return banner.includes('Ready.');
      },
      120_000,
      'the stack to be ready',
    );
    return banner;
  }
  async function stop() {
    if (!child || child.exitCode !== null) return;
    child.kill('SIGINT');
    const [code] = await once(child, 'exit');
    assert.equal(code, 0, 'stops cleanly on Ctrl-C');
  }

  before(async () => {
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'bp-dev-'));
    ports = { api: await freePort(), temporal: await freePort(), ui: await freePort() };
    source = await createShopDatabase({ customers: 100, events: 100 });
  });
  after(async () => {
    if (child?.pid && child.exitCode === null) process.kill(-child.pid, 'SIGKILL');
    await source?.drop();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('starts everything, backs up through it, and keeps its records across a restart', async () => {
    const banner = await start();
    const api = `http://127.0.0.1:${ports.api}`;
    assert.match(banner, new RegExp(`Temporal Web UI\\s+http://127.0.0.1:${ports.ui}`));
    assert.match(banner, /embedded PostgreSQL/);
    assert.equal((await fetch(`http://127.0.0.1:${ports.ui}/`)).status, 200, 'the Web UI answers');

    const creds = JSON.parse(await readFile(path.join(dataDir, 'local-admin.json'), 'utf8')) as {
      email: string;
      password: string;
    };
    const call = async (method: string, p: string, body?: unknown, token?: string) => {
      const res = await fetch(api + p, {
        method,
        headers: { 'content-type': 'application/json', ...(token && { authorization: `Bearer ${token}` }) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      return { status: res.status, body: (await res.json()) as any };
    };
    const { token } = (await call('POST', '/api/v1/auth/login', creds)).body;
    const [site] = (await call('GET', '/api/v1/sites', undefined, token)).body.items;
    await waitFor(
      async () => (await call('GET', `/api/v1/sites/${site.id}/status`, undefined, token)).body.online,
      60_000,
      'the local site online',
    );
    const [server] = (await call('GET', '/api/v1/servers', undefined, token)).body.items;
    assert.equal(server.name, 'local-postgres');
    const cfg = await call(
      'POST',
      '/api/v1/configs',
      {
        name: 'shop',
        serverId: server.id,
        databases: [source.name],
        schedule: { kind: 'daily', time: '01:00' },
        timezone: 'UTC',
      },
      token,
    );
    assert.equal(cfg.status, 201);
    assert.equal((await call('POST', `/api/v1/configs/${cfg.body.id}/run`, undefined, token)).status, 202);
    const row = await waitFor(
      async () => {
        const [b] = (await call('GET', `/api/v1/backups?configId=${cfg.body.id}`, undefined, token)).body.items;
        return b && b.status !== 'running' ? b : undefined;
      },
      60_000,
      'the backup',
    );
    assert.equal(row.status, 'succeeded', row.error);
    await stop();

    // Same data folder: the account, the history and the schedule are still there.
    await start();
    const again = await call('POST', '/api/v1/auth/login', creds);
    assert.equal(again.status, 200);
    const history = (await call('GET', `/api/v1/backups?configId=${cfg.body.id}`, undefined, again.body.token)).body
      .items;
    assert.equal(history.length, 1);
    assert.equal(
      (await call('GET', `/api/v1/configs/${cfg.body.id}/schedule`, undefined, again.body.token)).status,
      200,
    );
    // The periodic sync of every copy is scheduled too.
    // Temporal answers only over TLS and to a token signed with the platform's key, both kept in the data folder.
    const { connection, client } = await connectTemporal({
      TEMPORAL_ADDRESS: `127.0.0.1:${ports.temporal}`,
      TEMPORAL_NAMESPACE: 'default',
      TEMPORAL_TLS_CA_FILE: path.join(dataDir, 'temporal/tls/ca.pem'),
      TEMPORAL_SIGNING_KEY_FILE: path.join(dataDir, 'temporal/signing-key.pem'),
    });
    try {
      const sync = await client.schedule.getHandle(SYNC_SCHEDULE_ID).describe();
      assert.equal(sync.action.type === 'startWorkflow' && sync.action.workflowType, 'syncWorkflow');
    } finally {
      await connection.close();
    }
    await stop();
  });
});
