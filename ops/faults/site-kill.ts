// SIGKILL of the site worker at points of one run (before the dump, at byte offsets of the dump, once the file is
// published, once it is recorded, during and after the upload to a local destination, once the copy is recorded),
// then a new site worker: the run must end with exactly one good backup and its copy stored.
import path from 'node:path';
import { and, eq } from 'drizzle-orm';
import { backupCopies } from '../../db/schema.ts';
import {
  backupRows,
  highestAttempt,
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

interface Point {
  name: string;
  quick?: boolean;
  /** The site activity a kill at this point interrupts: it must have been retried. */
  interrupts?: 'dump' | 'upload';
  reached(ctx: FaultContext, t: Tenant, database: string): Promise<boolean>;
}

const rowStatus = async (ctx: FaultContext, t: Tenant) => (await backupRows(ctx, t))[0]?.status;
const nas = (t: Tenant) => t.destDirs.nas!;

const POINTS: Point[] = [
  {
    name: 'before the dump',
    reached: async (ctx, t, db) => (await rowStatus(ctx, t)) === 'running' && (await partialBytes(dumpDir(t, db))) < 0,
  },
  { name: 'dump started', interrupts: 'dump', reached: async (_c, t, db) => (await partialBytes(dumpDir(t, db))) >= 0 },
  {
    name: 'dump at 1 MiB',
    interrupts: 'dump',
    quick: true,
    reached: async (_c, t, db) => (await partialBytes(dumpDir(t, db))) >= MiB,
  },
  {
    name: 'dump at 4 MiB',
    interrupts: 'dump',
    reached: async (_c, t, db) => (await partialBytes(dumpDir(t, db))) >= 4 * MiB,
  },
  {
    name: 'dump at 8 MiB',
    interrupts: 'dump',
    reached: async (_c, t, db) => (await partialBytes(dumpDir(t, db))) >= 8 * MiB,
  },
  {
    name: 'dump published',
    reached: async (ctx, t, db) => (await hasFinalFile(dumpDir(t, db))) && (await rowStatus(ctx, t)) === 'running',
  },
  { name: 'dump recorded', reached: async (ctx, t) => (await rowStatus(ctx, t)) === 'succeeded' },
  { name: 'upload started', interrupts: 'upload', reached: async (_c, t) => (await partialBytes(nas(t))) >= 0 },
  {
    name: 'upload half way',
    interrupts: 'upload',
    quick: true,
    reached: async (ctx, t) => {
      const size = (await backupRows(ctx, t))[0]?.sizeBytes;
      return !!size && (await partialBytes(nas(t))) >= size / 2;
    },
  },
  { name: 'upload done', reached: async (_c, t) => hasFinalFile(nas(t)) },
  {
    name: 'copy recorded',
    reached: async (ctx, t) => {
      const rows = await ctx.fp.stack.db.db
        .select()
        .from(backupCopies)
        .where(and(eq(backupCopies.tenantId, t.tenantId), eq(backupCopies.target, 'nas')));
      return rows.some((c) => c.state === 'stored');
    },
  },
];

function killAt(point: Point): Scenario {
  const name = `site worker killed: ${point.name}`;
  return {
    name,
    mode: point.quick ? 'both' : 'full',
    async run(ctx) {
      const slug = point.name.replaceAll(/\W+/g, '-');
      const t = await newTenant(ctx, `site-kill-${slug}`, {
        // Slow enough that the upload can be caught half way, fast enough not to matter.
        destinations: { nas: { path: path.join(ctx.fp.tmp, `site-kill-${slug}`, 'nas'), maxBytesPerSecond: 8 * MiB } },
      });
      const configId = await configFor(ctx, t, ctx.big.name);
      await runNow(ctx, t, configId);
      const seen = await watch(ctx, t, point.name, () => point.reached(ctx, t, ctx.big.name));
      const notes = seen ? [] : [`the run passed '${point.name}' between two looks: not killed there`];
      await t.restartWorker();
      await waitRunsEnded(ctx, t);
      const rows = await backupRows(ctx, t);
      const problems = rows.filter((r) => r.status !== 'succeeded').map((r) => `run ended ${r.status}: ${r.error}`);
      if (seen && point.interrupts && rows[0]) {
        const attempt = await highestAttempt(ctx, rows[0].workflowId, point.interrupts);
        if (attempt < 2)
          problems.push(`the ${point.interrupts} was not retried (attempt ${attempt}): the kill missed it`);
      }
      await t.worker.stop();
      return outcome(ctx, name, t, { runs: 1, good: 1 }, { problems, notes });
    },
  };
}

export const siteKillScenarios: Scenario[] = POINTS.map(killAt);
