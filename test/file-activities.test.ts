// The file backup and restore activities at a site: published under their names in one step, a retry after a crash
// (the site worker killed mid-differential) giving one good backup and no partial files, a manifest recovered from its
// archive, and restores into a new folder under the site's restores folder, proven before they start.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createLogger } from '../common/logger.ts';
import { createSiteActivities } from '../activities/site/index.ts';
import type { FileBackupResult } from '../activities/site/file-backup.ts';
import { SiteConfig } from '../activities/site-config.ts';
import { assertSameTree, snapshot } from './helpers/file-tree.ts';
import { LogCapture } from './helpers/stack.ts';

describe('file backup activities', () => {
  let dir: string;
  let src: string;
  let cfgPath: string;
  let acts: ReturnType<typeof createSiteActivities>;
  const logs = new LogCapture();
  /** An activity context at the given attempt, keeping the activity's own types. */
  const env = (attempt = 1) => ({
    run: <A extends unknown[], R>(fn: (...args: A) => Promise<R>, ...args: A): Promise<R> =>
      new MockActivityEnvironment({ attempt, heartbeatTimeoutMs: 30_000 }).run(fn, ...args) as Promise<R>,
  });
  const backupsOf = () => path.join(dir, 'backups', 'www', 'files');
  const link = (r: FileBackupResult) => ({
    fileName: r.fileName,
    type: r.type,
    sizeBytes: r.sizeBytes,
    sha256: r.sha256,
  });
  let full: FileBackupResult;

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'bp-file-acts-'));
    src = path.join(dir, 'www');
    await mkdir(path.join(src, 'pages'), { recursive: true });
    for (let i = 0; i < 50; i++)
      await writeFile(path.join(src, 'pages', `p${i}.html`), `<p>page ${i}</p>\n`.repeat(i + 1));
    await writeFile(path.join(src, 'skip.tmp'), 'left out');
    cfgPath = path.join(dir, 'site.json');
    await writeFile(
      cfgPath,
      JSON.stringify({
        apiUrl: 'http://127.0.0.1:9',
        siteKey: 'x'.repeat(40),
        backupsDir: 'backups',
        servers: {},
        fileSources: { www: { paths: [src], exclude: ['*.tmp'] } },
      }),
    );
    acts = createSiteActivities({
      config: await SiteConfig.load(cfgPath),
      identity: { tenantId: 't', siteId: 's' },
      logger: createLogger('test', logs),
    });
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('a full backup is published with its manifest; a retry adopts it', async () => {
    const input = { source: 'www', fileName: 'www_20261207_010000.bpf.zst', type: 'full' as const };
    full = await env().run(acts.fileBackup, input);
    assert.equal(full.report.files, 50);
    assert.equal(full.type, 'full');
    const again = await env(2).run(acts.fileBackup, input);
    assert.equal(again.sha256, full.sha256, 'the retry reports the published file');
    assert.deepEqual(await readdir(backupsOf()), ['.manifests', input.fileName]);
    await assert.rejects(env().run(acts.fileBackup, input), /already exists|exists/);
    await assert.rejects(env().run(acts.fileBackup, { ...input, source: 'nope' }), /not in this site's configuration/);
    await assert.rejects(env().run(acts.fileBackup, { ...input, fileName: '../x.bpf.zst' }), /not a file backup name/);
  });

  it('a site worker killed mid-differential: the retry gives one good backup and no partial files', async () => {
    await writeFile(path.join(src, 'pages', 'p1.html'), 'changed\n');
    await writeFile(path.join(src, 'big.bin'), randomBytes(96 << 20));
    const input = {
      source: 'www',
      fileName: 'www_20261208_010000.bpf.zst',
      type: 'differential' as const,
      baseFileName: full.fileName,
    };
    const child = spawn(process.execPath, ['test/helpers/file-backup-child.ts', cfgPath, JSON.stringify(input)], {
      stdio: 'ignore',
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const partial = path.join(backupsOf(), `.${input.fileName}.1.partial`);
    let killedAt = -1;
    for (let i = 0; i < 6000 && killedAt < 0; i++) {
      const size = (await stat(partial).catch(() => undefined))?.size ?? 0;
      if (size > 0) {
        child.kill('SIGKILL');
        killedAt = size;
      } else await new Promise((r) => setTimeout(r, 5));
    }
    await exited;
    assert.ok(killedAt > 0, 'the worker was killed while it wrote the archive');
    await assert.rejects(stat(path.join(backupsOf(), input.fileName)), 'nothing was published');

    const diff = await env(2).run(acts.fileBackup, input);
    assert.equal(diff.report.files, 2, 'p1.html and big.bin');
    const names = (await readdir(backupsOf())).sort();
    assert.deepEqual(names, ['.manifests', full.fileName, input.fileName].sort(), 'no partial files');
    assert.deepEqual(
      (await readdir(path.join(backupsOf(), '.manifests'))).sort(),
      [`${full.fileName}.jsonl`, `${input.fileName}.jsonl`].sort(),
    );

    const snap = await snapshot(src, (r) => r.endsWith('.tmp'));
    const restored = await env().run(acts.fileRestore, {
      source: 'www',
      chain: [link(full), link(diff)],
      target: 'point-2',
      verify: true,
    });
    assert.equal(restored.files, 51);
    assertSameTree(await snapshot(path.join(restored.folder, src.slice(1))), snap, 'restored after the crash');
    assert.deepEqual((await readdir(path.dirname(restored.folder))).sort(), ['point-2'], 'no partial restore folders');
    await rm(path.join(src, 'big.bin'));
  });

  it('a base manifest lost at the site is taken from its archive', async () => {
    await rm(path.join(backupsOf(), '.manifests', `${full.fileName}.jsonl`));
    await writeFile(path.join(src, 'pages', 'p2.html'), 'changed too\n');
    const input = {
      source: 'www',
      fileName: 'www_20261209_010000.bpf.zst',
      type: 'differential' as const,
      baseFileName: full.fileName,
    };
    const diff = await env().run(acts.fileBackup, input);
    assert.equal(diff.report.files, 2, 'p1.html and p2.html, against the full');
    assert.equal(diff.report.deleted, 0);
    await stat(path.join(backupsOf(), '.manifests', `${full.fileName}.jsonl`));
  });

  it('restores one path into a new folder; refuses bad targets, existing folders and damaged copies', async () => {
    const only = path.join(src, 'pages/p3.html').slice(1);
    const r = await env().run(acts.fileRestore, { source: 'www', chain: [link(full)], target: 'one-file', only });
    assert.equal(r.files, 1);
    assert.equal(await readFile(path.join(r.folder, only), 'utf8'), '<p>page 3</p>\n'.repeat(4));
    await assert.rejects(
      env().run(acts.fileRestore, { source: 'www', chain: [link(full)], target: '../out' }),
      /one folder name/,
    );
    await assert.rejects(
      env().run(acts.fileRestore, { source: 'www', chain: [link(full)], target: 'x', only: '../etc' }),
      /not a path inside/,
    );
    await assert.rejects(
      env().run(acts.fileRestore, { source: 'www', chain: [link(full)], target: 'one-file' }),
      /exists already/,
    );
    await assert.rejects(
      env().run(acts.fileRestore, { source: 'www', chain: [{ ...link(full), sha256: '0'.repeat(64) }], target: 'bad' }),
      /does not match its SHA-256/,
    );
    await assert.rejects(stat(path.join(path.dirname(r.folder), 'bad')), 'the target was not touched');
  });
});
