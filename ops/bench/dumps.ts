// Cases (1) to (4) and (9): the dump tool alone, the seeds' three passes, pg_dump's own compression, and our `dump`
// activity (plain and encrypted), each run in a process of its own, started as the site worker is (its Node flags),
// so its peak memory is its own and the worker's.
import { createReadStream, createWriteStream, openSync, closeSync } from 'node:fs';
import { mkdir, rm, stat } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { constants as zc, createGzip, createZstdCompress, type Gzip, type ZstdCompress } from 'node:zlib';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawn } from 'node:child_process';
import { backupFileName } from '../../common/names.ts';
import { compressionFilter } from '../../activities/pipeline/compression.ts';
import { DEFAULT_COMPRESSION, type Compression } from '../../common/model.ts';
import { SITE_WORKER_NODE_FLAGS } from '../../workers/runtime.ts';
import type { DumpChildReport, DumpChildRequest } from './dump-child.ts';
import { pgArgs, SERVER, toolEnv, type BenchContext } from './context.ts';
import type { BenchDatabase } from './data.ts';
import { formatBytes, MiB, mustRun, run, timed } from './lib.ts';
import { rounds } from './report.ts';

const DUMP_CHILD = fileURLToPath(new URL('./dump-child.ts', import.meta.url));

export interface KeptDump {
  fileName: string;
  /** Relative to the site's Backups folder, as the activities name it. */
  key: string;
  file: string;
  sizeBytes: number;
  sha256: string;
  rawBytes: number;
}

let fileSeq = 0;

/** One `dump` activity in a fresh process; the file is left in place for the caller to keep or remove. */
export async function dumpInChild(
  ctx: BenchContext,
  database: string,
  encrypt: boolean,
): Promise<DumpChildReport & { fileName: string; file: string }> {
  // Distinct made-up times: a dump refuses a file name that already exists, and no run waits for the clock.
  const fileName = backupFileName(
    database,
    new Date(Date.UTC(2030, 0, 1) + fileSeq++ * 1000),
    'pgdump',
    'zst',
    encrypt,
  );
  const request: DumpChildRequest = {
    siteConfigPath: ctx.siteConfigPath,
    input: { serverName: SERVER, database, fileName, excludeTableData: [], encrypt },
  };
  const r = await mustRun(
    ctx.cleanup,
    process.execPath,
    [...SITE_WORKER_NODE_FLAGS, DUMP_CHILD, JSON.stringify(request)],
    { keepStdout: true, env: { ...process.env, LOG_LEVEL: 'warn' } },
  );
  const report = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as DumpChildReport;
  return { ...report, fileName, file: path.join(ctx.backupsDir, report.path) };
}

/** The uncompressed size of the dump, counted while it passes: the unit every dump throughput is given in. */
async function rawDumpBytes(ctx: BenchContext, database: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn('pg_dump', ['--format=custom', '--compress=0', ...pgArgs(database)], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: toolEnv(),
    });
    ctx.cleanup.track(child);
    let n = 0;
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (n += d.length));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('error', reject);
    child.once('close', (code) => (code === 0 ? resolve(n) : reject(new Error(`pg_dump exited ${code}: ${stderr}`))));
  });
}

export async function runDumpCases(
  ctx: BenchContext,
  source: BenchDatabase,
  opts: { keepDump: boolean },
): Promise<KeptDump | undefined> {
  const db = source.name;
  // Warms the page cache and the server's buffers for every variant alike, and measures the raw dump size.
  const raw = await rawDumpBytes(ctx, db);
  ctx.log(`  raw dump (pg_dump -Fc -Z0): ${formatBytes(raw)}`);
  const seedsDir = path.join(ctx.tmp, 'seeds');
  await mkdir(seedsDir, { recursive: true });
  let kept: KeptDump | undefined;

  const tool = (args: string[]) => mustRun(ctx.cleanup, 'pg_dump', [...args, ...pgArgs(db)], { env: toolEnv() });
  const ours = (encrypt: boolean) => async (round: number) => {
    const r = await dumpInChild(ctx, db, encrypt);
    if (r.rawBytes !== raw) ctx.log(`  note: the activity read ${r.rawBytes} raw bytes, pg_dump alone ${raw}`);
    if (!encrypt) recordRss(ctx, 'big', source, r);
    ctx.results.figure(
      `cpu-${encrypt ? 'dump-enc' : 'dump'}`,
      `(4) CPU of the dump activity's process${encrypt ? ', encrypted' : ''} (all threads)`,
      'CPU s',
      r.cpuSeconds,
    );
    if (!encrypt && opts.keepDump && round === ctx.runs - 1) {
      kept = {
        fileName: r.fileName,
        key: r.path,
        file: r.file,
        sizeBytes: r.sizeBytes,
        sha256: r.sha256,
        rawBytes: r.rawBytes,
      };
    } else {
      await rm(r.file, { force: true });
    }
    return {
      seconds: r.seconds,
      outputBytes: r.sizeBytes,
      workBytes: raw,
      machineCpuSeconds: r.machineCpuSeconds,
      detail: {
        workerCpuSeconds: r.cpuSeconds,
        dumpPeakRssBytes: r.dumpPeakRssBytes,
        processPeakRssBytes: r.processPeakRssBytes,
        rssBeforeBytes: r.rssBeforeBytes,
      },
    };
  };

  await rounds(
    ctx.results,
    ctx.runs,
    [
      {
        id: 'floor',
        label: '(1) floor: pg_dump -Fc -Z0 > /dev/null',
        run: async () => {
          const devnull = openSync('/dev/null', 'w');
          try {
            const t = await timed(() =>
              run(ctx.cleanup, 'pg_dump', ['--format=custom', '--compress=0', ...pgArgs(db)], {
                stdio: ['ignore', devnull, 'pipe'],
                env: toolEnv(),
              }),
            );
            if (t.value.code !== 0) throw new Error(`pg_dump exited ${t.value.code}: ${t.value.stderr}`);
            return { seconds: t.seconds, workBytes: raw };
          } finally {
            closeSync(devnull);
          }
        },
      },
      {
        id: 'seeds',
        label: "(2) seeds' way: pg_dump -Fc; tar -czf; sha256sum",
        run: async () => {
          const dumpFile = path.join(seedsDir, `${db}.dump`);
          const tarFile = `${dumpFile}.tar.gz`;
          try {
            const d = await timed(() => tool(['--format=custom', `--file=${dumpFile}`]));
            const t = await timed(() =>
              mustRun(ctx.cleanup, 'tar', ['-czf', tarFile, '-C', seedsDir, path.basename(dumpFile)]),
            );
            const h = await timed(() => mustRun(ctx.cleanup, 'sha256sum', [tarFile], { keepStdout: true }));
            return {
              seconds: d.seconds + t.seconds + h.seconds,
              outputBytes: (await stat(tarFile)).size,
              workBytes: raw,
              detail: {
                pgDumpSeconds: d.seconds,
                tarGzipSeconds: t.seconds,
                sha256sumSeconds: h.seconds,
                dumpBytes: (await stat(dumpFile)).size,
              },
            };
          } finally {
            await rm(dumpFile, { force: true });
            await rm(tarFile, { force: true });
          }
        },
      },
      {
        id: 'pgdump',
        label: '(3) pg_dump -Fc (its default compression) to a file',
        run: async () => {
          const file = path.join(seedsDir, `${db}.plain.dump`);
          try {
            const d = await timed(() => tool(['--format=custom', `--file=${file}`]));
            return { seconds: d.seconds, outputBytes: (await stat(file)).size, workBytes: raw };
          } finally {
            await rm(file, { force: true });
          }
        },
      },
      {
        id: 'dump',
        label: `(4) our dump activity: zstd -${DEFAULT_COMPRESSION.level}${DEFAULT_COMPRESSION.long ? ' --long' : ''} + SHA-256 + fsync`,
        run: ours(false),
      },
      { id: 'dump-enc', label: '(4) our dump activity, encrypted (AES-256-GCM)', run: ours(true) },
    ],
    ctx.log,
  );
  return kept;
}

/** What the level comparison runs: a command (its arguments; input and output files follow) or a Node stream. */
type Codec = { name: string; cmd: string; args: string[] } | { name: string; node: () => ZstdCompress | Gzip };

/**
 * What each compression setting would cost and save on this very dump: one core, from a file in the page cache. Not a
 * target; it shows where (4)'s time goes and what a different setting would change. It runs the `zstd` command the
 * dump itself runs, Node's zstd (the dump's fallback) and zlib at level 6, which `pg_dump -Fc` uses.
 */
export async function compressionLevels(ctx: BenchContext, source: BenchDatabase): Promise<void> {
  const file = path.join(ctx.tmp, 'levels.pgdump');
  const out = path.join(ctx.tmp, 'levels.out');
  const remove = ctx.cleanup.add('raw dump for the level comparison', async () => {
    await rm(file, { force: true });
    await rm(out, { force: true });
  });
  try {
    await mustRun(
      ctx.cleanup,
      'pg_dump',
      ['--format=custom', '--compress=0', `--file=${file}`, ...pgArgs(source.name)],
      { env: toolEnv() },
    );
    const raw = (await stat(file)).size;
    // The settings exactly as the dump passes them to the command, on one thread each: what they cost per core.
    const zstd = (c: Compression, name: string): Codec[] => {
      const filter = compressionFilter(c);
      return filter
        ? [
            {
              name,
              cmd: filter.cmd,
              args: filter.args.filter(
                (a) => !['--stdout', '--no-progress', '-vv', '--single-thread'].includes(a) && !a.startsWith('-T'),
              ),
            },
          ]
        : [];
    };
    const codecs: Codec[] = [
      ...[1, 2, 3, 6, 9].flatMap((level) => zstd({ algorithm: 'zstd', level }, `zstd -${level}`)),
      ...zstd(DEFAULT_COMPRESSION, `zstd -${DEFAULT_COMPRESSION.level} --long (the default)`),
      ...zstd(
        { ...DEFAULT_COMPRESSION, level: DEFAULT_COMPRESSION.level + 1 },
        `zstd -${DEFAULT_COMPRESSION.level + 1} --long`,
      ),
      { name: 'gzip -6 (zlib)', node: () => createGzip({ level: 6 }) },
      { name: "Node's zstd-1", node: () => createZstdCompress({ params: { [zc.ZSTD_c_compressionLevel]: 1 } }) },
    ];
    for (const codec of codecs) {
      const t = await timed(async () => {
        if ('node' in codec)
          await pipeline(createReadStream(file, { highWaterMark: 1 << 20 }), codec.node(), createWriteStream(out));
        else await mustRun(ctx.cleanup, codec.cmd, [...codec.args, '--single-thread', '-q', '-f', file, '-o', out]);
      });
      const size = (await stat(out)).size;
      await rm(out, { force: true });
      const id = codec.name
        .replace(/[^a-z0-9]+/gi, '-')
        .replace(/-+$/, '')
        .toLowerCase();
      ctx.results.figure(
        `level-${id}-bytes`,
        `${codec.name} of the raw dump: output (ratio ${(raw / size).toFixed(2)})`,
        'bytes',
        size,
      );
      ctx.results.figure(
        `level-${id}-speed`,
        `${codec.name} of the raw dump: one core`,
        'MiB/s',
        raw / MiB / t.seconds,
      );
      ctx.log(
        `  ${codec.name}: ${formatBytes(size)} (${(raw / size).toFixed(2)}×), ${(raw / MiB / t.seconds).toFixed(0)} MiB/s on one core`,
      );
    }
  } finally {
    await remove();
  }
}

/** (9) at a second, smaller size: the dump's memory must not grow with the database. */
export async function runSmallRss(ctx: BenchContext, small: BenchDatabase): Promise<void> {
  await rawDumpBytes(ctx, small.name);
  for (let r = 0; r < ctx.runs; r++) {
    const d = await dumpInChild(ctx, small.name, false);
    await rm(d.file, { force: true });
    recordRss(ctx, 'small', small, d);
    ctx.log(
      `  dump of the ${formatBytes(small.dataBytes)} database [${r + 1}/${ctx.runs}]: peak RSS ${formatBytes(d.dumpPeakRssBytes)} during the dump, ${formatBytes(d.processPeakRssBytes)} for the process (${d.seconds.toFixed(2)} s)`,
    );
  }
}

/** (9): the peak while dumping is the target's figure; the process's peak (start-up included) is shown beside it. */
export function recordRss(ctx: BenchContext, which: 'small' | 'big', db: BenchDatabase, r: DumpChildReport): void {
  const size = formatBytes(db.dataBytes);
  ctx.results.figure(
    `rss-${which}`,
    `(9) dump activity peak RSS while dumping, ${size} database`,
    'bytes',
    r.dumpPeakRssBytes,
  );
  ctx.results.figure(
    `rss-${which}-process`,
    `(9) same process, peak incl. start-up, ${size} database`,
    'bytes',
    r.processPeakRssBytes,
  );
  ctx.results.figure(
    `rss-${which}-before`,
    `(9) same process, RSS when the dump starts, ${size} database`,
    'bytes',
    r.rssBeforeBytes,
  );
}

/** A dump for the restore and upload cases when the dump cases did not run. */
export async function makeDump(ctx: BenchContext, source: BenchDatabase): Promise<KeptDump> {
  const r = await dumpInChild(ctx, source.name, false);
  return {
    fileName: r.fileName,
    key: r.path,
    file: r.file,
    sizeBytes: r.sizeBytes,
    sha256: r.sha256,
    rawBytes: r.rawBytes,
  };
}
