// The last step of a file restore: the manifest of the restored point applied to the target (owners, modes, times,
// in manifest order) and every entry checked against it: present, of its type, of its size, and with `verify`, of its
// content's SHA-256. A restore that does not match its manifest fails.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { chmod, lchown, lstat, lutimes, utimes } from 'node:fs/promises';
import { BackupError } from '../../common/errors.ts';
import { isUnder, readManifest, type Entry } from './manifest.ts';
import type { Placer } from './place.ts';

export interface ApplyReport {
  entries: number;
  files: number;
  bytes: number;
}

const MAX_PROBLEMS = 20;

async function sha256(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

async function checkEntry(e: Entry, abs: string, verify: boolean): Promise<string | undefined> {
  const st = await lstat(abs).catch(() => undefined);
  if (!st) return `${e.p}: missing`;
  const type = st.isDirectory() ? 'd' : st.isSymbolicLink() ? 'l' : st.isFile() ? 'f' : '?';
  if (type !== e.t) return `${e.p}: a ${type}, not a ${e.t}`;
  if (e.t === 'f' && st.size !== e.s) return `${e.p}: ${st.size} bytes, not ${e.s}`;
  if (e.t === 'f' && verify && e.h && (await sha256(abs)) !== e.h) return `${e.p}: content differs from its SHA-256`;
  return undefined;
}

async function setMeta(e: Entry, abs: string, asRoot: boolean): Promise<void> {
  if (asRoot) await lchown(abs, e.uid, e.gid);
  const when = e.m / 1000;
  if (e.t === 'l') return lutimes(abs, when, when);
  // After chown, which clears setuid/setgid bits.
  await chmod(abs, e.mode);
  await utimes(abs, when, when);
}

export async function applyManifest(
  manifestFile: string,
  placer: Placer,
  only?: string,
  verify = false,
): Promise<ApplyReport> {
  const asRoot = process.getuid?.() === 0;
  const report: ApplyReport = { entries: 0, files: 0, bytes: 0 };
  const problems: string[] = [];
  let problemCount = 0;
  for await (const e of readManifest(manifestFile)) {
    // The folders above a single restored path are made, not restored: their metadata is not the point's.
    if (only && !isUnder(e.p, only)) continue;
    const abs = await placer.place(e.p);
    const problem = await checkEntry(e, abs, verify);
    if (problem) {
      if (++problemCount <= MAX_PROBLEMS) problems.push(problem);
      continue;
    }
    await setMeta(e, abs, asRoot);
    report.entries++;
    if (e.t === 'f') {
      report.files++;
      report.bytes += e.s;
    }
  }
  if (problemCount > 0)
    throw new BackupError(
      'invalid',
      `the restored folder does not match the backup's manifest in ${problemCount} entries: ${problems.join('; ')}`,
      { code: 'RestoreMismatch' },
    );
  if (only && report.entries === 0) throw new BackupError('not_found', `${only} is not in this backup`);
  return report;
}
