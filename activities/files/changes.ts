// What a backup must carry for each entry of the tree: the walk and the base backup's manifest read side by side
// (both in manifest order), so neither is held in memory. Size and mtime decide first; content is hashed only where
// they differ, and a file whose content hashes the same is carried as a metadata change.
import { comparePaths, isUnder, sameMeta, type Entry } from './manifest.ts';
import type { Walked } from './walk.ts';

export type Change =
  /** Content to archive (new, changed, or every file of a full backup). */
  | { kind: 'put'; w: Walked }
  /** Same size, other mtime: hash first, archive only if the content differs from the base's. */
  | { kind: 'check'; w: Walked; base: Entry }
  /** No content: a folder, a link, or a file whose content is the base's (`base` carries its hash). */
  | { kind: 'meta'; w: Walked; base?: Entry }
  /** Nothing changed that a restore needs: only the manifest records it. */
  | { kind: 'same'; w: Walked; base: Entry }
  /** In the base, gone now (with everything under it). */
  | { kind: 'del'; p: string };

function classify(w: Walked, base: Entry | undefined): Change {
  const e = w.entry;
  if (!base || base.t !== e.t) return e.t === 'f' ? { kind: 'put', w } : { kind: 'meta', w };
  if (e.t === 'f') {
    if (e.s === base.s && e.m === base.m)
      return sameMeta(e, base) ? { kind: 'same', w, base } : { kind: 'meta', w, base };
    return e.s === base.s && base.h ? { kind: 'check', w, base } : { kind: 'put', w };
  }
  return sameMeta(e, base) ? { kind: 'same', w, base } : { kind: 'meta', w, base };
}

/** Without a base (a full backup) every file is content and everything else metadata. */
export async function* compareTrees(
  walk: AsyncIterable<Walked>,
  base: AsyncIterable<Entry> | undefined,
): AsyncGenerator<Change> {
  const it = base?.[Symbol.asyncIterator]();
  let b: Entry | undefined;
  const advance = async () => {
    const r = it ? await it.next() : { done: true as const, value: undefined };
    b = r.done ? undefined : r.value;
  };
  await advance();
  /** A base entry deleted or replaced by a non-folder: what was under it goes with it. */
  let gone: string | undefined;
  async function* deletedBefore(p: string | undefined): AsyncGenerator<Change> {
    while (b && (p === undefined || comparePaths(b.p, p) < 0)) {
      if (gone === undefined || !isUnder(b.p, gone)) {
        yield { kind: 'del', p: b.p };
        gone = b.p;
      }
      await advance();
    }
  }
  for await (const w of walk) {
    yield* deletedBefore(w.entry.p);
    let match: Entry | undefined;
    if (b && b.p === w.entry.p) {
      match = b;
      await advance();
      if (match.t === 'd' && w.entry.t !== 'd') gone = match.p;
    }
    yield it ? classify(w, match) : w.entry.t === 'f' ? { kind: 'put', w } : { kind: 'meta', w };
  }
  yield* deletedBefore(undefined);
}
