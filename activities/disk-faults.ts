// Writing at the site can fail in ways no retry mends: a full disk, a folder on a read-only mount or owned by
// someone else. Such a failure is turned into a BackupError that names the folder and says what to do, of a kind
// Temporal does not retry: a retried dump would only fill the disk again.
import { constants } from 'node:fs';
import { access, mkdir, statfs } from 'node:fs/promises';
import path from 'node:path';
import { BackupError } from '../common/errors.ts';
import { formatBytes } from '../common/format.ts';

const FULL = new Set(['ENOSPC', 'EDQUOT']);
const NOT_WRITABLE = new Set(['EROFS', 'EACCES', 'EPERM']);

/** Where a write went, and what the operator can change instead of mending that disk. */
export interface WritePlace {
  /** The folder written into. */
  folder: string;
  /** The way out besides freeing space or granting access, e.g. "set backupsDir in site.json to another disk". */
  otherwise: string;
}

/**
 * The BackupError for a write into `place.folder` that failed for want of space or of permission; undefined for any
 * other failure (the caller throws that as it is). Call it once the partial file is removed: the free space it
 * reports is what the disk has left without it.
 */
export async function diskFault(err: unknown, place: WritePlace): Promise<BackupError | undefined> {
  if (err instanceof BackupError) return undefined;
  const code = (err as NodeJS.ErrnoException | undefined)?.code ?? '';
  if (FULL.has(code)) return diskFull(place, code);
  if (NOT_WRITABLE.has(code)) return notWritable(place, code);
  return undefined;
}

/** The disk holding `place.folder` has no room left (`code` says who said so: ENOSPC, EDQUOT, SQLITE_FULL). */
export async function diskFull(place: WritePlace, code: string): Promise<BackupError> {
  const free = await statfs(place.folder).then(
    (s) => `${formatBytes(s.bavail * s.bsize)} free`,
    () => 'free space unknown',
  );
  const what =
    code === 'EDQUOT'
      ? `the site worker's disk quota on the disk holding ${place.folder} is used up`
      : `the disk holding ${place.folder} is full`;
  return new BackupError(
    'invalid',
    `${what} (${code}; ${free} with the partial file removed): free space there, or ${place.otherwise}`,
    { code: 'DiskFull' },
  );
}

/**
 * `mkdir -p` that says why a folder cannot be made. Node answers ENOENT, not EROFS, when a parent is on a read-only
 * file system: the nearest existing parent is asked whether it can be written.
 */
export async function makeFolder(place: WritePlace): Promise<void> {
  try {
    await mkdir(place.folder, { recursive: true });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (NOT_WRITABLE.has(code ?? '')) throw notWritable(place, code!);
    if (code !== 'ENOENT') throw (await diskFault(err, place)) ?? err;
    const refusal = await parentRefusal(place.folder);
    if (refusal) throw notWritable(place, refusal);
    throw err;
  }
}

function notWritable(place: WritePlace, code: string): BackupError {
  const why = code === 'EROFS' ? 'it is on a read-only file system' : 'permission denied';
  return new BackupError(
    'invalid',
    `cannot write to ${place.folder}: the folder is not writable (${code}: ${why}): mount it read-write and give the site worker's user write access, or ${place.otherwise}`,
    { code: 'NotWritable' },
  );
}

/** Why the nearest existing folder above `folder` cannot be written into, if that is why. */
async function parentRefusal(folder: string): Promise<string | undefined> {
  for (let dir = path.dirname(folder); ; dir = path.dirname(dir)) {
    const found = await access(dir).then(
      () => true,
      () => false,
    );
    if (found)
      return access(dir, constants.W_OK).then(
        () => undefined,
        (e: NodeJS.ErrnoException) => e.code,
      );
    if (path.dirname(dir) === dir) return undefined;
  }
}
