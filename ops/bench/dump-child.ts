// Runs the site's `dump` activity once, in a process of its own, and prints one JSON line: the activity's own
// duration (process start-up excluded, as a running site worker has paid it) and resident memory: the process's
// peak, and the peak while the dump ran. Loading the modules leaves garbage V8 has not collected yet, so the first
// is mostly start-up; the kernel's peak counter is reset when the dump starts, which isolates the second.
import { writeFile } from 'node:fs/promises';
import { MockActivityEnvironment } from '@temporalio/testing';
import type { DumpInput } from '../../activities/site/dump.ts';
import { createSiteActivities } from '../../activities/site/index.ts';
import type { DumpResult } from '../../activities/contracts.ts';
import { SiteConfig } from '../../activities/site-config.ts';
import { createLogger } from '../../common/logger.ts';
import { busySeconds, cpuTicks, memoryOf } from './lib.ts';

export interface DumpChildRequest {
  siteConfigPath: string;
  input: DumpInput;
}

export interface DumpChildReport {
  seconds: number;
  sizeBytes: number;
  rawBytes: number;
  sha256: string;
  path: string;
  /** Resident memory when the dump started (runtime and modules loaded, start-up garbage not yet collected). */
  rssBeforeBytes: number;
  /** Peak resident memory from the dump's start to its end. */
  dumpPeakRssBytes: number;
  /** Peak resident memory of the whole process, start-up included. */
  processPeakRssBytes: number;
  /** CPU this process used for the dump, every thread (compression runs on libuv's pool). */
  cpuSeconds: number;
  /** Core-seconds the whole machine was busy during the dump (pg_dump and the server's backend included). */
  machineCpuSeconds: number;
}

if (import.meta.main) {
  const request = JSON.parse(process.argv[2] ?? '') as DumpChildRequest;
  const config = await SiteConfig.load(request.siteConfigPath);
  // Log lines would only cost time here; the activity's logging itself still runs.
  const logger = createLogger('bench-dump', { write: () => true });
  const acts = createSiteActivities({ config, identity: { tenantId: 'bench', siteId: 'bench' }, logger });
  const env = new MockActivityEnvironment({ attempt: 1, heartbeatTimeoutMs: 30_000 });
  const processPeak = (await memoryOf('self')).peak;
  // 5: reset the peak resident set size (VmHWM) to the current one (Linux ≥ 4.0).
  await writeFile('/proc/self/clear_refs', '5');
  const before = await memoryOf('self');
  const cpu0 = process.cpuUsage();
  const ticks0 = await cpuTicks();
  const t0 = performance.now();
  // run()'s typing loses the activity's result type; it is the activity's own.
  const result = (await env.run(acts.dump, request.input)) as DumpResult;
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const machineCpuSeconds = busySeconds(ticks0, await cpuTicks());
  const after = await memoryOf('self');
  const report: DumpChildReport = {
    seconds,
    sizeBytes: result.sizeBytes,
    rawBytes: result.rawBytes,
    sha256: result.sha256,
    path: result.path,
    rssBeforeBytes: before.current,
    dumpPeakRssBytes: after.peak,
    processPeakRssBytes: Math.max(processPeak, after.peak),
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
    machineCpuSeconds,
  };
  process.stdout.write(`${JSON.stringify(report)}\n`);
}
