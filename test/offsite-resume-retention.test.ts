// Issue 3: an Azure upload killed midway resumes with only the missing blocks; retention's preview lists exactly what
// the prune then deletes, across a simulated year of daily backups.
import assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BlobServiceClient } from '@azure/storage-blob';
import { backupFileName, offsiteKey } from '../common/names.ts';
import { backupCopies, backups } from '../db/schema.ts';
import { activityPayloads, createBulkyDatabase, createConfig, setUpSite, waitForRuns } from './helpers/fixtures.ts';
import { startAzurite, type Azurite } from '../ops/services/azurite.ts';
import { settleAll, signup, startStack, waitFor, type Stack } from './helpers/stack.ts';

const BLOCK = 256 * 1024;

describe('off-site copies: resumable Azure upload and retention', () => {
  let stack: Stack;
  let azurite: Azurite;

  before(async () => {
    await settleAll([startStack().then((x) => (stack = x)), startAzurite().then((x) => (azurite = x))]);
  });
  after(async () => {
    await Promise.all([stack?.stop(), azurite?.stop()]);
  });

  it('resumes an Azure upload after the site worker is killed midway, re-sending only the missing blocks', async (t) => {
    const source = await createBulkyDatabase(40_000);
    try {
      const { token, tenantId } = await signup(stack);
      const { site, server, worker, siteConfig, destinations } = await setUpSite(stack, token, {
        backupsDir: path.join(stack.tmp, 'site-resume'),
        // A bandwidth limit keeps the upload going long enough to kill it in the middle.
        destinations: {
          cloud: {
            type: 'azure',
            container: 'resume',
            connectionString: azurite.connectionString,
            blockSize: BLOCK,
            concurrency: 2,
            maxBytesPerSecond: 1_500_000,
          },
        },
      });
      const config = await createConfig(stack, token, {
        serverId: server.id,
        databases: [source.name],
        destinations: [{ destinationId: destinations['cloud']!.id, retention: { keepLast: 2 } }],
      });
      assert.equal((await stack.api('POST', `/api/v1/configs/${config.id}/run`, { token })).status, 202);

      // The upload's key is in its (secret-free) activity input; then watch its blocks arrive in Azurite.
      const workflowId = await waitFor(
        async () =>
          (await stack.api('GET', `/api/v1/backups?configId=${config.id}`, { token })).body.items[0]?.workflowId as
            string | undefined,
        60_000,
        'the run',
      );
      const key = await waitFor(
        async () => (await activityPayloads(stack, workflowId, 'upload')).inputs[0]?.key as string | undefined,
        120_000,
        'the upload to start',
      );
      assert.equal(key.split('/').slice(0, 3).join('/'), `${tenantId}/${site.id}/main-pg`);
      const blob = BlobServiceClient.fromConnectionString(azurite.connectionString)
        .getContainerClient('resume')
        .getBlockBlobClient(key);
      const staged = async () =>
        (await blob.getBlockList('uncommitted').catch(() => ({ uncommittedBlocks: [] }))).uncommittedBlocks?.length ??
        0;
      await waitFor(async () => (await staged()) >= 6, 60_000, 'six staged blocks');
      await worker.kill();
      const stagedBeforeRetry = await staged();

      await stack.startSiteWorker(siteConfig);
      const [backup] = (await waitForRuns(stack, token, config.id)) as any[];
      assert.equal(backup.status, 'succeeded', backup.error);
      const totalBlocks = Math.ceil(backup.sizeBytes / BLOCK);
      assert.ok(totalBlocks >= 15, `the backup is ${backup.sizeBytes} bytes: big enough to be cut midway`);
      assert.ok(stagedBeforeRetry < totalBlocks, 'the kill came before the end');

      const upload = await activityPayloads(stack, workflowId, 'upload');
      assert.ok(
        upload.attempts.some((a) => a >= 2),
        'Temporal retried the upload',
      );
      const [report] = upload.results;
      const allowed = (totalBlocks - stagedBeforeRetry + 1) * BLOCK;
      assert.ok(
        report.bytesSent <= allowed,
        `the retry sent ${report.bytesSent} bytes; the missing blocks plus one are ${allowed}`,
      );
      assert.ok(report.resumedFrom > 0, 'the retry started from what was stored');
      t.diagnostic(
        `backup ${backup.sizeBytes} B in ${totalBlocks} blocks; ${stagedBeforeRetry} staged when killed; the retry sent ${report.bytesSent} B (limit ${allowed} B), resumed from ${report.resumedFrom} B`,
      );

      const stored = await blob.downloadToBuffer();
      assert.equal(createHash('sha256').update(stored).digest('hex'), backup.sha256);
      const copies = (await stack.api('GET', `/api/v1/backups/${backup.id}/copies`, { token })).body.items as any[];
      assert.equal(copies.find((c) => c.target === 'cloud').state, 'stored');
    } finally {
      await source.drop();
    }
  });

  it('prunes exactly what the preview listed, across a simulated year of daily backups', async () => {
    const { token, tenantId } = await signup(stack);
    const nas = path.join(stack.tmp, 'nas-year');
    const backupsDir = path.join(stack.tmp, 'site-year');
    const { site, server, destinations } = await setUpSite(stack, token, {
      backupsDir,
      destinations: { nas: { type: 'local', path: nas } },
    });
    const policy = { daily: 7, weekly: 4, monthly: 12, yearly: 2 };
    const config = await createConfig(stack, token, {
      serverId: server.id,
      databases: ['simdb'],
      timezone: 'Europe/Berlin',
      keepLocal: 10,
      destinations: [{ destinationId: destinations['nas']!.id, retention: policy }],
    });

    // 365 nightly backups of 2025, each with a site copy and a copy on the NAS, as earlier runs would have left them.
    const siteFolder = path.join(backupsDir, 'main-pg', 'simdb');
    await mkdir(siteFolder, { recursive: true });
    const rows = [];
    for (let d = 0; d < 365; d++) {
      const at = new Date(Date.UTC(2025, 0, 1, 1, 30) + d * 86_400_000);
      const fileName = backupFileName('simdb', at, 'pgdump', 'zst');
      const key = offsiteKey(tenantId, site.id, 'main-pg', 'simdb', fileName);
      await writeFile(path.join(siteFolder, fileName), fileName);
      await mkdir(path.dirname(path.join(nas, key)), { recursive: true });
      await writeFile(path.join(nas, key), fileName);
      rows.push({ at, fileName, key });
    }
    const db = stack.db.db;
    for (const r of rows) {
      const sha = createHash('sha256').update(r.fileName).digest('hex');
      const [b] = await db
        .insert(backups)
        .values({
          tenantId,
          configId: config.id,
          siteId: site.id,
          serverId: server.id,
          database: 'simdb',
          workflowId: `sim-${r.fileName}`,
          runId: randomUUID(),
          fileName: r.fileName,
          sizeBytes: r.fileName.length,
          sha256: sha,
          startedAt: r.at,
          finishedAt: r.at,
          status: 'succeeded',
          location: `site:main-pg/simdb/${r.fileName}`,
          availableForDownload: true,
        })
        .returning();
      await db.insert(backupCopies).values([
        {
          tenantId,
          backupId: b!.id,
          target: 'site',
          objectKey: `main-pg/simdb/${r.fileName}`,
          sizeBytes: r.fileName.length,
          sha256: sha,
          state: 'stored',
        },
        {
          tenantId,
          backupId: b!.id,
          target: 'nas',
          destinationId: destinations['nas']!.id,
          objectKey: r.key,
          sizeBytes: r.fileName.length,
          sha256: sha,
          state: 'stored',
        },
      ]);
    }

    const preview = async (body: Record<string, unknown>) => {
      const res = await stack.api('POST', `/api/v1/configs/${config.id}/retention-preview`, { token, body });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      return res.body;
    };
    const nasPreview = await preview({ destinationId: destinations['nas']!.id, retention: policy });
    const sitePreview = await preview({ retention: { keepLast: 10 } });
    assert.equal(nasPreview.policy, '7 daily, 4 weekly, 12 monthly, 2 yearly');
    // Dec 25-31 (daily) + Dec 14 and 21 (the two weeks before) + the 11 earlier month ends; the year's is Dec 31.
    assert.equal(nasPreview.keep.length, 20);
    assert.equal(nasPreview.delete.length, 365 - 20);
    assert.equal(sitePreview.delete.length, 355);
    assert.ok(
      nasPreview.keep.every((k: any) => k.reasons.length > 0),
      'each kept backup says why',
    );
    // A bad policy is a 400 naming the field.
    const bad = await stack.api('POST', `/api/v1/configs/${config.id}/retention-preview`, {
      token,
      body: { retention: { daily: -1 } },
    });
    assert.equal(bad.status, 400);
    assert.ok((bad.body.error.issues as any[]).some((i) => i.field.startsWith('retention')));

    const prune = await stack.api('POST', `/api/v1/configs/${config.id}/prune`, { token });
    assert.equal(prune.status, 202);
    const result = await stack.temporal.client.workflow.getHandle(prune.body.workflowId).result();
    assert.deepEqual(result.failed, []);

    // What the preview listed is what is gone, from the history and from the disks; the rest is untouched.
    const nasLeft = new Set(
      (await readdir(path.dirname(path.join(nas, rows[0]!.key)))).filter((n) => !n.startsWith('.')),
    );
    assert.deepEqual([...nasLeft].sort(), nasPreview.keep.map((k: any) => k.fileName).sort());
    const siteLeft = (await readdir(siteFolder)).sort();
    assert.deepEqual(siteLeft, sitePreview.keep.map((k: any) => k.fileName).sort());
    const all = await db.select().from(backupCopies);
    const deletedAtNas = new Set(all.filter((c) => c.target === 'nas' && c.state === 'deleted').map((c) => c.backupId));
    assert.deepEqual([...deletedAtNas].sort(), nasPreview.delete.map((d: any) => d.backupId).sort());

    // Pruning again deletes nothing more: the preview of the saved policy is now empty.
    assert.equal((await preview({ destinationId: destinations['nas']!.id, retention: policy })).delete.length, 0);
    const kept = (await stack.api('GET', `/api/v1/backups?configId=${config.id}&limit=500`, { token })).body
      .items as any[];
    // The NAS's 20 and the site's last 10 overlap in Dec 25-31: 23 backups keep a copy somewhere.
    assert.equal(
      kept.filter((b) => b.availableForDownload).length,
      23,
      'a backup stays downloadable while one copy is left',
    );
  });

  it('never lets a failed or damaged copy take the place of the last good one', async () => {
    const { token, tenantId } = await signup(stack);
    const nas = path.join(stack.tmp, 'nas-failing');
    const { site, server, destinations } = await setUpSite(stack, token, {
      backupsDir: path.join(stack.tmp, 'site-failing'),
      destinations: { nas: { type: 'local', path: nas } },
    });
    const nasId = destinations['nas']!.id;
    const config = await createConfig(stack, token, {
      serverId: server.id,
      databases: ['simdb'],
      keepLocal: 10,
      destinations: [{ destinationId: nasId, retention: { keepLast: 2 } }],
    });
    // Four nightly runs: the oldest two reached the NAS; the newest two did not (one failed, one was found damaged).
    const db = stack.db.db;
    const states = ['stored', 'stored', 'missing', 'corrupt'] as const;
    const names: string[] = [];
    for (const [d, state] of states.entries()) {
      const at = new Date(Date.UTC(2025, 5, 1 + d, 1, 30));
      const fileName = backupFileName('simdb', at, 'pgdump', 'zst');
      names.push(fileName);
      const [b] = await db
        .insert(backups)
        .values({
          tenantId,
          configId: config.id,
          siteId: site.id,
          serverId: server.id,
          database: 'simdb',
          workflowId: `fail-${fileName}`,
          runId: randomUUID(),
          fileName,
          sizeBytes: 1,
          sha256: 'a'.repeat(64),
          startedAt: at,
          finishedAt: at,
          status: 'succeeded',
          location: `site:main-pg/simdb/${fileName}`,
          availableForDownload: true,
        })
        .returning();
      await db.insert(backupCopies).values({
        tenantId,
        backupId: b!.id,
        target: 'nas',
        destinationId: nasId,
        objectKey: offsiteKey(tenantId, site.id, 'main-pg', 'simdb', fileName),
        sizeBytes: 1,
        sha256: 'a'.repeat(64),
        state,
      });
    }
    const res = await stack.api('POST', `/api/v1/configs/${config.id}/retention-preview`, {
      token,
      body: { destinationId: nasId, retention: { keepLast: 2 } },
    });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    // The two good copies are the two the policy keeps; the two bad ones are the newest, so they stay for a repair.
    assert.deepEqual(res.body.keep.map((k: any) => k.fileName).sort(), [...names].sort());
    assert.deepEqual(res.body.delete, []);
    // A fifth run that reached the NAS: the oldest good copy goes, and so does the failed upload, now past the newest two.
    const at = new Date(Date.UTC(2025, 5, 5, 1, 30));
    const fileName = backupFileName('simdb', at, 'pgdump', 'zst');
    const [b] = await db
      .insert(backups)
      .values({
        tenantId,
        configId: config.id,
        siteId: site.id,
        serverId: server.id,
        database: 'simdb',
        workflowId: `fail-${fileName}`,
        runId: randomUUID(),
        fileName,
        sizeBytes: 1,
        sha256: 'a'.repeat(64),
        startedAt: at,
        finishedAt: at,
        status: 'succeeded',
        location: `site:main-pg/simdb/${fileName}`,
        availableForDownload: true,
      })
      .returning();
    await db.insert(backupCopies).values({
      tenantId,
      backupId: b!.id,
      target: 'nas',
      destinationId: nasId,
      objectKey: offsiteKey(tenantId, site.id, 'main-pg', 'simdb', fileName),
      sizeBytes: 1,
      sha256: 'a'.repeat(64),
      state: 'stored',
    });
    const after = await stack.api('POST', `/api/v1/configs/${config.id}/retention-preview`, {
      token,
      body: { destinationId: nasId, retention: { keepLast: 2 } },
    });
    assert.deepEqual(after.body.delete.map((d: any) => d.fileName).sort(), [names[0], names[2]].sort());
  });
});
