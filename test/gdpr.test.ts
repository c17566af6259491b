// Issue 21, GDPR: a tenant erased on request leaves nothing behind (no row, schedule, run, file or object at the site,
// Azurite, SFTP or a local destination) and a signed report of what went where; a tenant beside it keeps everything.
// A user erased: their audit trail pseudonymised, their session refused at once. The export holds no secret.
import assert from 'node:assert/strict';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BlobServiceClient } from '@azure/storage-blob';
import { ScheduleNotFoundError } from '@temporalio/client';
import postgres from 'postgres';
import { verifyReport } from '../common/erasure.ts';
import { scheduleId, SearchAttr } from '../common/names.ts';
import { startAzurite, type Azurite } from '../ops/services/azurite.ts';
import { createConfig, createShopDatabase, runNowAndWait, setUpSite } from './helpers/fixtures.ts';
import { startSshd, type Sshd } from './helpers/sshd.ts';
import { settleAll, signup, startStack, waitFor, type Stack } from './helpers/stack.ts';

const PASSWORD = 'correct horse battery staple';

/** Every file under `dir` (relative paths), or none when it does not exist. */
async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries.filter((e) => e.isFile()).map((e) => path.relative(dir, path.join(e.parentPath, e.name)));
}

describe('GDPR: erasure and export', () => {
  let stack: Stack;
  let azurite: Azurite;
  let sshd: Sshd;
  let source: Awaited<ReturnType<typeof createShopDatabase>>;

  before(async () => {
    await settleAll([
      // A site that does not pick a task up within 10 s counts as offline (the erasure notes it, and waits on).
      startStack({ env: { SITE_PICKUP_TIMEOUT_SECONDS: '10' } }).then((x) => (stack = x)),
      startAzurite().then((x) => (azurite = x)),
      startSshd().then((x) => (sshd = x)),
      createShopDatabase({ customers: 50, events: 200 }).then((x) => (source = x)),
    ]);
  });
  after(async () => {
    await source?.drop();
    await Promise.all([stack?.stop(), azurite?.stop(), sshd?.stop()]);
  });

  const destinationsFor = (nas: string) => ({
    cloud: { type: 'azure' as const, container: 'erasure', connectionString: azurite.connectionString },
    'dr-host': {
      type: 'sftp' as const,
      host: sshd.host,
      port: sshd.port,
      user: sshd.user,
      privateKeyFile: sshd.privateKeyPath,
      hostKey: sshd.hostKeyFingerprint,
      path: sshd.root,
    },
    nas: { type: 'local' as const, path: nas },
  });
  const blobsUnder = async (prefix: string) => {
    const container = BlobServiceClient.fromConnectionString(azurite.connectionString).getContainerClient('erasure');
    const names: string[] = [];
    for await (const b of container.listBlobsFlat({ prefix })) names.push(b.name);
    return names;
  };

  /** A tenant with one backup copied to the site, Azurite, SFTP and a folder; each destination shared by both. */
  async function tenantWithBackups(label: string) {
    const account = await signup(stack, `${label}-${Math.random().toString(36).slice(2, 8)}`);
    const backupsDir = path.join(stack.tmp, `site-${label}`);
    const nas = path.join(stack.tmp, 'nas');
    const set = await setUpSite(stack, account.token, { backupsDir, destinations: destinationsFor(nas) });
    const config = await createConfig(stack, account.token, {
      serverId: set.server.id,
      databases: [source.name],
      destinations: Object.values(set.destinations).map((d) => ({
        destinationId: d.id,
        retention: { keepLast: 3 },
      })),
    });
    const [backup] = (await runNowAndWait(stack, account.token, config.id)) as any[];
    assert.equal(backup.status, 'succeeded', backup.error);
    const key = `${account.tenantId}/${set.site.id}/main-pg/${source.name}/${backup.fileName}`;
    return { ...account, ...set, backupsDir, nas, config, backup, key };
  }

  it('erases a tenant everywhere, waits for its offline site, signs the report; the other tenant is untouched', async () => {
    const [a, b] = [await tenantWithBackups('erase'), await tenantWithBackups('keep')];
    for (const t of [a, b]) {
      assert.equal((await blobsUnder(`${t.tenantId}/`)).length, 1);
      assert.equal((await filesUnder(path.join(sshd.root, t.tenantId))).length, 1);
      assert.equal((await filesUnder(path.join(t.nas, t.tenantId))).length, 1);
      assert.equal((await filesUnder(t.backupsDir)).length, 1);
    }
    // Files no history row knows of (a run that never recorded its dump) are the tenant's too.
    await mkdir(path.join(a.backupsDir, 'main-pg', 'stray'), { recursive: true });
    await writeFile(path.join(a.backupsDir, 'main-pg', 'stray', 'orphan_20260101_000000.sql.zst'), 'x');
    await mkdir(path.join(a.nas, a.tenantId, 'orphan'), { recursive: true });
    await writeFile(path.join(a.nas, a.tenantId, 'orphan', 'left.sql.zst'), 'x');
    const member = await stack.api('POST', '/api/v1/users', {
      token: a.token,
      body: { email: `ops-${a.tenantId.slice(0, 8)}@example.test`, password: PASSWORD, role: 'admin' },
    });
    assert.equal(member.status, 201);
    const memberLogin = await stack.api('POST', '/api/v1/auth/login', {
      body: { email: member.body.email, password: PASSWORD },
    });
    assert.equal(memberLogin.status, 200);

    // The export: every kind of metadata, no secret.
    const exported = await stack.api('GET', '/api/v1/tenant/export', { token: a.token });
    assert.equal(exported.status, 200);
    for (const part of ['tenant', 'users', 'sites', 'servers', 'destinations', 'configurations', 'history', 'audit'])
      assert.ok(part in exported.body, `export lacks ${part}`);
    assert.equal(exported.body.users.length, 2);
    assert.equal(exported.body.history[0].copies.length, 4);
    const text = JSON.stringify(exported.body);
    for (const secret of ['passwordHash', 'password_hash', 'keyHash', a.siteConfig.siteKey, azurite.accountKey])
      assert.ok(!text.includes(secret), `the export holds ${secret}`);
    assert.equal(
      (await stack.api('GET', '/api/v1/tenant/export', { token: b.token })).body.users[0].email,
      b.email,
      "an export is of the caller's tenant only",
    );

    // Only an owner who names the tenant erases it.
    assert.equal(
      (await stack.api('POST', '/api/v1/tenant/erase', { token: memberLogin.body.token, body: { confirm: 'x' } }))
        .status,
      403,
    );
    const wrong = await stack.api('POST', '/api/v1/tenant/erase', { token: a.token, body: { confirm: 'not it' } });
    assert.equal(wrong.status, 400);
    assert.equal(wrong.body.error.issues[0].field, 'confirm');
    const tenantName = (await stack.api('GET', '/api/v1/tenant', { token: a.token })).body.name as string;

    // The site goes offline before the erasure: its files cannot be skipped, so the erasure waits for it.
    await a.worker.kill();
    const started = Date.now();
    const ticket = await stack.api('POST', '/api/v1/tenant/erase', { token: a.token, body: { confirm: tenantName } });
    assert.equal(ticket.status, 202, JSON.stringify(ticket.body));
    assert.equal((await stack.api('GET', '/api/v1/sites', { token: a.token })).status, 401, "the owner's session");
    assert.equal((await stack.api('GET', '/api/v1/sites', { token: memberLogin.body.token })).status, 401);
    const erasure = stack.temporal.client.workflow.getHandle(ticket.body.workflowId);
    await waitFor(
      async () => ((await erasure.fetchHistory()).events ?? []).some((e) => e.activityTaskTimedOutEventAttributes),
      60_000,
      'the erasure to find the site offline',
    );
    assert.equal((await erasure.describe()).status.name, 'RUNNING', 'the erasure waits for the offline site');
    await stack.startSiteWorker(a.siteConfig);
    await erasure.result();
    const tookS = (Date.now() - started) / 1000;

    // The report: only with the token, signed with the key the API publishes, listing every item and where.
    assert.equal((await stack.api('GET', ticket.body.report)).status, 401);
    const got = await fetch(`${stack.baseUrl}${ticket.body.report}`, { headers: { 'x-erasure-token': 'wrong' } });
    assert.equal(got.status, 401);
    const res = await fetch(`${stack.baseUrl}${ticket.body.report}`, {
      headers: { 'x-erasure-token': ticket.body.token },
    });
    assert.equal(res.status, 200);
    const doc = (await res.json()) as any;
    assert.equal(doc.status, 'done');
    const key = (await stack.api('GET', '/api/v1/privacy/erasure-key')).body;
    assert.equal(key.algorithm, 'Ed25519');
    assert.ok(verifyReport(doc.payload, doc.signature, key.publicKey), 'the signature verifies');
    assert.ok(!verifyReport(doc.payload.replace(a.tenantId, b.tenantId), doc.signature, key.publicKey));
    const report = doc.report;
    assert.equal(report.tenantId, a.tenantId);
    assert.ok(report.schedules.includes(scheduleId(a.config.id)), JSON.stringify(report.schedules));
    assert.ok(report.workflows.some((w: any) => w.workflowId === a.backup.workflowId));
    const keysAt = (target: string) => report.copies.find((c: any) => c.target === target)?.keys ?? [];
    const siteKey = `main-pg/${source.name}/${a.backup.fileName}`;
    assert.deepEqual([...keysAt('site')].sort(), [siteKey, `main-pg/stray/orphan_20260101_000000.sql.zst`].sort());
    assert.deepEqual(keysAt('cloud'), [a.key]);
    assert.deepEqual(keysAt('dr-host'), [a.key]);
    assert.deepEqual(keysAt('nas').sort(), [a.key, `${a.tenantId}/orphan/left.sql.zst`].sort());
    assert.deepEqual(report.copies.map((c: any) => [c.target, c.kind]).sort(), [
      ['cloud', 'azure'],
      ['dr-host', 'sftp'],
      ['nas', 'local'],
      ['site', 'site'],
    ]);
    assert.ok(
      report.waits.some((w: any) => w.siteId === a.site.id && /offline/.test(w.reason)),
      `the report says it waited for the site: ${JSON.stringify(report.waits)}`,
    );
    assert.equal(report.rows.tenants, 1);
    assert.equal(report.rows.users, 2);
    assert.equal(report.rows.backups, 1);
    assert.equal(report.rows.backup_copies, 4);
    assert.equal(report.rows.sites, 1);
    for (const personal of [a.email, member.body.email, tenantName])
      assert.ok(!doc.payload.includes(personal), `the report keeps ${personal}`);

    // No row of the tenant in any table of the metadata database (the report aside).
    const sql = postgres(stack.centralEnv.DATABASE_URL!, { max: 1, onnotice: () => {} });
    try {
      const tables = (
        await sql<{ table_name: string }[]>`select table_name from information_schema.columns
        where column_name = 'tenant_id' and table_schema = current_schema()`
      ).map((r) => r.table_name);
      assert.ok(tables.length >= 12, tables.join());
      for (const table of tables.filter((t) => t !== 'erasure_reports')) {
        const [gone] = await sql<
          { n: number }[]
        >`select count(*)::int n from ${sql(table)} where tenant_id = ${a.tenantId}`;
        assert.equal(gone!.n, 0, `${table} keeps rows of the erased tenant`);
        const [kept] = await sql<
          { n: number }[]
        >`select count(*)::int n from ${sql(table)} where tenant_id = ${b.tenantId}`;
        if (['backups', 'backup_copies', 'sites', 'servers', 'destinations', 'backup_configs', 'users'].includes(table))
          assert.ok(kept!.n > 0, `${table} lost the other tenant's rows`);
      }
      assert.equal((await sql`select 1 from tenants where id = ${a.tenantId}`).length, 0);
    } finally {
      await sql.end();
    }

    // Nothing of it in Temporal: no schedule, no run (visibility catches up asynchronously).
    await assert.rejects(
      stack.temporal.client.schedule.getHandle(scheduleId(a.config.id)).describe(),
      ScheduleNotFoundError,
    );
    await stack.temporal.client.schedule.getHandle(scheduleId(b.config.id)).describe();
    const runsOf = async (tenantId: string) => {
      const ids: string[] = [];
      for await (const w of stack.temporal.client.workflow.list({
        query: `${SearchAttr.tenant.name} = '${tenantId}'`,
      }))
        ids.push(w.workflowId);
      return ids;
    };
    await waitFor(async () => (await runsOf(a.tenantId)).length === 0, 30_000, 'no run of the erased tenant');
    assert.ok((await runsOf(b.tenantId)).includes(b.backup.workflowId), "the other tenant's run is kept");

    // No file or object of it anywhere; the other tenant's copies, in the same container, host and folder, stay.
    assert.deepEqual(await filesUnder(a.backupsDir), []);
    assert.deepEqual(await blobsUnder(`${a.tenantId}/`), []);
    assert.deepEqual(await filesUnder(path.join(sshd.root, a.tenantId)), []);
    assert.deepEqual(await filesUnder(path.join(a.nas, a.tenantId)), []);
    assert.deepEqual(await blobsUnder(`${b.tenantId}/`), [b.key]);
    assert.deepEqual(await filesUnder(path.join(sshd.root, b.tenantId)), [path.relative(b.tenantId, b.key)]);
    assert.deepEqual(await filesUnder(path.join(b.nas, b.tenantId)), [path.relative(b.tenantId, b.key)]);
    assert.equal((await filesUnder(b.backupsDir)).length, 1);
    const history = await stack.api('GET', `/api/v1/backups?configId=${b.config.id}`, { token: b.token });
    assert.equal(history.status, 200);
    assert.equal(history.body.items.length, 1);
    stack.logger.info({ labels: { erasure_seconds: tookS } }, 'tenant erasure measured');
    console.log(`tenant erasure with an offline site (10 s pick-up timeout): ${tookS.toFixed(1)} s`);
  });

  it('erases a user: audit pseudonymised, session refused at once; the last owner is kept', async () => {
    const owner = await signup(stack);
    const email = `gone-${owner.tenantId.slice(0, 8)}@example.test`;
    const created = await stack.api('POST', '/api/v1/users', {
      token: owner.token,
      body: { email, password: PASSWORD, role: 'admin' },
    });
    assert.equal(created.status, 201);
    const userId = created.body.id as string;
    const session = (await stack.api('POST', '/api/v1/auth/login', { body: { email, password: PASSWORD } })).body
      .token as string;
    // Two things the user does, both audited under their id.
    assert.equal(
      (await stack.api('PATCH', '/api/v1/tenant', { token: session, body: { name: 'renamed by them' } })).status,
      200,
    );
    assert.equal(
      (await stack.api('POST', '/api/v1/sites', { token: session, body: { name: 'their-site' } })).status,
      201,
    );
    assert.equal((await stack.api('GET', '/api/v1/sites', { token: session })).status, 200);

    // An admin may not erase an owner; the last owner may not erase themself (the tenant would be left unmanaged).
    assert.equal(
      (await stack.api('POST', `/api/v1/users/${owner.tenantId}/erase`, { token: owner.token })).status,
      404,
    );
    const ownerId = (await stack.api('GET', '/api/v1/me', { token: owner.token })).body.id as string;
    assert.equal((await stack.api('POST', `/api/v1/users/${ownerId}/erase`, { token: session })).status, 403);
    const last = await stack.api('POST', '/api/v1/me/erase', { token: owner.token });
    assert.equal(last.status, 409);
    assert.match(last.body.error.message, /last owner.*erase the whole tenant/);

    const erased = await stack.api('POST', `/api/v1/users/${userId}/erase`, { token: owner.token });
    assert.equal(erased.status, 200);
    const pseudonym = erased.body.pseudonym as string;
    assert.match(pseudonym, /^erased-user-[0-9a-f]{16}$/);
    // Refused at once, not after a cache's time.
    assert.equal((await stack.api('GET', '/api/v1/sites', { token: session })).status, 401);
    assert.equal((await stack.api('POST', '/api/v1/auth/login', { body: { email, password: PASSWORD } })).status, 401);

    const audit = (await stack.api('GET', '/api/v1/audit', { token: owner.token })).body.items as any[];
    const text = JSON.stringify(audit);
    assert.ok(!text.includes(email), 'the audit log keeps the e-mail address');
    assert.ok(!text.includes(userId), 'the audit log keeps the user id');
    const byThem = audit.filter((e) => e.details?.actor === pseudonym).map((e) => e.action);
    assert.deepEqual(byThem.sort(), ['site.create', 'tenant.update'].sort(), text);
    assert.ok(byThem.every(Boolean));
    const aboutThem = audit.filter((e) => e.targetId === pseudonym).map((e) => e.action);
    assert.deepEqual(aboutThem.sort(), ['user.create', 'user.erase']);
    // The same pseudonym for all of them: the trail stays readable.
    assert.equal(new Set(audit.filter((e) => e.details?.actor).map((e) => e.details.actor)).size, 1);

    // A user may erase their own account.
    const viewerEmail = `viewer-${owner.tenantId.slice(0, 8)}@example.test`;
    await stack.api('POST', '/api/v1/users', {
      token: owner.token,
      body: { email: viewerEmail, password: PASSWORD, role: 'viewer' },
    });
    const viewer = (await stack.api('POST', '/api/v1/auth/login', { body: { email: viewerEmail, password: PASSWORD } }))
      .body.token as string;
    assert.equal((await stack.api('POST', '/api/v1/me/erase', { token: viewer })).status, 200);
    assert.equal((await stack.api('GET', '/api/v1/me', { token: viewer })).status, 401);
    const users = (await stack.api('GET', '/api/v1/users', { token: owner.token })).body.items as any[];
    assert.deepEqual(
      users.map((u) => u.email),
      [owner.email],
    );
  });
});
