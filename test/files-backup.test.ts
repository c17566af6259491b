// File backups against real folders: a full backup, changes of every kind, a differential, more changes, an
// incremental; each point restored into a new folder and compared with the source as it was then (content, modes,
// owners, links, deletions); one path restored alone; a file written to while it is read is reported; a damaged or
// forged archive is refused.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import {
  appendFile,
  chmod,
  chown,
  mkdir,
  mkdtemp,
  readFile,
  rename,
  rm,
  symlink,
  utimes,
  writeFile,
  stat,
  readdir,
} from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { BackupType, Compression } from '../common/model.ts';
import { FRAME, jsonFrame } from '../activities/files/archive.ts';
import { writeArchive } from '../activities/files/archive-io.ts';
import { restoreTree } from '../activities/files/tree-restore.ts';
import { emptyReport, treeFrames, type TreeBackupReport } from '../activities/files/tree-backup.ts';
import { assertSameTree, snapshot, type Snap } from './helpers/file-tree.ts';

const EXCLUDE = ['*.tmp', 'cache'];
const skipExcluded = (rel: string) => rel.endsWith('.tmp') || rel.split('/').includes('cache');

interface Taken {
  file: string;
  manifest: string;
  type: BackupType;
  compression: Compression['algorithm'];
  encrypted: boolean;
  report: TreeBackupReport;
  sizeBytes: number;
}

describe('file backups', () => {
  let work: string;
  let src: string;
  let seq = 0;
  const masterKey = randomBytes(32);

  before(async () => {
    work = await mkdtemp(path.join(os.tmpdir(), 'bp-files-'));
    src = path.join(work, 'src');
  });
  after(async () => {
    await rm(work, { recursive: true, force: true });
  });

  async function backup(
    type: BackupType,
    base?: Taken,
    opts: { root?: string; compression?: Compression; encrypt?: boolean } = {},
  ): Promise<Taken> {
    const n = ++seq;
    const compression = opts.compression ?? { algorithm: 'zstd', level: 1 };
    const manifest = path.join(work, `m${n}.jsonl`);
    const file = path.join(work, `a${n}.bpf`);
    const report = emptyReport(type);
    const frames = treeFrames(
      {
        type,
        roots: [opts.root ?? src],
        include: [],
        exclude: EXCLUDE,
        baseManifest: base?.manifest,
        manifestPath: manifest,
      },
      report,
    );
    const written = await writeArchive(frames, file, { compression, ...(opts.encrypt && { masterKey }) });
    return {
      file,
      manifest,
      type,
      compression: compression.algorithm,
      encrypted: !!opts.encrypt,
      report,
      sizeBytes: written.sizeBytes,
    };
  }

  async function restore(chain: Taken[], only?: string): Promise<string> {
    const target = path.join(work, `restore${++seq}`);
    await restoreTree({
      chain: chain.map((c) => ({ file: c.file, compression: c.compression, encrypted: c.encrypted, type: c.type })),
      target,
      masterKey,
      workFile: path.join(work, `restore${seq}.manifest`),
      verify: true,
      ...(only && { only }),
    });
    return target;
  }

  const restoredRoot = (target: string, root = src) => path.join(target, root.slice(1));
  const at = (rel: string) => path.join(src, rel);
  const past = (secondsAgo: number) => new Date(Date.now() - secondsAgo * 1000);

  async function makeSource(): Promise<void> {
    await mkdir(at('docs'), { recursive: true });
    await mkdir(at('gone/inner'), { recursive: true });
    await mkdir(at('swap/child'), { recursive: true });
    await mkdir(at('bin'));
    await mkdir(at('empty'));
    await mkdir(at('cache'));
    await writeFile(at('docs/a.txt'), 'alpha version one\n');
    await writeFile(at('docs/same.txt'), 'unchanged content\n');
    await writeFile(at('docs/old.txt'), 'to be deleted\n');
    await writeFile(at('docs/b.txt'), 'to be renamed\n');
    await writeFile(at('docs/owned.txt'), 'owner changes\n');
    await writeFile(at('docs/notes.tmp'), 'excluded\n');
    await writeFile(at('cache/blob'), 'excluded folder\n');
    await writeFile(at('gone/inner/x'), 'in a folder that goes\n');
    await writeFile(at('swap/child/y'), 'in a folder that becomes a file\n');
    await writeFile(at('bin/run.sh'), '#!/bin/sh\necho hi\n', { mode: 0o755 });
    await writeFile(at('secret.key'), 'private\n', { mode: 0o600 });
    await writeFile(at('big.bin'), randomBytes(3 << 20));
    await symlink('docs/a.txt', at('link-to-a'));
    await symlink('/nowhere/at/all', at('dangling'));
    await chown(at('docs/owned.txt'), 1000, 1000);
    for (const rel of ['docs/a.txt', 'docs/same.txt', 'big.bin']) await utimes(at(rel), past(3600), past(3600));
  }

  const points: { chain: Taken[]; snap: Map<string, Snap> }[] = [];

  it('full → changes → differential → changes → incremental, each point restored as it was', async () => {
    await makeSource();
    const full = await backup('full', undefined, { encrypt: true });
    points.push({ chain: [full], snap: await snapshot(src, skipExcluded) });
    assert.equal(full.report.files, 10, 'every file is content in a full backup');
    assert.deepEqual(full.report.changedWhileRead, []);

    await writeFile(at('docs/a.txt'), 'alpha version TWO\n'); // same size, other content
    await writeFile(at('docs/same.txt'), 'unchanged content\n'); // rewritten as it was: only the mtime moves
    await writeFile(at('docs/new.txt'), 'added\n');
    await mkdir(at('deep/new/dir'), { recursive: true });
    await writeFile(at('deep/new/dir/file'), 'deep\n');
    await rm(at('docs/old.txt'));
    await rm(at('gone'), { recursive: true });
    await rename(at('docs/b.txt'), at('docs/b-renamed.txt'));
    await chmod(at('bin/run.sh'), 0o700);
    await chown(at('docs/owned.txt'), 1234, 1234);
    await rm(at('link-to-a'));
    await symlink('docs/new.txt', at('link-to-a'));
    await rm(at('swap'), { recursive: true });
    await writeFile(at('swap'), 'a file where a folder was\n');
    const diff = await backup('differential', full);
    points.push({ chain: [full, diff], snap: await snapshot(src, skipExcluded) });
    // a.txt, new.txt, deep/new/dir/file, b-renamed.txt and swap carry content; same.txt only its new mtime.
    assert.equal(diff.report.files, 5);
    assert.equal(diff.report.deleted, 3, 'old.txt, gone/ and b.txt (swap/ goes with its replacement)');
    assert.ok(diff.sizeBytes < full.sizeBytes / 10, `differential ${diff.sizeBytes} B vs full ${full.sizeBytes} B`);

    await appendFile(at('docs/new.txt'), 'grown\n');
    await rm(at('docs/a.txt'));
    await writeFile(at('docs/c.txt'), 'another\n');
    await rm(at('link-to-a'));
    await writeFile(at('link-to-a'), 'a file where a link was\n');
    await rm(at('swap'));
    await symlink('bin', at('swap'));
    await chmod(at('docs'), 0o750);
    await mkdir(at('empty2'));
    const incr = await backup('incremental', diff, { compression: { algorithm: 'gzip', level: 6 } });
    points.push({ chain: [full, diff, incr], snap: await snapshot(src, skipExcluded) });
    assert.equal(incr.report.files, 3, 'new.txt, c.txt, link-to-a');
    assert.equal(incr.report.deleted, 1, 'a.txt');

    // A second differential at the same point carries everything since the full: restored with the full alone.
    const diff2 = await backup('differential', full);
    assert.equal(diff2.report.files, 5, 'new.txt, deep file, b-renamed.txt, c.txt, link-to-a');
    points.push({ chain: [full, diff2], snap: points[2]!.snap });

    for (const [i, p] of points.entries()) {
      const target = await restore(p.chain);
      assertSameTree(
        await snapshot(restoredRoot(target)),
        p.snap,
        `point ${i} (${p.chain.map((c) => c.type).join(' + ')})`,
      );
    }
  });

  it('restores one folder of a point alone', async () => {
    const p = points[2]!;
    const target = await restore(p.chain, path.join(src, 'docs').slice(1));
    const expected = new Map([...p.snap].filter(([k]) => k.startsWith('docs/')).map(([k, v]) => [k.slice(5), v]));
    assertSameTree(await snapshot(path.join(restoredRoot(target), 'docs')), expected, 'docs/ alone');
    assert.deepEqual(await readdir(restoredRoot(target)), ['docs'], 'nothing else is restored');
    await assert.rejects(restore(p.chain, path.join(src, 'docs/a.txt').slice(1)), /not in this backup/);
  });

  it('reports a file written to while it is read, and reads it again next time', async () => {
    const root = path.join(work, 'busy');
    await mkdir(root);
    const log = path.join(root, 'app.log');
    await writeFile(log, randomBytes(24 << 20));
    await writeFile(path.join(root, 'quiet.txt'), 'still\n');
    let writing = true;
    const writer = (async () => {
      while (writing) await appendFile(log, 'a line of log\n');
    })();
    const full = await backup('full', undefined, { root });
    writing = false;
    await writer;
    assert.deepEqual(full.report.changedWhileRead, [path.join(root, 'app.log').slice(1)]);
    assert.ok(full.report.warnings.some((w) => /changed while it was read/.test(w.reason)));
    const snap = await snapshot(root);
    const incr = await backup('incremental', full, { root });
    assert.equal(incr.report.files, 1, 'the log is read again');
    assert.deepEqual(incr.report.changedWhileRead, []);
    const target = await restore([full, incr]);
    assertSameTree(await snapshot(restoredRoot(target, root)), snap, 'after the busy file settled');
  });

  it('refuses a cut archive, a path that leaves the target, and writes through a restored link', async () => {
    const [full] = points[0]!.chain;
    const cut = path.join(work, 'cut.bpf');
    await writeFile(cut, (await readFile(full!.file)).subarray(0, (await stat(full!.file)).size - 100));
    await assert.rejects(restore([{ ...full!, file: cut }]), /damaged|cut|tampered|authenticate/i);

    const forge = async (frames: Buffer[]) => {
      const file = path.join(work, `forged${++seq}.bpf`);
      const all = [
        jsonFrame(FRAME.header, { format: 'bp-files', version: 1, type: 'full' }),
        ...frames,
        jsonFrame(FRAME.fin, {}),
      ];
      await writeArchive(
        (async function* () {
          yield* all;
        })(),
        file,
        { compression: { algorithm: 'zstd', level: 1 } },
      );
      return {
        file,
        manifest: '',
        type: 'full' as const,
        compression: 'zstd' as const,
        encrypted: false,
        report: emptyReport('full'),
        sizeBytes: 0,
      };
    };
    const content = (p: string, body: string) => {
      const b = Buffer.from(body);
      const head = Buffer.alloc(5);
      head[0] = FRAME.chunk;
      head.writeUInt32BE(b.length, 1);
      const h = createHash('sha256').update(b).digest('hex');
      return [
        jsonFrame(FRAME.entry, { p, t: 'f', s: b.length, m: 0, mode: 0o644, uid: 0, gid: 0 }),
        head,
        b,
        jsonFrame(FRAME.end, { s: b.length, h }),
      ];
    };
    await assert.rejects(restore([await forge(content('../escape', 'x'))]), /leaves its folder/);
    await assert.rejects(restore([await forge(content('/etc/escape', 'x'))]), /not a relative path/);
    const outside = path.join(work, 'outside');
    await mkdir(outside);
    const viaLink = await forge([
      jsonFrame(FRAME.meta, { p: 'x', t: 'l', s: 0, m: 0, mode: 0o777, uid: 0, gid: 0, l: outside }),
      ...content('x/pwned', 'x'),
    ]);
    const target = await restore([viaLink]);
    assert.deepEqual(await readdir(outside), [], 'nothing written through the link');
    assert.equal(await readFile(path.join(target, 'x/pwned'), 'utf8'), 'x', 'written inside the target instead');
  });

  it('refuses a damaged copy before and an archive of the wrong type in a chain', async () => {
    const [full, diff] = points[1]!.chain;
    await assert.rejects(restore([diff!]), /does not start with a full/);
    await assert.rejects(
      restore([full!, { ...diff!, type: 'incremental' }]),
      /is a differential backup, recorded as incremental/,
    );
    const broken = path.join(work, 'broken.bpf');
    const bytes = await readFile(diff!.file);
    bytes[Math.floor(bytes.length / 2)]! ^= 0xff;
    await writeFile(broken, bytes);
    await assert.rejects(restore([full!, { ...diff!, file: broken }]));
  });
});
