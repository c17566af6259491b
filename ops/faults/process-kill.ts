// The platform's own processes stopped mid-run: the central worker SIGKILLed, Temporal stopped and started again on
// the same port and state, the metadata database down for a while. Each time the run must end with one good backup.
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  backupRows,
  configFor,
  dumpDir,
  newTenant,
  runNow,
  waitRunsEnded,
  type FaultContext,
  type Tenant,
} from './context.ts';
import { outcome, type Scenario } from './scenario.ts';
import { hasFinalFile, partialBytes, watch } from './watch.ts';

const MiB = 1024 * 1024;

/** A tenant with a throttled local destination, a run of the big database under way and caught at 1 MiB of dump. */
async function runCaughtMidDump(ctx: FaultContext, slug: string): Promise<{ t: Tenant; notes: string[] }> {
  const t = await newTenant(ctx, slug, {
    destinations: { nas: { path: path.join(ctx.fp.tmp, slug, 'nas'), maxBytesPerSecond: 8 * MiB } },
  });
  await runNow(ctx, t, await configFor(ctx, t, ctx.big.name));
  const seen = await watch(
    ctx,
    t,
    'the dump at 1 MiB',
    async () => (await partialBytes(dumpDir(t, ctx.big.name))) >= MiB,
  );
  return { t, notes: seen ? [] : ['the dump ended before the suite saw 1 MiB of it: the fault came late'] };
}

async function oneGoodRun(ctx: FaultContext, name: string, t: Tenant, notes: string[], timeoutMs?: number) {
  await waitRunsEnded(ctx, t, 1, timeoutMs);
  const problems = (await backupRows(ctx, t))
    .filter((r) => r.status !== 'succeeded')
    .map((r) => `run ended ${r.status}: ${r.error}`);
  await t.worker.stop();
  return outcome(ctx, name, t, { runs: 1, good: 1 }, { problems, notes });
}

const centralKilledMidDump: Scenario = {
  name: 'central worker killed mid-dump',
  mode: 'both',
  async run(ctx) {
    const { t, notes } = await runCaughtMidDump(ctx, 'central-kill-dump');
    await ctx.fp.killCentral();
    // The dump finishes at the site while no central worker runs: its result waits in Temporal.
    await watch(ctx, t, 'the dump to be published', () => hasFinalFile(dumpDir(t, ctx.big.name)));
    await ctx.fp.startCentral();
    return oneGoodRun(ctx, this.name, t, notes);
  },
};

const centralKilledDuringUpload: Scenario = {
  name: 'central worker killed during the upload',
  mode: 'full',
  async run(ctx) {
    const { t, notes } = await runCaughtMidDump(ctx, 'central-kill-upload');
    const seen = await watch(ctx, t, 'the upload', async () => (await partialBytes(t.destDirs.nas!)) >= 0);
    if (!seen) notes.push('the upload ended before the suite saw it');
    await ctx.fp.killCentral();
    await watch(ctx, t, 'the upload to finish', () => hasFinalFile(t.destDirs.nas!));
    await ctx.fp.startCentral();
    return oneGoodRun(ctx, this.name, t, notes);
  },
};

/** The dump is published and its row not yet good: recordBackup is under way (or next) on the worker killed. */
const centralKilledAtRecord: Scenario = {
  name: 'central worker killed at recordBackup',
  mode: 'full',
  async run(ctx) {
    const { t, notes } = await runCaughtMidDump(ctx, 'central-kill-record');
    const seen = await watch(
      ctx,
      t,
      'the dump published, not yet recorded',
      async () => (await hasFinalFile(dumpDir(t, ctx.big.name))) && (await backupRows(ctx, t))[0]?.status === 'running',
    );
    if (!seen) notes.push('the dump was recorded before the suite saw it published');
    await ctx.fp.killCentral();
    await ctx.fp.startCentral();
    return oneGoodRun(ctx, this.name, t, notes);
  },
};

const temporalRestarted: Scenario = {
  name: 'Temporal stopped and started mid-dump',
  mode: 'both',
  async run(ctx) {
    const { t, notes } = await runCaughtMidDump(ctx, 'temporal-restart');
    await ctx.fp.stopTemporal();
    // Down until the site has finished the dump it could not report: its result must not be lost.
    await watch(ctx, t, 'the dump to be published', () => hasFinalFile(dumpDir(t, ctx.big.name)));
    await ctx.fp.startTemporal();
    return oneGoodRun(ctx, this.name, t, notes);
  },
};

function metadataOutage(seconds: number, mode: Scenario['mode']): Scenario {
  return {
    name: `metadata database down ${seconds >= 60 ? `${seconds / 60} min` : `${seconds} s`}`,
    mode,
    async run(ctx) {
      const server = ctx.fp.stack.metadataServer!;
      const { t, notes } = await runCaughtMidDump(ctx, `metadata-${seconds}`);
      await server.halt();
      try {
        // The outage is a length of time by definition, not a guess at one.
        await sleep(seconds * 1000);
      } finally {
        await server.start();
      }
      return oneGoodRun(ctx, this.name, t, notes, 600_000);
    },
  };
}

export const processScenarios: Scenario[] = [
  centralKilledMidDump,
  centralKilledAtRecord,
  centralKilledDuringUpload,
  temporalRestarted,
  metadataOutage(20, 'quick'),
  metadataOutage(300, 'full'),
];
