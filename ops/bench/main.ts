// `npm run bench -- [--size 1GB] [--runs 3] [--only dump,restore,...] [--json path]`
// Every hot path of the platform measured side by side with its baseline, on a generated PostgreSQL database; the
// targets of issue 6 checked PASS/FAIL. Not a test: the machine's speed and its other work decide the numbers.
// Everything it makes (databases, folders, processes) is removed at the end, on failure and on Ctrl-C too.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import postgres from 'postgres';
import { pgUrl } from '../services/pg.ts';
import { siteConfigWriter, type BenchContext } from './context.ts';
import { generateDatabase, type BenchDatabase } from './data.ts';
import {
  compressionLevels,
  dumpInChild,
  makeDump,
  recordRss,
  runDumpCases,
  runSmallRss,
  type KeptDump,
} from './dumps.ts';
import { Cleanup, formatBytes, MiB, parseSize, run } from './lib.ts';
import { runApiCases, runE2eCases, startPlatform, type E2e } from './platform.ts';
import {
  checkTargets,
  CONTENTION_PERCENT,
  describeMachine,
  figureTable,
  machineLines,
  Results,
  seriesTable,
  targetLines,
} from './report.ts';
import { runRestoreCases } from './restore.ts';
import { runUploadCases } from './upload.ts';

const GROUPS = ['dump', 'rss', 'restore', 'upload', 'e2e', 'api'] as const;
type Group = (typeof GROUPS)[number];
/** The issue numbers its cases (1)-(9); either names them for --only. */
const BY_NUMBER: Record<string, Group> = {
  1: 'dump',
  2: 'dump',
  3: 'dump',
  4: 'dump',
  5: 'e2e',
  6: 'restore',
  7: 'upload',
  8: 'api',
  9: 'rss',
};
const TINY = 1 * MiB;
const RSS_SMALL = 256 * MiB;

const USAGE = `usage: npm run bench -- [--size 1GB] [--runs 3] [--only ${GROUPS.join(',')}] [--json .build/bench.json]
  --size   data in the generated database (tables, before indexes): e.g. 64MB, 256MB, 1GB (default 1GB)
  --runs   runs of each case; median, min and max are reported (default 3)
  --only   a subset: ${GROUPS.join(', ')} (or the issue's case numbers 1-9)
  --json   where to write the results as JSON (default .build/bench.json)`;

function parseCli() {
  const { values } = parseArgs({
    options: {
      size: { type: 'string', default: '1GB' },
      runs: { type: 'string', default: '3' },
      only: { type: 'string' },
      json: { type: 'string', default: '.build/bench.json' },
      help: { type: 'boolean', short: 'h' },
    },
    allowPositionals: false,
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const size = parseSize(values.size);
  const runs = Number(values.runs);
  if (!Number.isInteger(runs) || runs < 1)
    throw new Error(`--runs must be a whole number of at least 1, not ${values.runs}`);
  if (size < 4 * MiB) throw new Error('--size must be at least 4MB');
  const only = new Set<Group>();
  for (const name of (values.only ?? GROUPS.join(','))
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean)) {
    const group = (GROUPS as readonly string[]).includes(name) ? (name as Group) : BY_NUMBER[name];
    if (!group) throw new Error(`--only: unknown case '${name}'; use ${GROUPS.join(', ')} or 1-9`);
    only.add(group);
  }
  return { size, runs, only, json: path.resolve(values.json), sizeText: values.size };
}

const tearingDown = { value: false };
/** Set once a signal or a stray error started the cleanup; the main flow's own failures after that are noise. */
let interrupted = false;

async function main(): Promise<number> {
  const wallStart = performance.now();
  const args = parseCli();
  const cleanup = new Cleanup();
  const results = new Results();
  const log = (msg: string) => console.error(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}`);

  const onSignal = (signal: NodeJS.Signals) => {
    if (interrupted) return;
    interrupted = true;
    log(`${signal}: stopping, removing what the bench made`);
    void cleanup.runAll().finally(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  // Stopping the platform closes its database pool under requests a timed-out load left in flight: their errors
  // are expected then. Anywhere else a stray error ends the bench, but not before it removed what it made.
  const onStray = (err: unknown) => {
    if (tearingDown.value) return log(`while stopping: ${err instanceof Error ? err.message : String(err)}`);
    if (interrupted) return;
    interrupted = true;
    log(`failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}; removing what the bench made`);
    void cleanup.runAll().finally(() => process.exit(1));
  };
  process.on('unhandledRejection', onStray);
  process.on('uncaughtException', onStray);

  try {
    const tmp = await mkdtemp(path.join(os.tmpdir(), 'bp-bench-'));
    cleanup.add(`folder ${tmp}`, () => rm(tmp, { recursive: true, force: true }));
    const ctx: BenchContext = {
      cleanup,
      results,
      tmp,
      runs: args.runs,
      size: args.size,
      log,
      ...(await siteConfigWriter(tmp)),
    };
    const machine = await describeMachine(cleanup, serverVersion);
    const commit = await run(cleanup, 'git', ['describe', '--always', '--dirty'], { keepStdout: true }).then(
      (r) => r.stdout.trim() || 'unknown',
      () => 'unknown',
    );
    log(`\n${machineLines(machine)}`);
    log(`size ${formatBytes(args.size)}, ${args.runs} runs, cases: ${[...args.only].join(', ')}`);

    const want = (g: Group) => args.only.has(g);
    let source: BenchDatabase | undefined;
    const databases: Record<string, Omit<BenchDatabase, 'drop'>> = {};
    const generate = async (size: number, what: string) => {
      log(`generating the ${what} database (${formatBytes(size)} of table data; not timed)`);
      const db = await generateDatabase(cleanup, size, log);
      log(
        `  ${db.name}: ${formatBytes(db.dataBytes)} data + ${formatBytes(db.indexBytes)} indexes (${formatBytes(db.databaseBytes)} on disk) in ${db.generateSeconds.toFixed(0)} s`,
      );
      const { drop: _drop, ...info } = db;
      databases[what] = info;
      return db;
    };
    if (want('dump') || want('rss') || want('restore') || want('e2e')) source = await generate(args.size, 'benchmark');

    const failedGroups: string[] = [];
    /** A case group that fails to set up is reported; the other groups still run. */
    const group = async (name: string, fn: () => Promise<void>) => {
      try {
        await fn();
      } catch (err) {
        if (interrupted) throw err;
        const msg = err instanceof Error ? err.message : String(err);
        failedGroups.push(`${name}: ${msg}`);
        log(`${name} FAILED: ${msg}`);
      }
    };

    let kept: KeptDump | undefined;
    if (want('dump')) {
      log('(1)-(4) dumps, side by side');
      await group('dumps', async () => {
        kept = await runDumpCases(ctx, source!, { keepDump: want('restore') });
      });
      log('compression levels on this dump, one core (for reading (4); not a target)');
      await group('compression levels', () => compressionLevels(ctx, source!));
    }
    if (want('rss')) {
      log('(9) peak memory of the dump activity at two sizes');
      await group('memory', async () => {
        if (!want('dump')) {
          for (let r = 0; r < args.runs; r++) {
            const d = await dumpInChild(ctx, source!.name, false);
            await rm(d.file, { force: true });
            recordRss(ctx, 'big', source!, d);
          }
        }
        const small = await generate(
          args.size > RSS_SMALL ? RSS_SMALL : Math.max(16 * MiB, Math.round(args.size / 4)),
          'small (memory)',
        );
        await runSmallRss(ctx, small);
        await small.drop();
      });
    }
    if (want('restore')) {
      log('(6) restore, side by side');
      await group('restore', async () => {
        const dump = kept ?? (await makeDump(ctx, source!));
        await runRestoreCases(ctx, dump, source!.url);
        await rm(dump.file, { force: true });
      });
    }
    if (want('upload')) {
      log(`(7) upload of a ${formatBytes(args.size)} backup file to Azurite`);
      await group('upload', () => runUploadCases(ctx));
    }
    if (want('e2e') || want('api')) {
      log('starting the platform (Temporal dev server, central worker, API, metadata database)');
      await group('platform', async () => {
        const platform = await startPlatform(ctx);
        try {
          let e2e: E2e | undefined;
          const tiny = want('e2e') ? await generate(TINY, 'tiny') : undefined;
          if (tiny) {
            log('(5) whole runs through the API');
            await group('e2e', async () => {
              e2e = await runE2eCases(ctx, platform.stack, source!, tiny);
            });
          }
          if (want('api')) {
            log('(8) API under load');
            await group('api', () => runApiCases(ctx, platform.stack));
          }
          if (e2e && want('api')) {
            log('(5) the tiny run again, now that the metadata database holds 1M more history rows');
            await group('e2e with a big history', () =>
              e2e!.tinyAgain('e2e-tiny-1m', `(5) tiny run-now again, 1M history rows in the metadata DB`),
            );
          }
          await e2e?.stop();
          await tiny?.drop();
        } finally {
          tearingDown.value = true;
          await platform.stop();
          tearingDown.value = false;
        }
      });
    }
    await source?.drop();

    const checks = checkTargets(results);
    const wallSeconds = (performance.now() - wallStart) / 1000;
    const contended = [...results.series.values()]
      .filter((s) => s.samples.some((x) => (x.backgroundCpu ?? 0) >= CONTENTION_PERCENT))
      .map((s) => s.id);
    console.log(`\n${machineLines(machine)}`);
    console.log(
      `command     npm run bench -- ${process.argv.slice(2).join(' ') || '(defaults)'}   (size ${formatBytes(args.size)}, ${args.runs} runs; code at ${commit})`,
    );
    for (const [what, db] of Object.entries(databases)) {
      console.log(
        `database    ${what}: ${formatBytes(db.dataBytes)} data + ${formatBytes(db.indexBytes)} indexes, ${db.tables.map((t) => `${t.table} ${t.rows.toLocaleString('en')}`).join(', ')}`,
      );
    }
    console.log(`\n${seriesTable(results)}`);
    console.log(
      'MiB/s: the uncompressed dump (dumps, restores) or the file (uploads) per median second. CPU s: core-seconds the whole',
    );
    console.log(
      "machine was busy during a run (median; anyone's work). busy%: the most the machine was busy with other work just before a run.",
    );
    if (results.figures.size) console.log(`\n${figureTable(results)}`);
    console.log(`\n${targetLines(checks)}`);
    if (contended.length)
      console.log(
        `\nnote: other work kept the machine ≥ ${CONTENTION_PERCENT}% busy before some runs of: ${contended.join(', ')} (column busy%); re-run those with --only`,
      );
    for (const s of results.series.values()) if (s.error) console.log(`error in ${s.label}: ${s.error}`);
    for (const g of failedGroups) console.log(`error in ${g}`);
    console.log(`\nwall time ${(wallSeconds / 60).toFixed(1)} min`);

    await mkdir(path.dirname(args.json), { recursive: true });
    await writeFile(
      args.json,
      `${JSON.stringify({ command: `npm run bench -- ${process.argv.slice(2).join(' ')}`.trim(), size: args.size, runs: args.runs, cases: [...args.only], commit, machine, databases, series: [...results.series.values()], figures: [...results.figures.values()], targets: checks, errors: failedGroups, wallSeconds, finishedAt: new Date().toISOString() }, null, 2)}\n`,
    );
    console.log(`results written to ${path.relative(process.cwd(), args.json) || args.json}`);
    return failedGroups.length || [...results.series.values()].some((s) => s.error) ? 1 : 0;
  } finally {
    if (!interrupted) await cleanup.runAll();
  }
}

async function serverVersion(): Promise<string> {
  const sql = postgres(pgUrl('postgres'), { max: 1, onnotice: () => {} });
  try {
    const [r] = await sql<{ v: string }[]>`select version() as v`;
    return r!.v;
  } finally {
    await sql.end({ timeout: 2 });
  }
}

try {
  process.exitCode = await main();
} catch (err) {
  if (!interrupted) {
    console.error(`[bench] failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    process.exitCode = 1;
  }
}
// The platform's clients (Temporal, postgres.js) may keep handles a moment longer than the bench needs.
setTimeout(() => process.exit(), 2000).unref();
