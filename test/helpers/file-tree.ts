// A folder tree as a test sees it: every entry's type, mode, owner, size, mtime, link target and content hash, so a
// restored folder is compared with the source as it was when the backup was taken.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { lstat, readdir, readFile, readlink } from 'node:fs/promises';
import path from 'node:path';

export interface Snap {
  t: 'f' | 'd' | 'l';
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  sha?: string;
  link?: string;
}

/** Relative path → entry, for everything under `root` that `skip` (given the relative path) does not leave out. */
export async function snapshot(root: string, skip: (rel: string) => boolean = () => false): Promise<Map<string, Snap>> {
  const out = new Map<string, Snap>();
  async function walk(dir: string, rel: string): Promise<void> {
    for (const name of await readdir(dir)) {
      const r = rel ? `${rel}/${name}` : name;
      if (skip(r)) continue;
      const abs = path.join(dir, name);
      const st = await lstat(abs);
      const t = st.isDirectory() ? 'd' : st.isSymbolicLink() ? 'l' : 'f';
      const snap: Snap = {
        t,
        mode: st.mode & 0o7777,
        uid: st.uid,
        gid: st.gid,
        size: t === 'f' ? st.size : 0,
        mtime: st.mtimeMs,
      };
      if (t === 'f')
        snap.sha = createHash('sha256')
          .update(await readFile(abs))
          .digest('hex');
      if (t === 'l') snap.link = await readlink(abs);
      out.set(r, snap);
      if (t === 'd') await walk(abs, r);
    }
  }
  await walk(root, '');
  return out;
}

/** Same entries, content, modes, owners and links; mtimes within a millisecond (links' and folders' too). */
export function assertSameTree(actual: Map<string, Snap>, expected: Map<string, Snap>, what: string): void {
  const missing = [...expected.keys()].filter((k) => !actual.has(k));
  const extra = [...actual.keys()].filter((k) => !expected.has(k));
  assert.deepEqual({ missing, extra }, { missing: [], extra: [] }, `${what}: entries`);
  for (const [k, e] of expected) {
    const a = actual.get(k)!;
    const { mtime: am, ...ar } = a;
    const { mtime: em, ...er } = e;
    assert.deepEqual(ar, er, `${what}: ${k}`);
    assert.ok(Math.abs(am - em) < 1, `${what}: ${k} mtime ${am} vs ${em}`);
  }
}
