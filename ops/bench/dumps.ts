// Cases (1) to (4) and (9): the dump tool alone, the seeds' three passes, pg_dump's own compression, and our `dump`
// activity (plain and encrypted), each run in a process of its own, started as the site worker is (its Node flags),
// so its peak memory is its own and the worker's.
import { openSync, closeSync } from 'node:fs';
import { mkdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawn } from 'node:child_process';
import { backupFileName } from '../../common/names.ts';
import { DEFAULT_COMPRESSION } from '../../common/model.ts';
import { SITE_WORKER_NODE_FLAGS } from '../../workers/runtime.ts';
import type { DumpChildReport, DumpChildRequest } from './dump-child.ts';
import { pgArgs, SERVER, toolEnv, type BenchContext } from './context.ts';
import type { BenchDatabase } from './data.ts';
import { formatBytes, mustRun, run, timed } from './lib.ts';
import { rounds, type Variant } from './report.ts';

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
  const keep = opts.keepDump ? (d: KeptDump) => (kept = d) : undefined;

  await rounds(
    ctx.results,
    ctx.runs,
    [
      floorVariant(ctx, db, raw),
      seedsVariant(ctx, db, raw, seedsDir),
      pgdumpVariant(ctx, db, raw, seedsDir),
      {
        id: 'dump',
        label: `(4) our dump activity: zstd -${DEFAULT_COMPRESSION.level}${DEFAULT_COMPRESSION.long ? ' --long' : ''} + SHA-256 + fsync`,
        run: ourDump(ctx, source, raw, false, keep),
      },
      { id: 'dump-enc', label: '(4) our dump activity, encrypted (AES-256-GCM)', run: ourDump(ctx, source, raw, true) },
    ],
    ctx.log,
  );
  return kept;
}

/** pg_dump with no compression into /dev/null: no dump of this database can be faster. */
function floorVariant(ctx: BenchContext, db: string, raw: number): Variant {
  return {
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
  };
}

const pgDumpTo = (ctx: BenchContext, db: string, args: string[]) =>
  mustRun(ctx.cleanup, 'pg_dump', [...args, ...pgArgs(db)], { env: toolEnv() });

/** The seeds' way: dump, then tar with gzip, then hash, one after the other. */
function seedsVariant(ctx: BenchContext, db: string, raw: number, seedsDir: string): Variant {
  return {
    id: 'seeds',
    label: "(2) seeds' way: pg_dump -Fc; tar -czf; sha256sum",
    run: async () => {
      const dumpFile = path.join(seedsDir, `${db}.dump`);
      const tarFile = `${dumpFile}.tar.gz`;
      try {
        const d = await timed(() => pgDumpTo(ctx, db, ['--format=custom', `--file=${dumpFile}`]));
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
  };
}

function pgdumpVariant(ctx: BenchContext, db: string, raw: number, seedsDir: string): Variant {
  return {
    id: 'pgdump',
    label: '(3) pg_dump -Fc (its default compression) to a file',
    run: async () => {
      const file = path.join(seedsDir, `${db}.plain.dump`);
      try {
        const d = await timed(() => pgDumpTo(ctx, db, ['--format=custom', `--file=${file}`]));
        return { seconds: d.seconds, outputBytes: (await stat(file)).size, workBytes: raw };
      } finally {
        await rm(file, { force: true });
      }
    },
  };
}

/** (4): our activity in a process of its own; `keep` takes the last plain run's file for the restore cases. */
function ourDump(
  ctx: BenchContext,
  source: BenchDatabase,
  raw: number,
  encrypt: boolean,
  keep?: (d: KeptDump) => void,
): Variant['run'] {
  return async (round: number) => {
    const r = await dumpInChild(ctx, source.name, encrypt);
    if (r.rawBytes !== raw) ctx.log(`  note: the activity read ${r.rawBytes} raw bytes, pg_dump alone ${raw}`);
    if (!encrypt) recordRss(ctx, 'big', source, r);
    ctx.results.figure(
      `cpu-${encrypt ? 'dump-enc' : 'dump'}`,
      `(4) CPU of the dump activity's process${encrypt ? ', encrypted' : ''} (all threads)`,
      'CPU s',
      r.cpuSeconds,
    );
    if (keep && round === ctx.runs - 1) keep(keptDump(r));
    else await rm(r.file, { force: true });
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
}

const keptDump = (r: DumpChildReport & { fileName: string; file: string }): KeptDump => ({
  fileName: r.fileName,
  key: r.path,
  file: r.file,
  sizeBytes: r.sizeBytes,
  sha256: r.sha256,
  rawBytes: r.rawBytes,
});

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
  return keptDump(await dumpInChild(ctx, source.name, false));
}
