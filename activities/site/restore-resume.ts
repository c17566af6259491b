// A restore attempt that follows one whose worker died: the earlier attempt's tool may have lived on and finished the
// work, or left a half-filled database. Both are found by the restore's mark and tag (engines/restore-mark.ts).
import type { DatabaseEngine } from '../engines/engine.ts';
import { parseStagingName, type RestoreMark, type RestoreOwner } from '../engines/restore-mark.ts';
import type { ServerConnection } from '../site-config.ts';

/** How long a retry lets an earlier attempt's restore tool run on before stopping it (it may be about to commit). */
export const EARLIER_TOOL_GRACE_MS = Number(process.env.BP_RESTORE_EARLIER_GRACE_MS ?? 10 * 60_000);

/** What the earlier attempts left: the restore already complete (since when), or nothing in the way of this one. */
export type Resumed = { finished: true; mark: RestoreMark | undefined } | { finished: false };

/**
 * First, no earlier attempt's tool writes any longer (it is let finish, then stopped). Then a target this restore
 * marked and finished is the result; a complete staging database of this restore takes the target's name (the
 * attempt died between the restore and the swap); everything else this restore left half done is removed.
 * Databases without this restore's mark are never touched here: "has tables" is judged afterwards as always.
 */
export async function resumeEarlierAttempt(
  conn: ServerConnection,
  engine: DatabaseEngine,
  target: { database: string; overwrite: boolean },
  owner: RestoreOwner,
  signal: AbortSignal,
): Promise<Resumed> {
  if (!engine.endRestoreSessions || !engine.ownRestore) return { finished: false };
  await engine.endRestoreSessions(conn, owner.tag, { graceMs: EARLIER_TOOL_GRACE_MS, signal });
  const staged = await stagingOf(conn, engine, owner);
  const own = (await engine.databaseExists(conn, target.database))
    ? await engine.ownRestore(conn, target.database, owner.restoreId)
    : undefined;
  if (own === 'finished') {
    for (const s of staged) await engine.dropDatabase(conn, s);
    return { finished: true, mark: await engine.readRestoreMark?.(conn, target.database) };
  }
  let swapped: string | undefined;
  for (const s of staged) {
    if (
      !swapped &&
      target.overwrite &&
      engine.swapIn &&
      (await engine.ownRestore(conn, s, owner.restoreId)) === 'finished'
    ) {
      await engine.swapIn(conn, s, target.database);
      swapped = s;
    } else await engine.dropDatabase(conn, s);
  }
  if (swapped) return { finished: true, mark: await engine.readRestoreMark?.(conn, target.database) };
  // Half restored by this restore (MariaDB commits as it goes): it goes, and the restore starts over.
  if (own === 'unfinished' && (await engine.hasTables(conn, target.database)))
    await engine.dropDatabase(conn, target.database);
  return { finished: false };
}

/** This restore's staging databases: its tag in the name is enough, as the tag is its id's. */
export async function stagingOf(
  conn: ServerConnection,
  engine: DatabaseEngine,
  owner: RestoreOwner,
): Promise<string[]> {
  return (await engine.listDatabases(conn)).filter((n) => parseStagingName(n)?.tag === owner.tag);
}
