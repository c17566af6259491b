// Small disks and read-only folders for the disk scenarios (root only): a tmpfs of a given size mounted on a folder,
// or a folder bind-mounted read-only over itself. Every mount is undone by the returned function.
import { execFile } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { promisify } from 'node:util';
import { needsUndo } from './undo.ts';

const exec = promisify(execFile);

export async function mountTmpfs(dir: string, sizeBytes: number): Promise<() => Promise<void>> {
  await mkdir(dir, { recursive: true });
  await exec('mount', ['-t', 'tmpfs', '-o', `size=${sizeBytes}`, 'tmpfs', dir]);
  return needsUndo(`tmpfs on ${dir}`, () => unmount(dir));
}

export async function mountReadOnly(dir: string): Promise<() => Promise<void>> {
  await mkdir(dir, { recursive: true });
  await exec('mount', ['--bind', dir, dir]);
  try {
    await exec('mount', ['-o', 'remount,ro,bind', dir]);
  } catch (err) {
    await unmount(dir);
    throw err;
  }
  return needsUndo(`read-only mount on ${dir}`, () => unmount(dir));
}

/** A file still open (a worker that has not let go yet) must not leave the mount behind: lazy as a last resort. */
async function unmount(dir: string): Promise<void> {
  await exec('umount', [dir]).catch(() => exec('umount', ['-l', dir]));
}
