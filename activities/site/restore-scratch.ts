// The databases restores make on the side, removed: a replacing restore's staging databases once it has failed or
// been cancelled, and a sweep of the staging and drill scratch databases that crashed runs left behind.
import { isDrillScratch, ownerOf, parseStagingName, restoreTag } from '../engines/restore-mark.ts';
import { asActivity } from '../failure.ts';
import type { SiteContext } from './context.ts';
import { stagingOf } from './restore-resume.ts';

export function createDropRestoreStaging(site: SiteContext) {
  /**
   * Drops every staging database of this restore (found by its tag), after stopping any restore tool of it that is
   * still running. Nothing of this restore's left is fine.
   */
  return async function dropRestoreStaging(input: { serverName: string; restoreId: string }): Promise<string[]> {
    return asActivity(async () => {
      const { conn, engine } = await site.engineFor(input.serverName);
      const owner = ownerOf(input.restoreId);
      await engine.endRestoreSessions?.(conn, owner.tag, { graceMs: 0 });
      const dropped = await stagingOf(conn, engine, owner);
      for (const name of dropped) await engine.dropDatabase(conn, name);
      if (dropped.length > 0)
        site.runLogger({ server: input.serverName }).info({ databases: dropped }, 'staging databases dropped');
      return dropped;
    });
  };
}

export function createSweepRestoreScratch(site: SiteContext) {
  /**
   * Drops staging (`bp_restore_<tag>_<time>`) and drill scratch (`<database>_drill_<digits>`) databases made before
   * `madeBefore`: older than every restore and drill still running, so no running one can be using them. Only
   * databases that carry the platform's mark (a drill's, for a drill's name) are considered; anything else keeps,
   * whatever its name.
   */
  return async function sweepRestoreScratch(input: { serverName: string; madeBefore: string }): Promise<string[]> {
    return asActivity(async () => {
      const { conn, engine } = await site.engineFor(input.serverName);
      if (!engine.readRestoreMark) return [];
      const before = Date.parse(input.madeBefore);
      const dropped: string[] = [];
      for (const name of await engine.listDatabases(conn)) {
        const staged = parseStagingName(name);
        if (!staged && !isDrillScratch(name)) continue;
        const mark = await engine.readRestoreMark(conn, name);
        // A restore's target may be named like a drill's scratch: only a drill's own mark lets it go.
        if (!mark || (!staged && !mark.drill)) continue;
        // The later of the two times: a name or a mark that claims to be old is not enough on its own.
        const made = Math.max(mark.at.getTime(), staged?.at.getTime() ?? 0);
        if (!(made < before)) continue;
        if (staged && staged.tag !== restoreTag(mark.restoreId)) continue;
        await engine.endRestoreSessions?.(conn, restoreTag(mark.restoreId), { graceMs: 0 });
        await engine.dropDatabase(conn, name);
        dropped.push(name);
      }
      if (dropped.length > 0)
        site
          .runLogger({ server: input.serverName })
          .info({ databases: dropped }, 'scratch databases of finished restores dropped');
      return dropped;
    });
  };
}
