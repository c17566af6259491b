// The targets of issue 6, checked PASS/FAIL against what a run measured.
import { formatBytes, MiB } from './lib.ts';
import type { Results } from './report.ts';

export interface TargetCheck {
  id: string;
  target: string;
  /** undefined: not measured in this run (skipped or failed before it could be). */
  pass: boolean | undefined;
  detail: string;
}

const ratio = (a: number, b: number) => `${(a / b).toFixed(2)}×`;
const s = (x: number) => `${x.toFixed(2)} s`;

type Check = (
  id: string,
  target: string,
  inputs: (number | undefined)[],
  test: (...xs: number[]) => [boolean, string],
) => void;

/** The targets of issue 6, each checked only when both of its sides were measured. */
export function checkTargets(r: Results): TargetCheck[] {
  const out: TargetCheck[] = [];
  const check: Check = (id, target, inputs, test) => {
    if (inputs.some((x) => x === undefined || !Number.isFinite(x)))
      out.push({ id, target, pass: undefined, detail: 'not measured' });
    else {
      const [pass, detail] = test(...(inputs as number[]));
      out.push({ id, target, pass, detail });
    }
  };
  dumpTargets(r, check);
  platformTargets(r, check);
  memoryTargets(r, check);
  check(
    'mongo-dump',
    '(20) MongoDB dump ≤ 1.5 × reading every document with the driver',
    [r.seconds('mongo-dump'), r.seconds('mongo-driver-read')],
    (o, d) => [o <= 1.5 * d, `${s(o)} vs ${s(d)}: ${ratio(o, d)}`],
  );
  return out;
}

/** (4) against (1)-(3). */
function dumpTargets(r: Results, check: Check): void {
  const floor = r.seconds('floor');
  const seeds = r.seconds('seeds');
  const pgdump = r.seconds('pgdump');
  for (const [id, name] of [
    ['dump', '(4) dump'],
    ['dump-enc', '(4) dump, encrypted'],
  ] as const) {
    const ours = r.seconds(id);
    check(`${id}-vs-floor`, `${name} ≤ 1.15 × (1) floor`, [ours, floor], (o, f) => [
      o <= 1.15 * f,
      `${s(o)} vs ${s(f)}: ${ratio(o, f)}`,
    ]);
    check(`${id}-vs-seeds`, `${name} ≥ 2× faster than (2) seeds' way`, [ours, seeds], (o, x) => [
      x >= 2 * o,
      `${s(o)} vs ${s(x)}: ${(x / o).toFixed(2)}× faster`,
    ]);
    check(
      `${id}-vs-pgdump`,
      `${name} faster than (3) pg_dump -Fc, output no larger`,
      [ours, pgdump, r.outputBytes(id), r.outputBytes('pgdump')],
      (o, p, ob, pb) => [o < p && ob <= pb, `${s(o)} vs ${s(p)}; ${formatBytes(ob)} vs ${formatBytes(pb)}`],
    );
  }
}

/** (5)-(8): whole runs, restore, upload and the API. */
function platformTargets(r: Results, check: Check): void {
  const dump = r.seconds('dump');
  check('e2e', '(5) run through the API ≤ (4) + 2 s', [r.seconds('e2e'), dump], (e, d) => [
    e <= d + 2,
    `${s(e)} vs ${s(d)} + 2 s (overhead ${s(e - d)})`,
  ]);
  check('e2e-tiny', '(5) tiny (1 MiB) run end to end < 1.5 s', [r.seconds('e2e-tiny')], (t) => [t < 1.5, s(t)]);
  check('restore', '(6) restore ≤ 1.15 × pg_restore alone', [r.seconds('restore'), r.seconds('pg-restore')], (o, p) => [
    o <= 1.15 * p,
    `${s(o)} vs ${s(p)}: ${ratio(o, p)}`,
  ]);
  const tput = (id: string) => {
    const x = r.series.get(id);
    const sec = r.seconds(id);
    return sec && x?.samples[0]?.workBytes ? x.samples[0].workBytes / sec : undefined;
  };
  check('upload', '(7) upload ≥ 0.9 × SDK uploadFile throughput', [tput('upload'), tput('upload-sdk')], (o, k) => [
    o >= 0.9 * k,
    `${(o / MiB).toFixed(0)} vs ${(k / MiB).toFixed(0)} MiB/s: ${ratio(o, k)}`,
  ]);
  check(
    'api-p99',
    '(8) history listing p99 < 50 ms (1M rows, 50 connections)',
    [r.value('api-list-p99'), r.value('api-list-failed')],
    (p, failed) => [
      p < 50 && failed === 0,
      `p99 ${p.toFixed(1)} ms, p50 ${r.value('api-list-p50')?.toFixed(1)} ms, ${r.value('api-list-rps')?.toFixed(0)} req/s${failed ? `; ${failed} requests failed or timed out per run (median)` : ''}`,
    ],
  );
  check(
    'api-stats-p99',
    '(17) statistics p99 < 100 ms (30 days of 1M rows, 20 connections)',
    [r.value('api-stats-30-p99'), r.value('api-stats-30-failed')],
    (p, failed) => [p < 100 && failed === 0, `p99 ${p.toFixed(1)} ms${failed ? `; ${failed} failed` : ''}`],
  );
  check(
    'console-history',
    '(17) history page: 25 rows drawn < 1 s after navigation (1M rows, chromium)',
    [r.value('console-history-rows')],
    (ms) => [ms < 1000, `${ms.toFixed(0)} ms, first paint ${r.value('console-history-fcp')?.toFixed(0)} ms`],
  );
  check('api-configs', '(8) 1,000 configurations (schedules) < 60 s', [r.seconds('api-configs')], (t) => [
    t < 60,
    s(t),
  ]);
}

/** (9): the dump's memory, and that it does not grow with the database. */
function memoryTargets(r: Results, check: Check): void {
  const small = r.value('rss-small');
  const big = r.value('rss-big');
  check('rss-limit', '(9) dump peak RSS < 200 MiB', [small, big], (a, b) => [
    Math.max(a, b) < 200 * MiB,
    `${formatBytes(a)} and ${formatBytes(b)}`,
  ]);
  const processPeaks = [r.value('rss-small-process'), r.value('rss-big-process')].filter(
    (x): x is number => x !== undefined,
  );
  check(
    'rss-process',
    '(9) the same process, peak incl. start-up < 200 MiB (stricter reading)',
    [processPeaks.length ? Math.max(...processPeaks) : undefined],
    (p) => [p < 200 * MiB, formatBytes(p)],
  );
  check('rss-flat', '(9) peak RSS at the big size within 10% of the small one', [small, big], (a, b) => [
    Math.abs(b - a) <= 0.1 * a,
    `${formatBytes(b)} vs ${formatBytes(a)}: ${(((b - a) / a) * 100).toFixed(1)}%`,
  ]);
}

export function targetLines(checks: TargetCheck[]): string {
  return checks
    .map((c) => `${c.pass === undefined ? 'SKIP' : c.pass ? 'PASS' : 'FAIL'}  ${c.target}  —  ${c.detail}`)
    .join('\n');
}
