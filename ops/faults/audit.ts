// The real state of one tenant after a scenario, counted against its history: rows in the metadata database, files
// on disk hashed against the recorded SHA-256, and each run's status and history in Temporal.
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { eq } from 'drizzle-orm';
import { sha256File } from '../../activities/site/files.ts';
import { backupCopies } from '../../db/schema.ts';
import { backupRows, isNotFound, restoreRows, workflowRunning, type FaultContext, type Tenant } from './context.ts';

export interface Audit {
  /** Backup runs (workflows) the history knows. */
  runs: number;
  /** Rows recorded good whose every stored copy is on disk with its recorded SHA-256. */
  good: number;
  /** More than one row for a run's database, or two rows naming one file. */
  duplicates: number;
  /** Files at the site or a destination that no history row names, partial files among them. */
  orphans: number;
  /** Rows (backups, restores) still `running` whose workflow has ended. */
  stuck: number;
  /** Good rows whose file is gone or changed, and complete dumps a run made and then deleted. */
  lost: number;
  /** What each non-zero count is made of, for the report. */
  details: string[];
}

const GOOD = new Set(['succeeded', 'partial']);

export async function audit(ctx: FaultContext, t: Tenant): Promise<Audit> {
  const rows = (await backupRows(ctx, t)).filter((r) => r.kind === 'backup');
  const copies = await ctx.fp.stack.db.db.select().from(backupCopies).where(eq(backupCopies.tenantId, t.tenantId));
  const details: string[] = [];
  const a: Audit = {
    // Runs by run id: the schedule names its workflows to the second, so runs started in one second share a workflow id.
    runs: new Set(rows.map((r) => r.runId)).size,
    good: 0,
    duplicates: 0,
    orphans: 0,
    stuck: 0,
    lost: 0,
    details,
  };

  const perRunDb = countBy(rows.map((r) => `${r.workflowId} (run ${r.runId}) ${r.database}`));
  const perFile = countBy(rows.flatMap((r) => (r.fileName ? [r.fileName] : [])));
  for (const [key, n] of [...perRunDb, ...perFile]) {
    if (n < 2) continue;
    a.duplicates += n - 1;
    details.push(`duplicate: ${n} rows for ${key}`);
  }

  // Where each copy the history keeps lives on disk.
  const fileOf = (target: string, key: string) => {
    const root = target === 'site' ? t.backupsDir : t.destDirs[target];
    return root ? path.join(root, key) : undefined;
  };
  const named = new Set(
    copies.filter((c) => c.state !== 'deleted').flatMap((c) => fileOf(c.target, c.objectKey) ?? []),
  );
  for (const root of [t.backupsDir, ...Object.values(t.destDirs)])
    for (const file of await filesUnder(root))
      if (!named.has(file)) {
        a.orphans++;
        details.push(`orphan: ${file}`);
      }

  for (const r of rows.filter((x) => GOOD.has(x.status))) {
    const stored = copies.filter((c) => c.backupId === r.id && c.state === 'stored');
    let intact = stored.length > 0;
    for (const c of stored) {
      const file = fileOf(c.target, c.objectKey);
      const sha = file ? await sha256File(file).catch(() => 'gone') : 'not a local copy';
      if (sha === (c.sha256 ?? r.sha256)) continue;
      intact = false;
      details.push(`lost: ${c.target} copy of ${r.fileName} is ${sha === 'gone' ? 'gone' : 'changed'}`);
    }
    if (intact) a.good++;
    else a.lost++;
  }
  a.lost += await dumpsThrownAway(ctx, rows, details);

  for (const r of [...rows, ...(await restoreRows(ctx, t))])
    if (r.status === 'running' && !(await workflowRunning(ctx, r.workflowId))) {
      a.stuck++;
      details.push(`stuck: row of ${r.workflowId} is running, its workflow has ended`);
    }
  return a;
}

/** A run whose dump activity completed but that recorded fewer good rows than dumps made a backup and deleted it. */
async function dumpsThrownAway(
  ctx: FaultContext,
  rows: { workflowId: string; runId: string; status: string }[],
  details: string[],
): Promise<number> {
  let lost = 0;
  const runs = new Map(rows.map((r) => [r.runId, r.workflowId]));
  for (const [runId, workflowId] of runs) {
    const history = await ctx.fp.stack.temporal.client.workflow
      .getHandle(workflowId, runId)
      .fetchHistory()
      .catch((err: unknown) => {
        // A row whose workflow Temporal never had made no dump; the stuck count sees the row.
        if (isNotFound(err)) return { events: [] };
        throw err;
      });
    const events = history.events ?? [];
    const dumpIds = new Set(
      events
        .filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'dump')
        .map((e) => Number(e.eventId)),
    );
    const dumped = events.filter(
      (e) =>
        e.activityTaskCompletedEventAttributes &&
        dumpIds.has(Number(e.activityTaskCompletedEventAttributes.scheduledEventId)),
    ).length;
    const kept = rows.filter((r) => r.runId === runId && GOOD.has(r.status)).length;
    if (dumped > kept) {
      lost += dumped - kept;
      details.push(`lost: ${workflowId} completed ${dumped} dump(s) but recorded ${kept} good`);
    }
  }
  return lost;
}

function countBy(keys: string[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const k of keys) m.set(k, (m.get(k) ?? 0) + 1);
  return m;
}

async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true }).catch(() => []);
  return entries.filter((e) => e.isFile()).map((e) => path.join(e.parentPath, e.name));
}
