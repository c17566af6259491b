// A restore killed mid-way: the site worker is SIGKILLed while pg_restore writes into the new database, a new worker
// starts, and the restore must end succeeded with the database equal to the source.
import postgres from 'postgres';
import { waitFor } from '../dev/wait.ts';
import { pgUrl } from '../services/pg.ts';
import {
  backupRows,
  configFor,
  highestAttempt,
  newTenant,
  restoreRows,
  runNow,
  waitRunsEnded,
  workflowRunning,
  type FaultContext,
  type Tenant,
} from './context.ts';
import { outcome, type Scenario } from './scenario.ts';
import { needsUndo } from './undo.ts';
import { watch } from './watch.ts';

/** Rows and a digest of every row in order: equal data has equal fingerprints. */
async function fingerprint(database: string): Promise<string> {
  const sql = postgres(pgUrl(database), { max: 1, onnotice: () => {} });
  try {
    const [r] = await sql<{ n: string; digest: string }[]>`
      select count(*)::text as n, md5(string_agg(id || ':' || data, ',' order by id)) as digest from blobs`;
    return `${r!.n} rows, md5 ${r!.digest}`;
  } catch (err) {
    return `unreadable: ${err instanceof Error ? err.message : String(err)}`;
  } finally {
    await sql.end();
  }
}

const restoreKilled: Scenario = {
  name: 'restore killed mid-way',
  mode: 'both',
  async run(ctx: FaultContext) {
    const t = await newTenant(ctx, 'restore-kill');
    await runNow(ctx, t, await configFor(ctx, t, ctx.big.name));
    await waitRunsEnded(ctx, t);
    const [backup] = await backupRows(ctx, t);
    if (backup?.status !== 'succeeded')
      throw new Error(`the backup to restore ended ${backup?.status}: ${backup?.error}`);
    const target = `${ctx.big.name}_r`;
    const admin = postgres(pgUrl('postgres'), { max: 1, onnotice: () => {} });
    const dropTarget = needsUndo(`database ${target}`, async () => {
      const sql = postgres(pgUrl('postgres'), { max: 1, onnotice: () => {} });
      await sql.unsafe(`drop database if exists "${target}" with (force)`).finally(() => sql.end());
    });
    try {
      const started = await ctx.fp.stack.api('POST', '/api/v1/restores', {
        token: t.token,
        body: { backupId: backup.id, targetDatabase: target },
      });
      if (started.status !== 202) throw new Error(`restore: HTTP ${started.status} ${JSON.stringify(started.body)}`);
      const notes: string[] = [];
      // pg_restore's session in the new database while it copies rows in.
      const restoring = () => admin`select 1 from pg_stat_activity where datname = ${target} and query ilike 'copy %'`;
      const seen = await watch(ctx, t, 'pg_restore to write', async () => {
        if ((await restoring()).length > 0) return true;
        const [row] = await restoreRows(ctx, t);
        if (row && row.status !== 'running') throw new Error(`the restore ended ${row.status} before it was caught`);
        return false;
      });
      if (!seen) notes.push('pg_restore was not seen');
      await t.restartWorker();
      const id = started.body.id as string;
      const problems: string[] = [];
      const [row] = await waitEnded(ctx, t, id);
      if (seen && row && (await highestAttempt(ctx, row.workflowId, 'restore')) < 2)
        problems.push('the restore activity was not retried: the kill missed it');
      if (row?.status !== 'succeeded') problems.push(`the restore ended ${row?.status}: ${row?.error}`);
      else {
        const [want, got] = [await fingerprint(ctx.big.name), await fingerprint(target)];
        if (want !== got) problems.push(`the restored database differs: ${got}, the source has ${want}`);
      }
      await t.worker.stop();
      return await outcome(ctx, this.name, t, { runs: 1, good: 1 }, { problems, notes });
    } finally {
      await admin.end();
      await dropTarget();
    }
  },
};

/** The restore's row once its workflow has ended (a row left running then is the audit's stuck row). */
async function waitEnded(ctx: FaultContext, t: Tenant, id: string) {
  return waitFor(
    async () => {
      const rows = (await restoreRows(ctx, t)).filter((r) => r.id === id);
      if (!rows[0] || (await workflowRunning(ctx, rows[0].workflowId))) return undefined;
      return rows;
    },
    240_000,
    'the restore to end',
  );
}

export const restoreScenarios: Scenario[] = [restoreKilled];
