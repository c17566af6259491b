// Issue 3: off-site copies on the real parts — Azurite, an OpenSSH server, a folder — through the whole platform.
// Each backup goes to several destinations, each copy verified and recorded; a destination that is down costs only
// its own copy; sync finds a corrupt copy and repairs it, or alerts when nothing good is left; downloads stream the
// best copy with its SHA-256.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BlobServiceClient } from '@azure/storage-blob';
import { createConfig, createShopDatabase, runNowAndWait, setUpSite, startWebhook } from './helpers/fixtures.ts';
import { startAzurite, type Azurite } from '../ops/services/azurite.ts';
import { startSshd, type Sshd } from './helpers/sshd.ts';
import { historyText, settleAll, signup, startStack, waitFor, type Stack } from './helpers/stack.ts';

describe('off-site copies (Azurite, OpenSSH, a folder)', () => {
  let stack: Stack;
  let azurite: Azurite;
  let sshd: Sshd;
  let source: Awaited<ReturnType<typeof createShopDatabase>>;
  let webhook: Awaited<ReturnType<typeof startWebhook>>;

  before(async () => {
    // Everything starts at once; each is kept as it comes up, so `after` stops what started even if one fails.
    await settleAll([
      startStack().then((x) => (stack = x)),
      startAzurite().then((x) => (azurite = x)),
      startSshd().then((x) => (sshd = x)),
      createShopDatabase({ customers: 300, events: 3000 }).then((x) => (source = x)),
      startWebhook().then((x) => (webhook = x)),
    ]);
  });
  after(async () => {
    await source?.drop();
    await Promise.all([stack?.stop(), azurite?.stop(), sshd?.stop(), webhook?.stop()]);
  });

  const azureSettings = (container: string) => ({
    type: 'azure' as const,
    container,
    connectionString: azurite.connectionString,
  });
  const sftpSettings = (s: Sshd) => ({
    type: 'sftp' as const,
    host: s.host,
    port: s.port,
    user: s.user,
    privateKeyFile: s.privateKeyPath,
    hostKey: s.hostKeyFingerprint,
    path: s.root,
  });
  const blobSha = async (container: string, key: string) => {
    const buf = await BlobServiceClient.fromConnectionString(azurite.connectionString)
      .getContainerClient(container)
      .getBlockBlobClient(key)
      .downloadToBuffer();
    return createHash('sha256').update(buf).digest('hex');
  };
  const copiesOf = async (token: string, backupId: string) => {
    const res = await stack.api('GET', `/api/v1/backups/${backupId}/copies`, { token });
    assert.equal(res.status, 200);
    return Object.fromEntries((res.body.items as any[]).map((c) => [c.target, c]));
  };

  it('sends each backup to every destination, verifies each copy, records it, and downloads the best copy', async () => {
    const { token, tenantId } = await signup(stack);
    const nas = path.join(stack.tmp, 'nas-a');
    const { site, server, siteConfig, destinations } = await setUpSite(stack, token, {
      backupsDir: path.join(stack.tmp, 'site-a'),
      destinations: {
        cloud: azureSettings('copies-a'),
        'dr-host': sftpSettings(sshd),
        nas: { type: 'local', path: nas },
      },
    });
    const config = await createConfig(stack, token, {
      serverId: server.id,
      databases: [source.name],
      destinations: [
        { destinationId: destinations['cloud']!.id, retention: { daily: 30, monthly: 12 } },
        { destinationId: destinations['dr-host']!.id, retention: { keepLast: 3 } },
        { destinationId: destinations['nas']!.id, retention: { keepLast: 5 } },
      ],
    });
    assert.equal(config.destinations.length, 3);
    const [backup] = (await runNowAndWait(stack, token, config.id)) as any[];
    assert.equal(backup.status, 'succeeded', backup.error);
    assert.equal(backup.availableForDownload, true);

    const copies = await copiesOf(token, backup.id);
    assert.deepEqual(Object.keys(copies).sort(), ['cloud', 'dr-host', 'nas', 'site']);
    const key = `${tenantId}/${site.id}/main-pg/${source.name}/${backup.fileName}`;
    for (const c of Object.values(copies) as any[]) {
      assert.equal(c.state, 'stored', `${c.target}: ${c.error}`);
      assert.equal(c.sha256, backup.sha256);
      assert.equal(c.sizeBytes, backup.sizeBytes);
      assert.deepEqual(
        c.events.map((e: any) => e.event),
        ['stored'],
      );
      for (const secret of [azurite.accountKey, 'AccountKey'])
        assert.ok(!String(c.location).includes(secret), `${c.target} location holds a secret`);
    }
    assert.match(copies['cloud'].location, /copies-a/);
    assert.match(copies['dr-host'].location, new RegExp(`^sftp://.*:${sshd.port}/`));

    // Each copy is really there, byte for byte.
    assert.equal(await blobSha('copies-a', key), backup.sha256);
    const sftpFile = path.join(sshd.root, key);
    assert.equal(
      createHash('sha256')
        .update(await readFile(sftpFile))
        .digest('hex'),
      backup.sha256,
    );
    assert.equal((await stat(path.join(nas, key))).size, backup.sizeBytes);

    // Secrets of the destinations stay at the site: not in Temporal's history of the run, not in a log line.
    const history = await historyText(stack, backup.workflowId);
    assert.ok(!history.includes(azurite.accountKey), 'the Azure key is in the Temporal history');
    assert.ok(!history.includes(sshd.privateKeyPath), 'the SSH key path is in the Temporal history');
    for (const line of stack.logs.raw)
      assert.ok(!line.includes(azurite.accountKey), `a log line holds the Azure key: ${line}`);
    assert.ok(!JSON.stringify(siteConfig).includes('undefined'));

    // Download: the site copy, streamed through the API, with its SHA-256; a viewer may, another tenant may not.
    const res = await fetch(`${stack.baseUrl}/api/v1/backups/${backup.id}/download`, {
      headers: { authorization: `Bearer ${token}` },
    });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('x-backup-sha256'), backup.sha256);
    assert.equal(res.headers.get('x-backup-copy'), 'site');
    assert.match(res.headers.get('content-disposition') ?? '', new RegExp(backup.fileName));
    const body = Buffer.from(await res.arrayBuffer());
    assert.equal(body.length, backup.sizeBytes);
    assert.equal(createHash('sha256').update(body).digest('hex'), backup.sha256);
    const other = await signup(stack);
    assert.equal((await stack.api('GET', `/api/v1/backups/${backup.id}/download`, { token: other.token })).status, 404);
    assert.equal((await stack.api('GET', `/api/v1/backups/${backup.id}/copies`, { token: other.token })).status, 404);

    // With the site copy gone (the history does not know yet), the download comes from the next good copy.
    await rm(path.join(siteConfig.backupsDir, 'main-pg', source.name, backup.fileName));
    const fallback = await fetch(`${stack.baseUrl}/api/v1/backups/${backup.id}/download`, {
      headers: { authorization: `Bearer ${token}` },
    });
    assert.equal(fallback.status, 200);
    assert.notEqual(fallback.headers.get('x-backup-copy'), 'site');
    assert.equal(
      createHash('sha256')
        .update(Buffer.from(await fallback.arrayBuffer()))
        .digest('hex'),
      backup.sha256,
    );
    const sync = await stack.api('POST', '/api/v1/sync', { token });
    assert.equal(sync.status, 202);
    await stack.temporal.client.workflow.getHandle(sync.body.workflowId).result();
    // …and sync has put the site copy back from an off-site one.
    const after = await copiesOf(token, backup.id);
    assert.deepEqual(
      after['site'].events.map((e: any) => e.event),
      ['stored', 'missing', 'repaired'],
    );
    assert.equal(after['site'].state, 'stored');
  });

  it('keeps the other copies when a destination is down, marks the run partial and alerts', async () => {
    const { token } = await signup(stack);
    await stack.api('PATCH', '/api/v1/tenant', { token, body: { webhookUrl: webhook.url } });
    const downHost = await startSshd();
    await downHost.stop(); // its port now refuses connections, as a dead host's would
    const { server, destinations } = await setUpSite(stack, token, {
      backupsDir: path.join(stack.tmp, 'site-b'),
      destinations: {
        cloud: azureSettings('copies-b'),
        'dead-host': { ...sftpSettings(downHost), privateKeyFile: sshd.privateKeyPath },
      },
    });
    const config = await createConfig(stack, token, {
      serverId: server.id,
      databases: [source.name],
      destinations: [
        { destinationId: destinations['dead-host']!.id, retention: { keepLast: 3 } },
        { destinationId: destinations['cloud']!.id, retention: { keepLast: 3 } },
      ],
    });
    const [backup] = (await runNowAndWait(stack, token, config.id)) as any[];
    assert.equal(backup.status, 'partial');
    assert.match(backup.error, /copy to dead-host failed/);
    assert.equal(backup.availableForDownload, true);
    const copies = await copiesOf(token, backup.id);
    assert.equal(copies['site'].state, 'stored');
    assert.equal(copies['cloud'].state, 'stored', 'the destination after the dead one still got its copy');
    assert.equal(copies['dead-host'].state, 'missing');
    assert.match(copies['dead-host'].error, /refused|ECONNREFUSED|unreachable|connect/i);

    const alert = await waitFor(
      () => webhook.received.find((a) => a.type === 'backup.partial' && a.configId === config.id),
      30_000,
      'the partial alert',
    );
    assert.match(alert.message, /1 of 2 off-site copies failed: dead-host/);
    const { status } = await stack.temporal.client.workflow.getHandle(backup.workflowId).describe();
    assert.equal(status.name, 'FAILED', 'operators see the run in red in the Web UI');
  });

  it('sync marks a corrupt copy, repairs it from a good one, and alerts when no good copy is left', async () => {
    const { token, tenantId } = await signup(stack);
    await stack.api('PATCH', '/api/v1/tenant', { token, body: { webhookUrl: webhook.url } });
    const nas = path.join(stack.tmp, 'nas-c');
    const { site, server, siteConfig, destinations } = await setUpSite(stack, token, {
      backupsDir: path.join(stack.tmp, 'site-c'),
      destinations: { cloud: azureSettings('copies-c'), nas: { type: 'local', path: nas } },
    });
    const config = await createConfig(stack, token, {
      serverId: server.id,
      databases: [source.name],
      destinations: [
        { destinationId: destinations['cloud']!.id, retention: { keepLast: 3 } },
        { destinationId: destinations['nas']!.id, retention: { keepLast: 3 } },
      ],
    });
    const [backup] = (await runNowAndWait(stack, token, config.id)) as any[];
    assert.equal(backup.status, 'succeeded', backup.error);
    const key = `${tenantId}/${site.id}/main-pg/${source.name}/${backup.fileName}`;

    // One flipped byte, same size: only reading the whole object finds it.
    const blob = BlobServiceClient.fromConnectionString(azurite.connectionString)
      .getContainerClient('copies-c')
      .getBlockBlobClient(key);
    const bytes = await blob.downloadToBuffer();
    bytes[Math.floor(bytes.length / 2)]! ^= 0xff;
    await blob.uploadData(bytes);
    assert.notEqual(await blobSha('copies-c', key), backup.sha256);

    const sync = await stack.api('POST', '/api/v1/sync', { token });
    const result = await stack.temporal.client.workflow.getHandle(sync.body.workflowId).result();
    assert.equal(result.repaired, 1);
    assert.deepEqual(result.lost, []);
    let copies = await copiesOf(token, backup.id);
    assert.deepEqual(
      copies['cloud'].events.map((e: any) => e.event),
      ['stored', 'corrupt', 'repaired'],
    );
    assert.match(copies['cloud'].events[1].detail, /SHA-256 [0-9a-f]{64}, expected/);
    assert.match(copies['cloud'].events[2].detail, /copied again from site/);
    assert.equal(copies['cloud'].state, 'stored');
    assert.equal(await blobSha('copies-c', key), backup.sha256, 'the blob is whole again');
    assert.deepEqual(
      copies['nas'].events.map((e: any) => e.event),
      ['stored'],
      'a good copy gains no event',
    );

    // Now every copy is bad: the site's is gone, the other two are damaged. Nothing to repair from: one alert.
    await rm(path.join(siteConfig.backupsDir, 'main-pg', source.name, backup.fileName));
    await writeFile(path.join(nas, key), 'not a backup');
    await blob.uploadData(Buffer.from('not a backup either'));
    const alertsBefore = webhook.received.length;
    const sync2 = await stack.api('POST', '/api/v1/sync', { token });
    const result2 = await stack.temporal.client.workflow.getHandle(sync2.body.workflowId).result();
    assert.equal(result2.repaired, 0);
    assert.equal(result2.lost.length, 1);
    const lost = await waitFor(
      () => webhook.received.slice(alertsBefore).find((a) => a.type === 'copy.lost' && a.tenantId === tenantId),
      30_000,
      'the copy-lost alert',
    );
    assert.match(lost.message, new RegExp(backup.fileName));
    assert.equal(
      webhook.received.slice(alertsBefore).filter((a) => a.type === 'copy.lost' && a.tenantId === tenantId).length,
      1,
    );
    copies = await copiesOf(token, backup.id);
    assert.equal(copies['site'].state, 'missing');
    assert.equal(copies['nas'].state, 'corrupt');
    assert.equal(copies['cloud'].state, 'corrupt');
    const b = (await stack.api('GET', `/api/v1/backups/${backup.id}`, { token })).body;
    assert.equal(b.availableForDownload, false, 'nothing good is left to download');
    assert.equal((await stack.api('GET', `/api/v1/backups/${backup.id}/download`, { token })).status, 409);
  });
});
