// checkCopies and verifyCopies: each copy read back at its target. A check compares size and SHA-256; a verification
// also decrypts and decompresses the stream to its last byte.
import { createHash } from 'node:crypto';
import { Writable, type Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Context } from '@temporalio/activity';
import { BackupError } from '../../common/errors.ts';
import { parseBackupFileName } from '../../common/names.ts';
import type { CheckCopiesResult, CheckResult, CopyToCheck } from '../contracts.ts';
import { asActivity } from '../failure.ts';
import { decompressStream } from '../pipeline/compression.ts';
import { openSealed } from '../pipeline/envelope.ts';
import { hashObject } from '../storage/read-back.ts';
import type { Storage } from '../storage/storage.ts';
import { withHeartbeat, type SiteContext } from './context.ts';
import { failedFirst, meter } from './streams.ts';

export function createCheckCopies(site: SiteContext) {
  /** Reads every listed copy back: missing, a different size, or a different SHA-256 each say what is wrong. */
  return async function checkCopies(input: { copies: CopyToCheck[] }): Promise<CheckCopiesResult> {
    return asActivity(() => readBack(site, input.copies, { decode: false }));
  };
}

export function createVerifyCopies(site: SiteContext) {
  /**
   * Reads each copy end to end: its SHA-256, and its stream decrypted and decompressed to the last byte, so a copy
   * whose hash was recorded from damaged bytes, or a cut stream, is caught too.
   */
  return async function verifyCopies(input: { copies: CopyToCheck[] }): Promise<CheckCopiesResult> {
    return asActivity(async () =>
      readBack(site, input.copies, { decode: true, masterKey: await site.config.masterKey() }),
    );
  };
}

/** Each copy read back at its target; a target that cannot be reached is reported, its copies left unjudged. */
async function readBack(
  site: SiteContext,
  copies: CopyToCheck[],
  opts: { decode: boolean; masterKey?: Buffer },
): Promise<CheckCopiesResult> {
  const ctx = Context.current();
  const out: CheckCopiesResult = { results: [], unreachable: [] };
  const progress = { checked: 0, bytes: 0 };
  for (const [target, group] of Map.groupBy(copies, (c) => c.target)) {
    try {
      await site.withStorage(target, async (storage) => {
        for (const copy of group) {
          out.results.push(
            await withHeartbeat(progress, () =>
              readOne(storage, copy, ctx.cancellationSignal, (n) => (progress.bytes += n), opts),
            ),
          );
          progress.checked++;
        }
      });
    } catch (err) {
      if (ctx.cancellationSignal.aborted) throw err;
      out.unreachable.push({ target, error: err instanceof Error ? err.message : String(err) });
    }
  }
  const bad = out.results.filter((r) => r.state !== 'stored').length;
  site
    .runLogger({})
    .info(
      { checked: out.results.length, bad, unreachable: out.unreachable, decoded: opts.decode },
      opts.decode ? 'copies verified' : 'copies checked',
    );
  return out;
}

/**
 * Hashes a copy; with `decode`, also runs its stream through decryption and decompression to the end, so a damaged
 * stream is caught even where its recorded hash was taken from damaged bytes. What the copy's bytes fail is
 * corruption; a read that fails (the storage went away mid-way) throws instead, leaving the copy unjudged.
 */
export async function readOne(
  storage: Storage,
  copy: CopyToCheck,
  signal: AbortSignal,
  onBytes: (n: number) => void,
  opts: { decode: boolean; masterKey?: Buffer },
): Promise<CheckResult> {
  const masterKey = opts.masterKey;
  const found = await storage.stat(copy.key);
  if (!found) return { copyId: copy.copyId, state: 'missing', detail: `${storage.locationOf(copy.key)} is not there` };
  if (found.size !== copy.sizeBytes)
    return { copyId: copy.copyId, state: 'corrupt', detail: `${found.size} bytes, expected ${copy.sizeBytes}` };
  const parsed = opts.decode ? parseBackupFileName(copy.fileName) : undefined;
  const hash = createHash('sha256');
  let read = 0;
  const steps: Transform[] = [
    meter((n, chunk) => {
      hash.update(chunk);
      read += n;
      onBytes(n);
    }),
    ...(parsed?.encrypted && masterKey ? [openSealed(masterKey)] : []),
    ...(parsed && !(parsed.encrypted && !masterKey)
      ? [decompressStream(parsed.compression === 'gz' ? 'gzip' : 'zstd')]
      : []),
  ];
  const source = await storage.get(copy.key, { signal });
  const origin = failedFirst(source, steps);
  let ended = false;
  source.once('end', () => (ended = true));
  try {
    await pipeline(source, ...(steps as [Transform]), new Writable({ write: (_c, _e, cb) => cb() }), { signal });
  } catch (err) {
    if (signal.aborted || origin() === 'read') throw err;
    // The storage ended the read early without saying so (the object is the right size): not the copy's fault.
    if (ended && read < found.size)
      throw new BackupError(
        'unavailable',
        `the read of ${storage.locationOf(copy.key)} ended after ${read} of ${found.size} bytes`,
      );
    if (err instanceof BackupError && err.details.code === 'KeyMismatch') {
      // The site's key does not open it: a key problem unless the bytes differ from what was recorded.
      const { sha256 } = await hashObject(storage, copy.key, signal);
      if (sha256 === copy.sha256)
        return { copyId: copy.copyId, state: 'stored', detail: `hash checked; not decrypted: ${err.message}` };
    }
    return {
      copyId: copy.copyId,
      state: 'corrupt',
      detail: `the stream is damaged: ${err instanceof Error ? err.message : String(err)}`,
    };
  }
  const sha256 = hash.digest('hex');
  if (sha256 !== copy.sha256)
    return { copyId: copy.copyId, state: 'corrupt', detail: `SHA-256 ${sha256}, expected ${copy.sha256}` };
  if (!opts.decode) return { copyId: copy.copyId, state: 'stored' };
  return {
    copyId: copy.copyId,
    state: 'stored',
    detail: parsed?.encrypted && !masterKey ? 'hash checked; the site has no key to decrypt it' : 'read to the end',
  };
}
