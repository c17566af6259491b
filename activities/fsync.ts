// Durability of a rename: the directory entry reaches the disk only when the directory itself is fsynced.
import { open } from 'node:fs/promises';

export async function fsyncDir(dir: string): Promise<void> {
  const fd = await open(dir, 'r');
  try {
    await fd.sync();
  } finally {
    await fd.close();
  }
}
