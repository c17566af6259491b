// Restores in the database and in Temporal: a restore row is written before its workflow starts, so every run has a
// row, and a row whose workflow could not start says so instead of staying "running".
import { and, desc, eq, inArray, lt } from 'drizzle-orm';
import { BackupError, invalid } from '../../common/errors.ts';
import { MONGODB_SYSTEM_DATABASES } from '../../common/model.ts';
import { restoreWorkflowId } from '../../common/names.ts';
import type { Db } from '../../db/client.ts';
import { backups, restores, servers } from '../../db/schema.ts';
import type { AuthContext } from '../auth/tokens.ts';
import type { Services } from '../lib/services.ts';
import { audit, findOwned } from '../lib/tenancy.ts';
import { temporalUnavailable } from '../temporal/errors.ts';
import type { RestoreCreateInput, RestoreListQuery } from './schemas.ts';

type RestoreRow = typeof restores.$inferSelect;

/** A backup restored to a server of the same engine, anywhere in the tenant; answers the row as it started. */
export async function start(s: Services, auth: AuthContext, input: RestoreCreateInput): Promise<RestoreRow> {
  const backup = await findOwned(s.db, backups, input.backupId, auth.tenantId, 'backup');
  if (backup.kind !== 'backup' || !backup.fileName)
    throw invalid('this history row has no backup file to restore', 'backupId');
  const server = await findOwned(s.db, servers, input.targetServerId ?? backup.serverId, auth.tenantId, 'server');
  const [source] = await s.db.select().from(servers).where(eq(servers.id, backup.serverId));
  if (source && source.engine !== server.engine)
    throw invalid(
      `the backup is a ${source.engine} dump; server '${server.name}' is ${server.engine}`,
      'targetServerId',
    );
  const targetDatabase = input.targetDatabase ?? backup.database;
  if (server.engine === 'mongodb' && MONGODB_SYSTEM_DATABASES.includes(targetDatabase))
    throw invalid(`'${targetDatabase}' is MongoDB's own database: restore into another name`, 'targetDatabase');
  const globals = input.applyGlobals ? await globalsOfRun(s.db, backup, server.engine) : undefined;
  const id = crypto.randomUUID();
  const workflowId = restoreWorkflowId(id);
  const [row] = await s.db
    .insert(restores)
    .values({
      id,
      tenantId: auth.tenantId,
      backupId: backup.id,
      configId: backup.configId,
      requestedBy: auth.userId,
      targetSiteId: server.siteId,
      targetServerId: server.id,
      targetDatabase,
      overwrite: input.overwrite,
      globalsBackupId: globals?.id ?? null,
      workflowId,
      status: 'running',
    })
    .returning();
  await audit(
    s.db,
    auth,
    'restore.start',
    { type: 'restore', id },
    {
      backupId: backup.id,
      server: server.name,
      database: row!.targetDatabase,
      overwrite: input.overwrite,
      ...(globals && { globalsBackupId: globals.id }),
    },
  );
  try {
    await s.runs.startRestore(id);
  } catch (err) {
    // No workflow will ever finish this row: it says why it failed rather than running forever.
    const failure = temporalUnavailable(err);
    await s.db
      .update(restores)
      .set({ status: 'failed', error: `the restore could not be started: ${failure.message}`, finishedAt: new Date() })
      .where(eq(restores.id, id));
    throw failure;
  }
  return row!;
}

/** The globals dumped by the backup's own run, with a file; a restore that asks for them and finds none is refused. */
async function globalsOfRun(db: Db, backup: typeof backups.$inferSelect, engine: string) {
  if (engine !== 'postgresql')
    throw invalid(`globals are PostgreSQL's roles and grants; the target server is ${engine}`, 'applyGlobals');
  const [row] = await db
    .select()
    .from(backups)
    .where(
      and(
        eq(backups.tenantId, backup.tenantId),
        eq(backups.runId, backup.runId),
        eq(backups.kind, 'globals'),
        inArray(backups.status, ['succeeded', 'partial']),
        eq(backups.availableForDownload, true),
      ),
    );
  if (!row?.fileName)
    throw invalid(
      'the run of this backup has no globals with a stored copy: turn on globals in the backup configuration (they are dumped from its next run on), or restore without applyGlobals',
      'applyGlobals',
    );
  return row;
}

export function list(db: Db, tenantId: string, q: RestoreListQuery): Promise<RestoreRow[]> {
  return db
    .select()
    .from(restores)
    .where(
      and(
        eq(restores.tenantId, tenantId),
        q.configId ? eq(restores.configId, q.configId) : undefined,
        q.kind ? eq(restores.kind, q.kind) : undefined,
        q.before ? lt(restores.startedAt, new Date(q.before)) : undefined,
      ),
    )
    .orderBy(desc(restores.startedAt))
    .limit(q.limit);
}

/** The restore tool is stopped and a database it created is removed (by the workflow's clean-up). */
export async function cancel(s: Services, auth: AuthContext, row: RestoreRow): Promise<void> {
  if (row.status !== 'running') throw new BackupError('conflict', `the restore is ${row.status}`);
  await s.runs.cancel(row.workflowId);
  await audit(s.db, auth, 'restore.cancel', { type: 'restore', id: row.id });
}
