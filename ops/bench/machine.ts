// The machine a run measured on: its cores, memory, software and how busy it was, printed beside the numbers.
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import { backgroundCpu, formatBytes, run, type Cleanup } from './lib.ts';

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
