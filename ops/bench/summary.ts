// What a bench run prints at its end for people, and writes as JSON for comparing runs.
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { BenchArgs } from './cli.ts';
import type { BenchDatabase } from './data.ts';
import { formatBytes } from './lib.ts';
import { machineLines, type Machine } from './machine.ts';
import { CONTENTION_PERCENT, figureTable, seriesTable, type Results } from './report.ts';
import { targetLines, type TargetCheck } from './targets.ts';

export interface RunRecord {
  args: BenchArgs;
  commit: string;
  machine: Machine;
  databases: Record<string, BenchDatabase>;
  results: Results;
  checks: TargetCheck[];
  failedGroups: string[];
  wallSeconds: number;
}

export function printSummary({
  args,
  commit,
  machine,
  databases,
  results,
  checks,
  failedGroups,
  wallSeconds,
}: RunRecord) {
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
}

export async function writeJson(r: RunRecord): Promise<void> {
  const { args, results } = r;
  await mkdir(path.dirname(args.json), { recursive: true });
  await writeFile(
    args.json,
    `${JSON.stringify({ command: `npm run bench -- ${process.argv.slice(2).join(' ')}`.trim(), size: args.size, runs: args.runs, cases: [...args.only], commit: r.commit, machine: r.machine, databases: r.databases, series: [...results.series.values()], figures: [...results.figures.values()], targets: r.checks, errors: r.failedGroups, wallSeconds: r.wallSeconds, finishedAt: new Date().toISOString() }, null, 2)}\n`,
  );
  console.log(`results written to ${path.relative(process.cwd(), args.json) || args.json}`);
}
