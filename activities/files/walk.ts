// The walk of a file backup's folders: lstat of every entry, depth first, each folder's names sorted, so entries come
// in manifest order (comparePaths) and only the names of the folders on the current path are held in memory.
import { lstat, readdir, readlink } from 'node:fs/promises';
import { lstatSync, type Stats } from 'node:fs';
import path from 'node:path';
import { invalid } from '../../common/errors.ts';
import type { PathFilter } from './glob.ts';
import { comparePaths, type Entry } from './manifest.ts';

export interface Walked {
  entry: Entry;
  /** Where it is read from. */
  abs: string;
}

export interface WalkWarning {
  path: string;
  reason: string;
}

/** The configured roots, absolute and normalised, sorted, with any root inside another dropped. */
export function normaliseRoots(roots: string[]): string[] {
  if (roots.length === 0) throw invalid('name at least one folder to back up', 'paths');
  const norm = roots.map((r) => {
    if (!path.isAbsolute(r) || r.includes('\0')) throw invalid(`'${r}' is not an absolute path`, 'paths');
    const n = path.posix.normalize(r).replace(/\/+$/, '');
    if (n === '') throw invalid('back up the folders under /, not / itself', 'paths');
    return n;
  });
  const sorted = [...new Set(norm)].sort((a, b) => comparePaths(a.slice(1), b.slice(1)));
  return sorted.filter((r, i) => !sorted.slice(0, i).some((o) => r.startsWith(`${o}/`)));
}

const entryOf = (p: string, st: Stats, t: Entry['t'], l?: string): Entry => ({
  p,
  t,
  s: t === 'f' ? st.size : 0,
  m: st.mtimeMs,
  mode: st.mode & 0o7777,
  uid: st.uid,
  gid: st.gid,
  ...(l !== undefined && { l }),
});

export async function* walkRoots(
  roots: string[],
  filter: PathFilter,
  warn: (w: WalkWarning) => void,
): AsyncGenerator<Walked> {
  for (const root of normaliseRoots(roots)) {
    const st = await lstat(root).catch((e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT') throw invalid(`folder ${root} does not exist at the site`, 'paths');
      throw e;
    });
    if (!st.isDirectory()) throw invalid(`${root} is not a folder`, 'paths');
    yield* walkDir(root, root.slice(1), '', st, filter, warn);
  }
}

async function* walkDir(
  abs: string,
  p: string,
  rel: string,
  st: Stats,
  filter: PathFilter,
  warn: (w: WalkWarning) => void,
): AsyncGenerator<Walked> {
  yield { entry: entryOf(p, st, 'd'), abs };
  let names: string[];
  try {
    names = await readdir(abs);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return; // removed while walked: the next backup records it gone
    warn({ path: p, reason: `folder not readable (${code})` });
    return;
  }
  names.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  for (const name of names) {
    const childAbs = `${abs}/${name}`;
    const childP = `${p}/${name}`;
    const childRel = rel ? `${rel}/${name}` : name;
    // Blocking: one lstat is cheaper than a round trip to the thread pool.
    let cst: Stats | undefined;
    try {
      cst = lstatSync(childAbs, { throwIfNoEntry: false });
    } catch (e) {
      warn({ path: childP, reason: `not readable (${(e as NodeJS.ErrnoException).code})` });
    }
    if (!cst) continue; // gone between readdir and lstat
    if (cst.isDirectory()) {
      if (filter.keepDir(childRel)) yield* walkDir(childAbs, childP, childRel, cst, filter, warn);
    } else if (!filter.keepFile(childRel)) continue;
    else if (cst.isFile()) yield { entry: entryOf(childP, cst, 'f'), abs: childAbs };
    else if (cst.isSymbolicLink()) {
      const target = await readlink(childAbs).catch(() => undefined);
      if (target !== undefined) yield { entry: entryOf(childP, cst, 'l', target), abs: childAbs };
    } else warn({ path: childP, reason: 'not a file, folder or link (socket, pipe or device): left out' });
  }
}
