// Where a restored entry goes: a manifest path under the target folder, never outside it. Archive paths are
// untrusted (a backup may be damaged or forged): no absolute path, no `.`/`..` segment, and no folder on the way that
// is a link, so a restored link can never carry a later write out of the target.
import { lstat, mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { damagedArchive } from './archive.ts';

export function checkedPath(p: string): string {
  if (typeof p !== 'string' || p === '' || p.includes('\0') || p.startsWith('/'))
    throw damagedArchive(`the path '${String(p).slice(0, 200)}' is not a relative path`);
  for (const seg of p.split('/'))
    if (seg === '' || seg === '.' || seg === '..')
      throw damagedArchive(`the path '${p.slice(0, 200)}' leaves its folder`);
  return p;
}

export class Placer {
  readonly target: string;
  /** The last folder proven to be a real folder under the target (paths come in order, so most share it). */
  #proven: string | undefined;
  constructor(target: string) {
    this.target = path.resolve(target);
  }

  /** The absolute path of `p`, its parent folders made and proven to be folders, not links. */
  async place(p: string): Promise<string> {
    const segs = checkedPath(p).split('/');
    const parent = segs.slice(0, -1).join('/');
    if (parent && parent !== this.#proven) {
      let at = this.target;
      for (const seg of segs.slice(0, -1)) {
        at = path.join(at, seg);
        const st = await lstat(at).catch(() => undefined);
        if (!st) await mkdir(at, { mode: 0o700 });
        else if (!st.isDirectory()) {
          // A link, or a file where a folder now is: a folder is what this point of the backup has there.
          await rm(at, { recursive: true, force: true });
          await mkdir(at, { mode: 0o700 });
        }
      }
      this.#proven = parent;
    }
    return path.join(this.target, p);
  }

  /** Anything removed or replaced may have been a proven folder. */
  forget(): void {
    this.#proven = undefined;
  }
}
