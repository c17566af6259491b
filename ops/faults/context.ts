// What every scenario shares: the platform, the source databases, and the steps each repeats through the API (a
// tenant with its site, worker and configuration; a run-now; waiting until every run has ended).
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { WorkflowNotFoundError } from '@temporalio/client';
import { eq } from 'drizzle-orm';
import postgres from 'postgres';
import { backups, restores } from '../../db/schema.ts';
import type { SiteConfigInput } from '../../activities/site-config.ts';
import { createConfig, setUpSite, signup } from '../dev/fixtures.ts';
import type { SiteWorkerProcess } from '../dev/site-worker.ts';
import { waitFor } from '../dev/wait.ts';
import { createTempDatabase } from '../services/pg.ts';
import type { FaultPlatform } from './platform.ts';

export type Source = Awaited<ReturnType<typeof createTempDatabase>> & { rows: number };

export interface FaultContext {
  fp: FaultPlatform;
  quick: boolean;
  log(msg: string): void;
  /** A database whose dump takes seconds (barely compressible rows), and a tiny one. */
  big: Source;
  small: Source;
}

/** Random hex rows: their dump barely compresses, so its file grows steadily and its size is predictable. */
export async function createSource(rows: number): Promise<Source> {
  const db = await createTempDatabase('bp_fault');
  const sql = postgres(db.url, { max: 1, onnotice: () => {} });
  try {
    const data = Array.from({ length: 8 }, () => 'md5(random()::text)').join(' || ');
    await sql.unsafe(`create table blobs (id int primary key, data text not null);
      insert into blobs select g, ${data} from generate_series(1, ${rows}) g;`);
  } finally {
    await sql.end();
  }
  return { ...db, rows };
}

export interface Tenant {
  token: string;
  tenantId: string;
  serverId: string;
  backupsDir: string;
  /** Local destinations by name → folder. */
  destDirs: Record<string, string>;
  destIds: Record<string, string>;
  siteConfig: SiteConfigInput;
  worker: SiteWorkerProcess;
  /** SIGKILL the site worker, as a crash would. */
  killWorker(): Promise<void>;
  /** A new site worker with the same configuration (the old one is killed if it still runs). */
  restartWorker(): Promise<void>;
}

/** A tenant of its own per scenario: its history, files and runs are the scenario's alone. */
export async function newTenant(
  ctx: FaultContext,
  name: string,
  opts: { backupsDir?: string; destinations?: Record<string, { path: string; maxBytesPerSecond?: number }> } = {},
): Promise<Tenant> {
  const { stack } = ctx.fp;
  const { token, tenantId } = await signup(stack);
  const backupsDir = opts.backupsDir ?? path.join(ctx.fp.tmp, name, 'site');
  await mkdir(backupsDir, { recursive: true });
  const destinations: Record<string, { type: 'local'; path: string; maxBytesPerSecond?: number }> = {};
  for (const [n, d] of Object.entries(opts.destinations ?? {})) {
    await mkdir(d.path, { recursive: true });
    destinations[n] = { type: 'local', ...d };
  }
  const set = await setUpSite(stack, token, { backupsDir, destinations });
  const t: Tenant = {
    token,
    tenantId,
    serverId: set.server.id,
    backupsDir,
    destDirs: Object.fromEntries(Object.entries(destinations).map(([n, d]) => [n, d.path])),
    destIds: Object.fromEntries(Object.entries(set.destinations).map(([n, d]) => [n, d.id])),
    siteConfig: set.siteConfig,
    worker: set.worker,
    killWorker: () => t.worker.kill(),
    restartWorker: async () => {
      await t.worker.kill();
      t.worker = await stack.startSiteWorker(set.siteConfig);
    },
  };
  return t;
}

export async function configFor(
  ctx: FaultContext,
  t: Tenant,
  database: string,
  extra: Record<string, unknown> = {},
): Promise<string> {
  const destinations = Object.values(t.destIds).map((destinationId) => ({
    destinationId,
    retention: { keepLast: 5 },
  }));
  const cfg = await createConfig(ctx.fp.stack, t.token, {
    serverId: t.serverId,
    databases: [database],
    keepLocal: 5,
    destinations,
    ...extra,
  });
  return cfg.id as string;
}

/** Asks for a run now; answers the HTTP status (202 started, 409 one is running). */
export async function runNow(ctx: FaultContext, t: Tenant, configId: string): Promise<number> {
  const res = await ctx.fp.stack.api('POST', `/api/v1/configs/${configId}/run`, { token: t.token });
  if (res.status !== 202 && res.status !== 409)
    throw new Error(`run now: HTTP ${res.status} ${JSON.stringify(res.body)}`);
  return res.status;
}

export const backupRows = (ctx: FaultContext, t: Tenant) =>
  ctx.fp.stack.db.db.select().from(backups).where(eq(backups.tenantId, t.tenantId));

export const restoreRows = (ctx: FaultContext, t: Tenant) =>
  ctx.fp.stack.db.db.select().from(restores).where(eq(restores.tenantId, t.tenantId));

/** Whether Temporal still runs the workflow; one Temporal does not know has ended, one it cannot answer for has not. */
export async function workflowRunning(ctx: FaultContext, workflowId: string): Promise<boolean> {
  try {
    const d = await ctx.fp.stack.temporal.client.workflow.getHandle(workflowId).describe();
    return d.status.name === 'RUNNING';
  } catch (err) {
    return !isNotFound(err);
  }
}

/** Temporal does not know the workflow (the client's own error, or the service's NOT_FOUND status). */
export const isNotFound = (err: unknown) =>
  err instanceof WorkflowNotFoundError || (err as { code?: number }).code === 5 || /NOT_FOUND/.test(String(err));

/** Whether the tenant has at least `rows` backup rows and every run it has (backups and restores) has ended. */
export async function runsEnded(ctx: FaultContext, t: Tenant, rows = 1): Promise<boolean> {
  const b = await backupRows(ctx, t);
  if (b.length < rows) return false;
  const ids = new Set([...b.map((r) => r.workflowId), ...(await restoreRows(ctx, t)).map((r) => r.workflowId)]);
  for (const id of ids) if (await workflowRunning(ctx, id)) return false;
  return true;
}

/** A row left `running` after its run ended is not waited for: the audit counts it as stuck. */
export async function waitRunsEnded(ctx: FaultContext, t: Tenant, rows = 1, timeoutMs = 240_000): Promise<void> {
  try {
    await waitFor(() => runsEnded(ctx, t, rows), timeoutMs, `the runs of tenant ${t.tenantId} to end`);
  } catch (err) {
    throw new Error(`${err instanceof Error ? err.message : String(err)}; ${await whatRunsWaitOn(ctx, t)}`);
  }
}

/** A run that does not end: which activity it waits on, in which attempt, and since when. */
async function whatRunsWaitOn(ctx: FaultContext, t: Tenant): Promise<string> {
  const waits: string[] = [];
  for (const id of new Set((await backupRows(ctx, t)).map((r) => r.workflowId))) {
    const d = await ctx.fp.stack.temporal.client.workflow
      .getHandle(id)
      .describe()
      .catch(() => undefined);
    for (const a of d?.raw.pendingActivities ?? []) {
      const since = a.lastStartedTime?.seconds ? new Date(Number(a.lastStartedTime.seconds) * 1000) : undefined;
      waits.push(
        `${id} waits on ${a.activityType?.name} (attempt ${a.attempt}, started ${since?.toISOString() ?? 'never'})`,
      );
    }
  }
  return waits.join('; ') || 'no pending activity';
}

/** The folder a server's dumps of one database land in at the site. */
export const dumpDir = (t: Tenant, database: string) => path.join(t.backupsDir, 'main-pg', database);

/**
 * The highest attempt Temporal started for an activity type in a run (0 when it never started): 2 or more proves the
 * fault interrupted that activity and it was retried, rather than falling between two steps.
 */
export async function highestAttempt(ctx: FaultContext, workflowId: string, activityType: string): Promise<number> {
  const events = (await ctx.fp.stack.temporal.client.workflow.getHandle(workflowId).fetchHistory()).events ?? [];
  const scheduled = new Set(
    events
      .filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === activityType)
      .map((e) => Number(e.eventId)),
  );
  let highest = 0;
  for (const e of events) {
    const started = e.activityTaskStartedEventAttributes;
    if (started && scheduled.has(Number(started.scheduledEventId))) highest = Math.max(highest, started.attempt ?? 0);
  }
  return highest;
}
