// File backup bench: a generated tree (BENCH_FILES_BYTES in BENCH_FILES_COUNT files, half text, half random), a full
// backup timed against `tar -c | zstd -1` of the same tree, 1% of the files changed, a differential timed and sized
// against the full, and the peak memory (max RSS) of a process that runs a full backup of BENCH_FILES_COUNTS files each.
//   node ops/bench/files.ts            (defaults: 1 GiB, 50,000 files; memory at 50,000 and 500,000 files)
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { writeArchive } from '../../activities/files/archive-io.ts';
import { emptyReport, treeFrames } from '../../activities/files/tree-backup.ts';
import type { BackupType } from '../../common/model.ts';

const MiB = 1 << 20;
const bytes = Number(process.env.BENCH_FILES_BYTES ?? 1024 * MiB);
const count = Number(process.env.BENCH_FILES_COUNT ?? 50_000);
const memCounts = (process.env.BENCH_FILES_COUNTS ?? '50000,500000').split(',').map(Number);

async function makeTree(root: string, n: number, total: number): Promise<string[]> {
  const files: string[] = [];
  const per = Math.max(1, Math.floor(total / n));
  const text = Buffer.from(
    'a line of a log or a page, with some words that repeat across files\n'.repeat(per / 64 + 1),
  );
  for (let i = 0; i < n; i++) {
    const dir = path.join(root, `d${Math.floor(i / 500)}`);
    if (i % 500 === 0) await mkdir(dir, { recursive: true });
    const f = path.join(dir, `f${i}.dat`);
    await writeFile(f, i % 2 === 0 ? text.subarray(0, per) : randomBytes(per));
    files.push(f);
  }
  return files;
}

async function backup(root: string, work: string, type: BackupType, base?: string) {
  const manifest = path.join(work, `${type}.jsonl`);
  const file = path.join(work, `${type}.bpf.zst`);
  const report = emptyReport(type);
  const started = performance.now();
  const w = await writeArchive(
    treeFrames({ type, roots: [root], include: [], exclude: [], baseManifest: base, manifestPath: manifest }, report),
    file,
    { compression: { algorithm: 'zstd', level: 1 } },
  );
  return { seconds: (performance.now() - started) / 1000, sizeBytes: w.sizeBytes, manifest, report };
}

if (process.argv[2] === 'memory') {
  // The child: one full backup of the tree given, then its peak RSS.
  const [root, work] = process.argv.slice(3);
  await backup(root!, work!, 'full');
  console.log(JSON.stringify({ maxRssMiB: process.resourceUsage().maxRSS / 1024 }));
  process.exit(0);
}

const work = await mkdtemp(path.join(os.tmpdir(), 'bp-bench-files-'));
try {
  const root = path.join(work, 'tree');
  const files = await makeTree(root, count, bytes);
  execFileSync('sync');
  const full = await backup(root, work, 'full');
  const tarStart = performance.now();
  execFileSync('bash', ['-c', `tar -C ${root} -cf - . | zstd -1 -q -o ${work}/tar.zst`]);
  const tarSeconds = (performance.now() - tarStart) / 1000;
  const tarBytes = (await stat(`${work}/tar.zst`)).size;
  for (let i = 0; i < files.length; i += 100)
    await writeFile(files[i]!, randomBytes(Math.max(1, Math.floor(bytes / count))));
  const diff = await backup(root, work, 'differential', full.manifest);
  const memory: Record<string, number> = {};
  for (const n of memCounts) {
    const memRoot = path.join(work, `mem${n}`);
    await makeTree(memRoot, n, n * 64);
    const r = spawnSync(process.execPath, [process.argv[1]!, 'memory', memRoot, await mkdtemp(path.join(work, 'm'))], {
      encoding: 'utf8',
    });
    memory[n] = (JSON.parse(r.stdout.trim().split('\n').pop()!) as { maxRssMiB: number }).maxRssMiB;
    await rm(memRoot, { recursive: true, force: true });
  }
  const out = {
    tree: { files: count, bytes },
    full: { seconds: full.seconds, sizeBytes: full.sizeBytes, files: full.report.files },
    tarZstd1: { seconds: tarSeconds, sizeBytes: tarBytes },
    fullSpeedVsTar: tarSeconds / full.seconds,
    differential: { seconds: diff.seconds, sizeBytes: diff.sizeBytes, files: diff.report.files },
    differentialTimeShare: diff.seconds / full.seconds,
    differentialBytesShare: diff.sizeBytes / full.sizeBytes,
    maxRssMiBByFiles: memory,
  };
  console.log(JSON.stringify(out, null, 2));
} finally {
  await rm(work, { recursive: true, force: true });
}
