// Reading a stored object back: the proof that what is stored is what was sent, and the write probe every backend
// answers `probeWritable` with.
import { createHash, randomUUID } from 'node:crypto';
import { BackupError } from '../../common/errors.ts';
import { bufferSource } from './sources.ts';
import { checkPrefix, joinKey, type Storage } from './storage.ts';

/** Reads an object back end to end: the check that what is stored is what was sent. */
export async function hashObject(
  storage: Storage,
  key: string,
  signal?: AbortSignal,
): Promise<{ size: number; sha256: string }> {
  const hash = createHash('sha256');
  let size = 0;
  const body = await storage.get(key, signal ? { signal } : {});
  try {
    for await (const chunk of body) {
      signal?.throwIfAborted();
      size += (chunk as Buffer).length;
      hash.update(chunk as Buffer);
    }
  } finally {
    body.destroy();
  }
  return { size, sha256: hash.digest('hex') };
}

/** The write check every backend shares: a small object under `prefix`, read back byte for byte, then removed. */
export async function probeWith(storage: Storage, prefix: string): Promise<void> {
  const key = joinKey(checkPrefix(prefix), `.probe-${randomUUID()}`);
  const data = Buffer.from(`backup platform write probe ${new Date().toISOString()}\n`);
  await storage.put(key, bufferSource(data));
  try {
    const back = await hashObject(storage, key);
    if (back.sha256 !== createHash('sha256').update(data).digest('hex')) {
      throw new BackupError('unavailable', `${storage.locationOf(key)} returned other bytes than were written`);
    }
  } finally {
    await storage.delete(key);
  }
}
