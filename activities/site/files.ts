// The site's backup files: a finished dump published under its final name in one step, the partial files of
// attempts that died cleaned away, and a file's SHA-256.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { link, readdir, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { partialName } from '../storage/storage.ts';

/** What link() answers on a file system that has no hard links. */
const NO_HARD_LINKS = new Set(['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS']);

/** A partial file untouched for this long belongs to an attempt that died; prune removes it. */
const STALE_PARTIAL_MS = 60 * 60 * 1000;

/**
 * Gives a finished partial file its final name, unless another attempt of the run published first (false). With
 * link, not rename: it fails rather than replace a published file. (ENOENT: a later attempt published and removed
 * this one's partial file.)
 */
export async function publish(partial: string, finalPath: string): Promise<boolean> {
  const published = await link(partial, finalPath).then(
    () => true,
    async (e: NodeJS.ErrnoException) => {
      if (e.code === 'EEXIST' || e.code === 'ENOENT') return false;
      if (!NO_HARD_LINKS.has(e.code ?? '')) throw e;
      // A file system without hard links (FAT, some network shares): rename, unless a file is there already.
      if (
        await stat(finalPath).then(
          () => true,
          () => false,
        )
      )
        return false;
      await rename(partial, finalPath);
      return true;
    },
  );
  await rm(partial, { force: true });
  return published;
}

/** What earlier attempts of a dump left (a worker that died mid-dump); a later attempt's partial file is its own. */
export async function removeEarlierPartials(dir: string, fileName: string, attempt: number): Promise<void> {
  const attemptOf = (name: string) => {
    if (name === partialName(fileName)) return 0; // the name before attempts had their own
    const m = name.startsWith(`.${fileName}.`) ? /^\.(\d+)\.partial$/.exec(name.slice(fileName.length + 1)) : null;
    return m ? Number(m[1]) : undefined;
  };
  for (const name of await readdir(dir)) {
    const n = attemptOf(name);
    if (n !== undefined && n < attempt) await rm(path.join(dir, name), { force: true });
  }
}

/** Partial files of attempts that died long ago; a live attempt's partial file is younger than this. */
export async function sweepStalePartials(dirs: Set<string>): Promise<void> {
  for (const dir of dirs) {
    for (const name of (await readdir(dir).catch(() => [] as string[])).filter(
      (n) => n.startsWith('.') && n.endsWith('.partial'),
    )) {
      const s = await stat(path.join(dir, name)).catch(() => undefined);
      if (s && Date.now() - s.mtimeMs > STALE_PARTIAL_MS) await rm(path.join(dir, name), { force: true });
    }
  }
}

export async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}
