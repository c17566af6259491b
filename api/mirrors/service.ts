// Object mirrors: each row owns one Temporal schedule, written in the row's transaction (taken back if it fails).
import { and, desc, eq } from 'drizzle-orm';
import { conflict, invalid } from '../../common/errors.ts';
import type { Tx } from '../../db/client.ts';
import { objectMirrorRuns, objectMirrors, objectMirrorVersions, servers } from '../../db/schema.ts';
import type { MirrorVersionState } from '../../common/mirror.ts';
import type { AuthContext } from '../auth/tokens.ts';
import { uniqueViolation } from '../lib/errors.ts';
import type { Services } from '../lib/services.ts';
import { audit, findOwned } from '../lib/tenancy.ts';
import { withScheduleWrites, type ScheduleWrites } from '../temporal/schedule-writes.ts';
import { removeMirrorSchedule, runMirrorNow, upsertMirrorSchedule } from './schedule.ts';
import { fullLayout, type MirrorCreateInput, type MirrorPatchInput, type MirrorRow } from './schemas.ts';

const owned = (tx: Services['db'] | Tx, id: string, tenantId: string) =>
  findOwned(tx, objectMirrors, id, tenantId, 'object mirror');

const withSchedule = <T>(s: Services, id: string | undefined, work: (tx: Tx, writes: ScheduleWrites) => Promise<T>) =>
  withScheduleWrites(s.db, s.logger, { mirror_id: id }, work).catch((err: unknown) => {
    throw uniqueViolation(err) ? conflict('an object mirror with this name exists') : err;
  });

/** The mirror's server must read as SQL: a PostgreSQL or MariaDB server of the tenant. */
async function sync(s: Services, tx: Tx, row: MirrorRow, writes: ScheduleWrites): Promise<void> {
  const [server] = await tx.select().from(servers).where(eq(servers.id, row.serverId));
  if (server!.engine !== 'postgresql' && server!.engine !== 'mariadb')
    throw invalid(`an object mirror reads a PostgreSQL or MariaDB server, not ${server!.engine}`, 'serverId');
  await upsertMirrorSchedule(
    s.temporal.client,
    s.centralTaskQueue,
    { ...row, siteId: server!.siteId, serverName: server!.name },
    writes,
  );
}

export const list = (s: Services, tenantId: string) =>
  s.db.select().from(objectMirrors).where(eq(objectMirrors.tenantId, tenantId)).orderBy(objectMirrors.name);

export const get = (s: Services, id: string, tenantId: string) => owned(s.db, id, tenantId);

export function create(s: Services, auth: AuthContext, input: MirrorCreateInput): Promise<MirrorRow> {
  return withSchedule(s, undefined, async (tx, writes) => {
    await findOwned(tx, servers, input.serverId, auth.tenantId, 'server');
    const [row] = await tx
      .insert(objectMirrors)
      .values({ ...input, layout: fullLayout(input.layout), tenantId: auth.tenantId })
      .returning();
    await audit(tx, auth, 'mirror.create', { type: 'object_mirror', id: row!.id }, { name: row!.name });
    await sync(s, tx, row!, writes);
    return row!;
  });
}

export function change(s: Services, auth: AuthContext, id: string, patch: MirrorPatchInput): Promise<MirrorRow> {
  return withSchedule(s, id, async (tx, writes) => {
    const before = await owned(tx, id, auth.tenantId);
    const [row] = await tx
      .update(objectMirrors)
      .set({ ...patch, layout: fullLayout({ ...before.layout, ...patch.layout }), updatedAt: new Date() })
      .where(eq(objectMirrors.id, id))
      .returning();
    await audit(tx, auth, 'mirror.update', { type: 'object_mirror', id }, { fields: Object.keys(patch) });
    await sync(s, tx, row!, writes);
    return row!;
  });
}

/** The mirror and its schedule go; the files at the site stay (deleting them is the site admin's decision). */
export async function remove(s: Services, auth: AuthContext, id: string): Promise<void> {
  await withSchedule(s, id, async (tx) => {
    const m = await owned(tx, id, auth.tenantId);
    await tx.delete(objectMirrors).where(eq(objectMirrors.id, id));
    await audit(tx, auth, 'mirror.delete', { type: 'object_mirror', id }, { name: m.name });
    await removeMirrorSchedule(s.temporal.client, id);
  });
}

export async function runNow(s: Services, auth: AuthContext, id: string): Promise<void> {
  await owned(s.db, id, auth.tenantId);
  await runMirrorNow(s.temporal.client, id);
  await audit(s.db, auth, 'mirror.run', { type: 'object_mirror', id });
}

export const runs = (s: Services, id: string, tenantId: string, limit: number) =>
  s.db
    .select()
    .from(objectMirrorRuns)
    .where(and(eq(objectMirrorRuns.mirrorId, id), eq(objectMirrorRuns.tenantId, tenantId)))
    .orderBy(desc(objectMirrorRuns.startedAt))
    .limit(limit);

export const versions = (s: Services, id: string, tenantId: string, state: MirrorVersionState | undefined) =>
  s.db
    .select()
    .from(objectMirrorVersions)
    .where(
      and(
        eq(objectMirrorVersions.mirrorId, id),
        eq(objectMirrorVersions.tenantId, tenantId),
        state ? eq(objectMirrorVersions.state, state) : undefined,
      ),
    )
    .orderBy(objectMirrorVersions.bucket, objectMirrorVersions.path, objectMirrorVersions.version)
    .limit(5000);
