// `npm run bench -- [--size 1GB] [--runs 3] [--only dump,restore,...] [--json path]`
// Every hot path of the platform measured side by side with its baseline, on a generated PostgreSQL database; the
// targets of issue 6 checked PASS/FAIL. Not a test: the machine's speed and its other work decide the numbers.
// Everything it makes (databases, folders, processes) is removed at the end, on failure and on Ctrl-C too.
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import postgres from 'postgres';
import { pgUrl } from '../services/pg.ts';
import { parseCli } from './cli.ts';
import { siteConfigWriter, type BenchContext } from './context.ts';
import { BenchRun, type StopState } from './groups.ts';
import { Cleanup, formatBytes, run } from './lib.ts';
import { describeMachine, machineLines } from './machine.ts';
import { Results } from './report.ts';
import { printSummary, writeJson } from './summary.ts';
import { checkTargets } from './targets.ts';

const state: StopState = { interrupted: false, tearingDown: false };

/** Ctrl-C, or an error nobody awaited: what the bench made is removed before the process ends. */
function handleStops(cleanup: Cleanup, log: (msg: string) => void): void {
  const onSignal = (signal: NodeJS.Signals) => {
    if (state.interrupted) return;
    state.interrupted = true;
    log(`${signal}: stopping, removing what the bench made`);
    void cleanup.runAll().finally(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  // Stopping the platform closes its database pool under requests a timed-out load left in flight: their errors
  // are expected then. Anywhere else a stray error ends the bench, but not before it removed what it made.
  const onStray = (err: unknown) => {
    if (state.tearingDown) return log(`while stopping: ${err instanceof Error ? err.message : String(err)}`);
    if (state.interrupted) return;
    state.interrupted = true;
    log(`failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}; removing what the bench made`);
    void cleanup.runAll().finally(() => process.exit(1));
  };
  process.on('unhandledRejection', onStray);
  process.on('uncaughtException', onStray);
}

async function main(): Promise<number> {
  const wallStart = performance.now();
  const args = parseCli();
  const cleanup = new Cleanup();
  const results = new Results();
  const log = (msg: string) => console.error(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}`);
  handleStops(cleanup, log);

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

    const bench = new BenchRun(ctx, args, state);
    await bench.run();

    const { databases, failedGroups } = bench;
    const checks = checkTargets(results);
    const wallSeconds = (performance.now() - wallStart) / 1000;
    const record = { args, commit, machine, databases, results, checks, failedGroups, wallSeconds };
    printSummary(record);
    await writeJson(record);
    return failedGroups.length || [...results.series.values()].some((s) => s.error) ? 1 : 0;
  } finally {
    if (!state.interrupted) await cleanup.runAll();
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
  if (!state.interrupted) {
    console.error(`[bench] failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    process.exitCode = 1;
  }
}
// The platform's clients (Temporal, postgres.js) may keep handles a moment longer than the bench needs.
setTimeout(() => process.exit(), 2000).unref();
