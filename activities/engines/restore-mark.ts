// How the platform recognises databases it made while restoring: the mark it leaves on them (a database comment
// naming the restore), the tag that names a restore's staging database and its tool's sessions, and the staging
// names themselves. A retry finds its own earlier work by these, and the sweep touches nothing that lacks them.
import { createHash } from 'node:crypto';

/**
 * Who is restoring into a database: the restore's id, a short tag derived from it for names, and whether it is a
 * drill (whose database is scratch, dropped after the checks).
 */
export interface RestoreOwner {
  restoreId: string;
  tag: string;
  drill: boolean;
}

/** What the mark on a database says. `done`: the engine's restore tool ran to its end (engines that need it). */
export interface RestoreMark {
  restoreId: string;
  drill: boolean;
  at: Date;
  done: boolean;
}

const MARK =
  /^backup-platform (restore|drill) ([0-9A-Za-z-]{1,64}) at (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z)( done)?$/;
const STAGING = /^bp_restore_([0-9a-f]{16})_(\d{14})$/;

/** 16 hex characters: a restore's UUID without its dashes, or a hash of any other id. */
export function restoreTag(restoreId: string): string {
  const hex = restoreId.replaceAll('-', '').toLowerCase();
  if (/^[0-9a-f]{32}$/.test(hex)) return hex.slice(0, 16);
  return createHash('sha256').update(restoreId).digest('hex').slice(0, 16);
}

export const ownerOf = (restoreId: string, drill = false): RestoreOwner => ({
  restoreId,
  tag: restoreTag(restoreId),
  drill,
});

/** The text of the mark; only characters that need no quoting in any engine's string literal. */
export const markText = (owner: RestoreOwner, at: Date, done = false) => {
  if (!/^[0-9A-Za-z-]{1,64}$/.test(owner.restoreId))
    throw new Error(`'${owner.restoreId}' cannot name a restore in a mark`);
  return `backup-platform ${owner.drill ? 'drill' : 'restore'} ${owner.restoreId} at ${at.toISOString()}${done ? ' done' : ''}`;
};

export function parseMark(text: string | null | undefined): RestoreMark | undefined {
  const m = MARK.exec(text ?? '');
  return m ? { drill: m[1] === 'drill', restoreId: m[2]!, at: new Date(m[3]!), done: !!m[4] } : undefined;
}

/**
 * The database a replacing restore fills before it takes the target's name: the restore's tag (so every attempt and
 * the cleanup find it) and the time it was made (UTC, so an old one is told from a fresh one by name alone).
 */
export function stagingName(tag: string, at: Date): string {
  return `bp_restore_${tag}_${at
    .toISOString()
    .replace(/[^0-9]/g, '')
    .slice(0, 14)}`;
}

export function parseStagingName(name: string): { tag: string; at: Date } | undefined {
  const m = STAGING.exec(name);
  if (!m) return undefined;
  const d = m[2]!;
  const at = new Date(
    `${d.slice(0, 4)}-${d.slice(4, 6)}-${d.slice(6, 8)}T${d.slice(8, 10)}:${d.slice(10, 12)}:${d.slice(12)}Z`,
  );
  return Number.isNaN(at.getTime()) ? undefined : { tag: m[1]!, at };
}

/** A drill's scratch database (`<database>_drill_<digits>`, planned centrally). */
export const isDrillScratch = (name: string) => /_drill_\d{8,}$/.test(name);

/** The name the restore tool's sessions carry, so a later attempt can find them on the server. */
export const sessionName = (tag: string) => `bp-restore-${tag}`;
