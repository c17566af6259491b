// Faults under the data: the source's session killed mid-dump, a full disk at the site or at a destination, and a
// destination that refuses writes until it is repaired and a sync copies again what it missed.
import path from 'node:path';
import { and, eq } from 'drizzle-orm';
import postgres from 'postgres';
import { backupCopies } from '../../db/schema.ts';
import { pgUrl } from '../services/pg.ts';
import {
  backupRows,
  configFor,
  dumpDir,
  highestAttempt,
  newTenant,
  runNow,
  waitRunsEnded,
  type Tenant,
} from './context.ts';
import { mountReadOnly, mountTmpfs } from './mounts.ts';
import { outcome, type Scenario } from './scenario.ts';
import { partialBytes, watch } from './watch.ts';

const MiB = 1024 * 1024;

const sourceTerminated: Scenario = {
  name: 'source backend terminated mid-dump',
  mode: 'both',
  async run(ctx) {
    const t = await newTenant(ctx, 'source-terminated');
    await runNow(ctx, t, await configFor(ctx, t, ctx.big.name));
    const notes: string[] = [];
    let terminated = false;
    const seen = await watch(
      ctx,
      t,
      'the dump at 512 KiB',
      async () => (await partialBytes(dumpDir(t, ctx.big.name))) >= MiB / 2,
    );
    const sql = postgres(pgUrl('postgres'), { max: 1, onnotice: () => {} });
    try {
      // pg_dump's session, as the site names its sessions, while it copies the rows out.
      const killed = await sql`select pg_terminate_backend(pid) as ok from pg_stat_activity
        where datname = ${ctx.big.name} and application_name = 'backup-site-worker' and query ilike 'copy %'`;
      if (!seen || killed.length === 0) notes.push('pg_dump had finished: no backend to terminate');
      terminated = killed.length > 0;
    } finally {
      await sql.end();
    }
    await waitRunsEnded(ctx, t);
    const rows = await backupRows(ctx, t);
    const problems = rows.filter((r) => r.status !== 'succeeded').map((r) => `run ended ${r.status}: ${r.error}`);
    if (terminated && rows[0] && (await highestAttempt(ctx, rows[0].workflowId, 'dump')) < 2)
      problems.push('the dump whose session was terminated was not retried');
    await t.worker.stop();
    return outcome(ctx, this.name, t, { runs: 1, good: 1 }, { problems, notes });
  },
};

/**
 * One good run of the small database first, then the big one on a disk too small for it: the big run fails with a
 * clear error, and leaves no partial file, no running row, and the earlier backup as it was.
 */
function diskFull(where: 'site' | 'destination'): Scenario {
  return {
    name: `disk full at the ${where}`,
    mode: where === 'site' ? 'both' : 'full',
    async run(ctx) {
      const base = path.join(ctx.fp.tmp, `disk-full-${where}`);
      const full = path.join(base, where === 'site' ? 'site' : 'nas');
      const unmount = await mountTmpfs(full, 2 * MiB);
      let t: Tenant | undefined;
      try {
        t = await newTenant(ctx, `disk-full-${where}`, {
          ...(where === 'site' && { backupsDir: full }),
          destinations: { nas: { path: where === 'site' ? path.join(base, 'nas') : full } },
        });
        const small = await configFor(ctx, t, ctx.small.name);
        await runNow(ctx, t, small);
        await waitRunsEnded(ctx, t, 1);
        await runNow(ctx, t, await configFor(ctx, t, ctx.big.name));
        await waitRunsEnded(ctx, t, 2);
        const rows = await backupRows(ctx, t);
        const problems: string[] = [];
        const first = rows.find((r) => r.configId === small);
        const big = rows.find((r) => r.configId !== small);
        if (first?.status !== 'succeeded') problems.push(`the small run ended ${first?.status}: ${first?.error}`);
        if (where === 'site') {
          if (big?.status !== 'failed') problems.push(`the run on a full disk ended ${big?.status}, not failed`);
          else if (!/space|ENOSPC|full/i.test(big.error ?? '')) problems.push(`unclear error: ${big.error}`);
          return await outcome(ctx, this.name, t, { runs: 2, good: 1 }, { problems, notes: [`error: ${big?.error}`] });
        }
        // A full destination costs the copy, not the backup: the site's file is good, the copy is recorded missing.
        const copy = big
          ? (
              await ctx.fp.stack.db.db
                .select()
                .from(backupCopies)
                .where(and(eq(backupCopies.backupId, big.id), eq(backupCopies.target, 'nas')))
            )[0]
          : undefined;
        if (copy?.state !== 'missing') problems.push(`the copy to the full destination is ${copy?.state}, not missing`);
        return await outcome(ctx, this.name, t, { runs: 2, good: 2 }, { problems, notes: [`copy: ${copy?.error}`] });
      } finally {
        await t?.worker.stop();
        await unmount();
      }
    },
  };
}

/** A destination that refuses writes (read-only), then repaired: the API's sync copies the backup there again. */
const destinationRepaired: Scenario = {
  name: 'destination down, repaired by sync',
  // Full suite only: the quick one must stay near two minutes, and its disk cousin (full site disk) is in it.
  mode: 'full',
  async run(ctx) {
    const nas = path.join(ctx.fp.tmp, 'dest-repair', 'nas');
    let unmount: (() => Promise<void>) | undefined = await mountReadOnly(nas);
    let t: Tenant | undefined;
    try {
      t = await newTenant(ctx, 'dest-repair', { destinations: { nas: { path: nas } } });
      await runNow(ctx, t, await configFor(ctx, t, ctx.small.name));
      await waitRunsEnded(ctx, t);
      const problems: string[] = [];
      const copyState = async () =>
        (
          await ctx.fp.stack.db.db
            .select()
            .from(backupCopies)
            .where(and(eq(backupCopies.tenantId, t!.tenantId), eq(backupCopies.target, 'nas')))
        )[0];
      const before = await copyState();
      if (before?.state !== 'missing') problems.push(`with the destination down the copy is ${before?.state}`);
      await unmount();
      unmount = undefined;
      const sync = await ctx.fp.stack.api('POST', '/api/v1/sync', { token: t.token });
      if (sync.status !== 202) throw new Error(`sync: HTTP ${sync.status} ${JSON.stringify(sync.body)}`);
      await ctx.fp.stack.temporal.client.workflow.getHandle(sync.body.workflowId as string).result();
      const after = await copyState();
      if (after?.state !== 'stored') problems.push(`after the sync the copy is ${after?.state}: ${after?.error}`);
      return await outcome(ctx, this.name, t, { runs: 1, good: 1 }, { problems });
    } finally {
      await t?.worker.stop();
      await unmount?.();
    }
  },
};

export const storageScenarios: Scenario[] = [
  sourceTerminated,
  diskFull('site'),
  diskFull('destination'),
  destinationRepaired,
];
