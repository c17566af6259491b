// A configuration's health from the history: its last backup and last good one, its last drill and last good one
// (with the measured restore time), and when a copy of it was last read back.
import { and, desc, eq, inArray, sql } from 'drizzle-orm';
import type { Db } from '../../db/client.ts';
import { backupCopies, backups, restores } from '../../db/schema.ts';

export async function health(db: Db, configId: string) {
  const [last] = await db
    .select()
    .from(backups)
    .where(and(eq(backups.configId, configId), eq(backups.kind, 'backup')))
    .orderBy(desc(backups.startedAt))
    .limit(1);
  const [good] = await db
    .select()
    .from(backups)
    .where(
      and(
        eq(backups.configId, configId),
        eq(backups.kind, 'backup'),
        inArray(backups.status, ['succeeded', 'partial']),
      ),
    )
    .orderBy(desc(backups.startedAt))
    .limit(1);
  const [drill] = await db
    .select()
    .from(restores)
    .where(and(eq(restores.configId, configId), eq(restores.kind, 'drill'), sql`${restores.status} <> 'running'`))
    .orderBy(desc(restores.startedAt))
    .limit(1);
  const [goodDrill] = await db
    .select()
    .from(restores)
    .where(and(eq(restores.configId, configId), eq(restores.kind, 'drill'), eq(restores.status, 'succeeded')))
    .orderBy(desc(restores.startedAt))
    .limit(1);
  const [verified] = await db
    .select({ at: sql<string | null>`max(${backupCopies.checkedAt})` })
    .from(backupCopies)
    .innerJoin(backups, eq(backups.id, backupCopies.backupId))
    .where(eq(backups.configId, configId));
  return {
    lastBackup: last ? { at: last.startedAt.toISOString(), status: last.status } : null,
    lastSuccessfulBackupAt: good ? good.startedAt.toISOString() : null,
    lastDrill: drill ? { at: drill.startedAt.toISOString(), status: drill.status, error: drill.error } : null,
    lastSuccessfulDrill: goodDrill
      ? {
          at: goodDrill.startedAt.toISOString(),
          restoreSeconds: goodDrill.restoreSeconds,
          backupId: goodDrill.backupId,
        }
      : null,
    lastVerifiedAt: verified?.at ? new Date(verified.at).toISOString() : null,
  };
}
