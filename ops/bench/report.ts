// What a run found: timed series (seconds per run), single figures (latency, memory), the targets of issue 6 checked
// against them, a table for people and JSON for machines.
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import { backgroundCpu, busySeconds, cpuTicks, formatBytes, median, MiB, run, type Cleanup } from './lib.ts';

export interface Sample {
  seconds: number;
  /** Bytes written (a file, an upload's stored object). */
  outputBytes?: number;
  /** Bytes the throughput is counted in: the uncompressed dump for dumps and restores, the file for uploads. */
  workBytes?: number;
  /** Percent of the machine busy with other work just before this run. */
  backgroundCpu?: number;
  /** Core-seconds the whole machine was busy during the run (its own work, and anyone else's). */
  machineCpuSeconds?: number;
  detail?: Record<string, number | string>;
}

export interface Series {
  id: string;
  label: string;
  samples: Sample[];
  error?: string;
}

export interface Figure {
  id: string;
  label: string;
  unit: 'ms' | 'req/s' | 'bytes' | 'count' | 'MiB/s' | 'CPU s';
  /** One value per run; the figure reported is their median. */
  values: number[];
  note?: string;
}

export interface TargetCheck {
  id: string;
  target: string;
  /** undefined: not measured in this run (skipped or failed before it could be). */
  pass: boolean | undefined;
  detail: string;
}

/** Busier than this before a run means someone else's work shared the machine with it. */
export const CONTENTION_PERCENT = 20;

export class Results {
  readonly series = new Map<string, Series>();
  readonly figures = new Map<string, Figure>();
  readonly notes: string[] = [];

  seriesOf(id: string, label: string): Series {
    let s = this.series.get(id);
    if (!s) this.series.set(id, (s = { id, label, samples: [] }));
    return s;
  }

  figure(id: string, label: string, unit: Figure['unit'], value: number, note?: string): void {
    let f = this.figures.get(id);
    if (!f) this.figures.set(id, (f = { id, label, unit, values: [], ...(note && { note }) }));
    f.values.push(value);
  }

  /** Median seconds of a series that ran without error, else undefined. */
  seconds(id: string): number | undefined {
    const s = this.series.get(id);
    if (!s || s.error || s.samples.length === 0) return undefined;
    return median(s.samples.map((x) => x.seconds));
  }

  value(id: string): number | undefined {
    const f = this.figures.get(id);
    return f && f.values.length ? median(f.values) : undefined;
  }

  outputBytes(id: string): number | undefined {
    const xs =
      this.series
        .get(id)
        ?.samples.map((x) => x.outputBytes)
        .filter((x): x is number => x !== undefined) ?? [];
    return xs.length ? median(xs) : undefined;
  }
}

export interface Variant {
  id: string;
  label: string;
  /** May report its own machineCpuSeconds, when the run includes set-up that is not part of the timing. */
  run: (round: number) => Promise<Omit<Sample, 'backgroundCpu'>>;
}

/**
 * Runs the variants side by side: round 1 of each, then round 2, ..., each round in a rotated order, so a slow
 * spell of the machine or a warm cache does not land on one variant only. A variant that fails stops there; the
 * others go on.
 */
export async function rounds(
  results: Results,
  runs: number,
  variants: Variant[],
  log: (msg: string) => void,
): Promise<void> {
  for (let r = 0; r < runs; r++) {
    for (let k = 0; k < variants.length; k++) {
      const v = variants[(k + r) % variants.length]!;
      const series = results.seriesOf(v.id, v.label);
      if (series.error) continue;
      const busy = await backgroundCpu();
      try {
        const before = await cpuTicks();
        const sample = await v.run(r);
        series.samples.push({
          machineCpuSeconds: busySeconds(before, await cpuTicks()),
          ...sample,
          backgroundCpu: busy,
        });
        log(
          `  ${v.label} [${r + 1}/${runs}]: ${sample.seconds.toFixed(2)} s${sample.outputBytes !== undefined ? `, ${formatBytes(sample.outputBytes)}` : ''}${busy >= CONTENTION_PERCENT ? ` (machine ${busy}% busy before it)` : ''}`,
        );
      } catch (err) {
        series.error = err instanceof Error ? err.message : String(err);
        log(`  ${v.label} [${r + 1}/${runs}]: FAILED: ${series.error}`);
      }
    }
  }
}

const ratio = (a: number, b: number) => `${(a / b).toFixed(2)}×`;
const s = (x: number) => `${x.toFixed(2)} s`;

/** The targets of issue 6, each checked only when both of its sides were measured. */
export function checkTargets(r: Results): TargetCheck[] {
  const out: TargetCheck[] = [];
  const check = (
    id: string,
    target: string,
    inputs: (number | undefined)[],
    test: (...xs: number[]) => [boolean, string],
  ) => {
    if (inputs.some((x) => x === undefined || !Number.isFinite(x)))
      out.push({ id, target, pass: undefined, detail: 'not measured' });
    else {
      const [pass, detail] = test(...(inputs as number[]));
      out.push({ id, target, pass, detail });
    }
  };
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
  check('api-configs', '(8) 1,000 configurations (schedules) < 60 s', [r.seconds('api-configs')], (t) => [
    t < 60,
    s(t),
  ]);
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
  return out;
}

function pad(cells: string[][], rightAligned: Set<number>): string {
  const widths = cells[0]!.map((_, i) => Math.max(...cells.map((row) => row[i]!.length)));
  return cells
    .map((row) =>
      row
        .map((c, i) => (rightAligned.has(i) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

export function seriesTable(r: Results): string {
  const rows = [['case', 'median s', 'min s', 'max s', 'MiB/s', 'output', 'CPU s', 'runs', 'busy%']];
  for (const x of r.series.values()) {
    if (x.error && x.samples.length === 0) {
      rows.push([x.label, 'FAILED', '', '', '', '', '', '0', '']);
      continue;
    }
    const secs = x.samples.map((y) => y.seconds);
    const med = median(secs);
    const work = x.samples[0]?.workBytes;
    const busy = Math.max(...x.samples.map((y) => y.backgroundCpu ?? 0));
    rows.push([
      x.label + (x.error ? ' (FAILED after some runs)' : ''),
      med.toFixed(2),
      Math.min(...secs).toFixed(2),
      Math.max(...secs).toFixed(2),
      work ? (work / MiB / med).toFixed(0) : '',
      formatBytes(r.outputBytes(x.id)),
      median(x.samples.map((y) => y.machineCpuSeconds ?? NaN)).toFixed(1),
      String(x.samples.length),
      String(busy),
    ]);
  }
  return pad(rows, new Set([1, 2, 3, 4, 5, 6, 7, 8]));
}

export function figureTable(r: Results): string {
  const rows = [['measure', 'median', 'min', 'max', 'runs']];
  const show = (f: Figure, v: number) =>
    f.unit === 'bytes'
      ? formatBytes(v)
      : f.unit === 'ms'
        ? `${v.toFixed(1)} ms`
        : f.unit === 'count'
          ? String(v)
          : f.unit === 'CPU s'
            ? `${v.toFixed(2)} s`
            : `${v.toFixed(0)} ${f.unit}`;
  for (const f of r.figures.values()) {
    rows.push([
      f.label,
      show(f, median(f.values)),
      show(f, Math.min(...f.values)),
      show(f, Math.max(...f.values)),
      String(f.values.length),
    ]);
  }
  return pad(rows, new Set([1, 2, 3, 4]));
}

export function targetLines(checks: TargetCheck[]): string {
  return checks
    .map((c) => `${c.pass === undefined ? 'SKIP' : c.pass ? 'PASS' : 'FAIL'}  ${c.target}  —  ${c.detail}`)
    .join('\n');
}

export interface Machine {
  cores: number;
  memoryBytes: number;
  cpuModel: string;
  /** SHA extensions make SHA-256 several times faster: worth knowing when reading the hash's share. */
  shaNi: boolean;
  kernel: string;
  node: string;
  zstd: string | undefined;
  postgresServer: string;
  pgDump: string;
  pgRestore: string;
  temporalCli: string;
  loadAverageAtStart: number[];
  backgroundCpuAtStart: number;
}

export async function describeMachine(cleanup: Cleanup, serverVersion: () => Promise<string>): Promise<Machine> {
  const cpuinfo = await readFile('/proc/cpuinfo', 'utf8').catch(() => '');
  const version = async (cmd: string, args: string[]) => {
    try {
      const r = await run(cleanup, cmd, args, { keepStdout: true });
      return (r.stdout || r.stderr).trim().split('\n')[0] ?? '';
    } catch {
      return 'not found';
    }
  };
  return {
    cores: os.cpus().length,
    memoryBytes: os.totalmem(),
    cpuModel: /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1]?.trim() ?? os.cpus()[0]?.model ?? 'unknown',
    shaNi: /^flags\s*:.*\bsha_ni\b/m.test(cpuinfo),
    kernel: `${os.type()} ${os.release()}`,
    node: process.version,
    zstd: process.versions.zstd,
    postgresServer: await serverVersion(),
    pgDump: await version('pg_dump', ['--version']),
    pgRestore: await version('pg_restore', ['--version']),
    temporalCli: await version(process.env.TEMPORAL_CLI ?? 'temporal', ['--version']),
    loadAverageAtStart: os.loadavg(),
    backgroundCpuAtStart: await backgroundCpu(1000),
  };
}

export function machineLines(m: Machine): string {
  return [
    `machine     ${m.cores} cores (${m.cpuModel}${m.shaNi ? ', SHA-NI' : ', no SHA-NI'}), ${formatBytes(m.memoryBytes)} RAM, ${m.kernel}`,
    `software    Node ${m.node} (zstd ${m.zstd ?? '?'}), ${m.postgresServer.split(' on ')[0]}, ${m.pgDump}, ${m.temporalCli}`,
    `at start    load average ${m.loadAverageAtStart.map((x) => x.toFixed(2)).join(' ')}, ${m.backgroundCpuAtStart}% busy with other work`,
  ].join('\n');
}
