// The audit must see what it counts: before the scenarios, a good backup is damaged on purpose (its copy changed, a
// stray partial file, a second row naming its file left running with no workflow) and the audit must count each.
import { randomUUID } from 'node:crypto';
import { appendFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { and, eq } from 'drizzle-orm';
import { backupCopies, backups } from '../../db/schema.ts';
import { audit } from './audit.ts';
import { backupRows, configFor, dumpDir, newTenant, runNow, waitRunsEnded, type FaultContext } from './context.ts';

/** Answers what the audit missed; empty when it counted every damage. */
export async function checkTheAudit(ctx: FaultContext): Promise<string[]> {
  const nas = path.join(ctx.fp.tmp, 'self-check', 'nas');
  const t = await newTenant(ctx, 'self-check', { destinations: { nas: { path: nas } } });
  try {
    await runNow(ctx, t, await configFor(ctx, t, ctx.small.name));
    await waitRunsEnded(ctx, t);
    const [row] = await backupRows(ctx, t);
    if (row?.status !== 'succeeded') return [`the self-check's run ended ${row?.status}: ${row?.error}`];
    const clean = await audit(ctx, t);
    if (clean.good !== 1 || clean.lost + clean.orphans + clean.duplicates + clean.stuck !== 0)
      return [`a clean run was audited as ${JSON.stringify(clean)}`];

    const [copy] = await ctx.fp.stack.db.db
      .select()
      .from(backupCopies)
      .where(and(eq(backupCopies.backupId, row.id), eq(backupCopies.target, 'nas')));
    if (copy?.state !== 'stored') return [`the self-check's copy is ${copy?.state}`];
    await appendFile(path.join(nas, copy.objectKey), 'x');
    await writeFile(path.join(dumpDir(t, ctx.small.name), `.${row.fileName}.9.partial`), 'half');
    // Another row naming the same file, left running by a workflow Temporal never had.
    await ctx.fp.stack.db.db.insert(backups).values({
      ...row,
      id: randomUUID(),
      workflowId: `self-check-${randomUUID()}`,
      runId: randomUUID(),
      status: 'running',
    });

    const damaged = await audit(ctx, t);
    const want = { lost: 1, orphans: 1, duplicates: 1, stuck: 1, good: 0 };
    return Object.entries(want)
      .filter(([k, n]) => damaged[k as keyof typeof want] !== n)
      .map(
        ([k, n]) => `the audit counted ${damaged[k as keyof typeof want]} ${k}, not ${n}, after damage made on purpose`,
      );
  } finally {
    await t.worker.stop();
  }
}
