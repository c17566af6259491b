// What a run found: timed series (seconds per run) and single figures (latency, memory), as tables for people
// (targets.ts checks them against the issue's targets).
import { backgroundCpu, busySeconds, cpuTicks, formatBytes, median, MiB } from './lib.ts';

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
