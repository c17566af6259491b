// What every benchmark case shares: a cleanup list that also runs on Ctrl-C, tracked child processes, timing,
// statistics, and a look at how busy the machine is before each timed run (other engineers share it).
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { formatBytes as formatSize } from '../../common/format.ts';

export const MiB = 1024 * 1024;
export const GiB = 1024 * MiB;

/** Things to undo, newest first. Each runs once, whether the bench ends, fails or is interrupted. */
export class Cleanup {
  #items: { what: string; fn: () => Promise<void> }[] = [];
  #children = new Set<ChildProcess>();

  /** Registers an undo step; the returned function runs it now (and only once). */
  add(what: string, fn: () => Promise<void>): () => Promise<void> {
    const item = { what, fn };
    this.#items.push(item);
    return async () => {
      const i = this.#items.indexOf(item);
      if (i < 0) return;
      this.#items.splice(i, 1);
      await fn();
    };
  }

  track(child: ChildProcess): void {
    this.#children.add(child);
    child.once('exit', () => this.#children.delete(child));
  }

  async runAll(): Promise<void> {
    // A child still running would hold a database open or keep writing into a folder about to be removed.
    for (const child of this.#children) child.kill('SIGKILL');
    while (this.#items.length > 0) {
      const item = this.#items.pop()!;
      try {
        await item.fn();
      } catch (err) {
        console.error(`[bench] cleanup of ${item.what} failed: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
  }
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs a command to its end, killed with the bench if that is interrupted. stdout is kept only when asked:
 * a dump on stdout would otherwise pass through this process.
 */
export function run(
  cleanup: Cleanup,
  cmd: string,
  args: string[],
  opts: SpawnOptions & { keepStdout?: boolean } = {},
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const { keepStdout, ...spawnOpts } = opts;
    const child = spawn(cmd, args, { stdio: ['ignore', keepStdout ? 'pipe' : 'ignore', 'pipe'], ...spawnOpts });
    cleanup.track(child);
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-8000)));
    child.once('error', reject);
    child.once('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

export async function mustRun(
  cleanup: Cleanup,
  cmd: string,
  args: string[],
  opts: SpawnOptions & { keepStdout?: boolean } = {},
): Promise<RunResult> {
  const r = await run(cleanup, cmd, args, opts);
  if (r.code !== 0)
    throw new Error(
      `${cmd} ${args.filter((a) => !a.startsWith('--password')).join(' ')} exited ${r.code ?? r.signal}: ${r.stderr.trim().slice(-2000)}`,
    );
  return r;
}

export async function timed<T>(fn: () => Promise<T>): Promise<{ seconds: number; value: T }> {
  const t0 = performance.now();
  const value = await fn();
  return { seconds: (performance.now() - t0) / 1000, value };
}

export function median(xs: number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

export async function cpuTicks(): Promise<{ busy: number; total: number }> {
  const line = (await readFile('/proc/stat', 'utf8')).split('\n')[0]!;
  const [user, nice, system, idle, iowait, irq, softirq, steal] = line
    .trim()
    .split(/\s+/)
    .slice(1)
    .map(Number) as number[];
  const busy = user! + nice! + system! + irq! + softirq! + (steal ?? 0);
  return { busy, total: busy + idle! + iowait! };
}

/**
 * How busy all cores are while the bench itself does nothing, in percent of the whole machine. Anything well above
 * zero is someone else's work (a test suite), and the run that follows is skewed by it.
 */
export async function backgroundCpu(ms = 500): Promise<number> {
  const a = await cpuTicks();
  await sleep(ms);
  const b = await cpuTicks();
  const total = b.total - a.total;
  return total > 0 ? Math.round(((b.busy - a.busy) / total) * 100) : 0;
}

/** Core-seconds all cores spent busy between two readings of `cpuTicks` (the kernel counts in 1/100 s). */
export const busySeconds = (a: { busy: number }, b: { busy: number }) => (b.busy - a.busy) / 100;

/** A process's peak and current resident memory, from the kernel's own bookkeeping. */
export async function memoryOf(pid: number | 'self'): Promise<{ peak: number; current: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024;
  return { peak: kb('VmHWM'), current: kb('VmRSS') };
}

/** `64MB`, `256MiB`, `1GB`, `1.5G`, `1048576`: binary units, as PostgreSQL prints sizes. */
export function parseSize(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(k|m|g|t)?(?:i?b)?\s*$/i.exec(text);
  if (!m) throw new Error(`cannot read size '${text}': use e.g. 64MB, 256MB, 1GB`);
  const unit = { k: 1024, m: MiB, g: GiB, t: 1024 * GiB }[(m[2] ?? '').toLowerCase() as 'k'] ?? 1;
  return Math.round(Number(m[1]) * unit);
}

/** A size for the report; an unknown one is left blank. */
export function formatBytes(n: number | undefined): string {
  return n === undefined || !Number.isFinite(n) ? '' : formatSize(n);
}

/** Waits until the wall clock enters a new second: backup file names carry the second a run started in. */
export async function nextSecond(): Promise<void> {
  await sleep(1000 - (Date.now() % 1000) + 5);
}
