// restore: a backup streamed from a copy into a database of a server at this site: copy → decrypt → decompress → the
// engine's restore tool. The copy is proven before the target is touched.
import type { Readable, Transform } from 'node:stream';
import { Context } from '@temporalio/activity';
import { BackupError, invalid } from '../../common/errors.ts';
import { SITE_TARGET, type CompressionAlgorithm } from '../../common/model.ts';
import { parseBackupFileName } from '../../common/names.ts';
import type { CopyRef, RestoreResult } from '../contracts.ts';
import type { DatabaseEngine, RestoreInto } from '../engines/engine.ts';
import { ownerOf, type RestoreOwner } from '../engines/restore-mark.ts';
import { filterInput, filterStopped } from '../engines/tools.ts';
import { asActivity } from '../failure.ts';
import { decompressionFilter, decompressStream } from '../pipeline/compression.ts';
import { openSealed } from '../pipeline/envelope.ts';
import type { ServerConnection } from '../site-config.ts';
import { hashObject } from '../storage/read-back.ts';
import { pace } from '../storage/sources.ts';
import type { Storage } from '../storage/storage.ts';
import { withHeartbeat, type SiteContext } from './context.ts';
import { resumeEarlierAttempt } from './restore-resume.ts';
import { failedFirst, meter } from './streams.ts';

export interface RestoreInput {
  /** The copy to restore from; its size and SHA-256 are checked before the target is touched. */
  source: CopyRef;
  sizeBytes: number;
  sha256: string;
  fileName: string;
  serverName: string;
  database: string;
  /** Restore over a database that has tables (it is dropped first). Without it, such a database is refused. */
  overwrite: boolean;
  /**
   * The restore this is (absent in runs scheduled before it was sent): its mark on the database lets a retry after a
   * crash recognise what an earlier attempt finished, and clean up what it left half done.
   */
  restoreId?: string;
  /** A drill's restore: its database is scratch, which the mark says so a sweep may remove it after a crash. */
  drill?: boolean;
  /** Keep the dump's owners and privileges (the roles were made from the run's globals); default: left out. */
  keepOwners?: boolean;
}

/** Heartbeat details of a restore: first the copy's verification, then the restore itself. */
interface RestoreProgress {
  phase: string;
  bytes: number;
  sizeBytes: number;
  rawBytes: number;
}

export function createRestore(site: SiteContext) {
  /**
   * Restores a backup into a database of a server at this site, streaming: copy → decrypt → decompress → the
   * engine's restore tool. The copy's size and SHA-256 are proven first, so a damaged copy never touches the target;
   * a database that has tables is refused unless `overwrite` says to replace it.
   */
  return async function restore(input: RestoreInput): Promise<RestoreResult> {
    return asActivity(async () => {
      const log = site.runLogger({ server: input.serverName, database: input.database, target: input.source.target });
      const parsed = parseBackupFileName(input.fileName);
      if (!parsed) throw invalid(`'${input.fileName}' is not a backup file name`);
      const { conn, engine } = await site.engineFor(input.serverName);
      if (parsed.format !== engine.format)
        throw invalid(
          `'${input.fileName}' is a .${parsed.format} dump; server '${input.serverName}' is ${engine.name} (.${engine.format})`,
        );
      const masterKey = parsed.encrypted ? await site.requireMasterKey() : undefined;
      const owner = input.restoreId ? ownerOf(input.restoreId, input.drill) : undefined;
      if (owner) {
        const earlier = await withHeartbeat({ phase: 'earlier attempt', bytes: 0, sizeBytes: input.sizeBytes }, () =>
          resumeEarlierAttempt(conn, engine, input, owner, Context.current().cancellationSignal),
        );
        if (earlier.finished) {
          // Its time is known only from when it began: an upper bound, as the crash and the retry's wait are in it.
          const seconds = earlier.mark ? Math.max(0, (Date.now() - earlier.mark.at.getTime()) / 1000) : 0;
          log.info({ file: { name: input.fileName }, recovered: true }, 'restore finished by an earlier attempt');
          return { rawBytes: 0, seconds, replaced: input.overwrite, recovered: true };
        }
      }
      return site.withStorage(input.source.target, async (storage) => {
        const progress = { phase: 'verify', bytes: 0, sizeBytes: input.sizeBytes, rawBytes: 0 };
        await verifyCopy(storage, input, progress);
        const { into, replaced } = await restoreTarget(conn, engine, input);
        progress.phase = 'restore';
        const started = Date.now();
        const limit =
          input.source.target === SITE_TARGET ? undefined : site.config.destinationLimit(input.source.target);
        const algorithm = parsed.compression === 'gz' ? 'gzip' : 'zstd';
        await feedRestore({ storage, input, conn, engine, into, owner, masterKey, limit, algorithm, progress });
        const seconds = (Date.now() - started) / 1000;
        log.info(
          {
            file: { name: input.fileName, size: input.sizeBytes },
            raw_bytes: progress.rawBytes,
            event: { duration: seconds * 1e9 },
            replaced,
          },
          'restore finished',
        );
        return { rawBytes: progress.rawBytes, seconds, replaced };
      });
    });
  };
}

/** The copy read end to end before anything else: a damaged or missing copy never reaches the target. */
async function verifyCopy(storage: Storage, input: RestoreInput, progress: RestoreProgress): Promise<void> {
  const ctx = Context.current();
  const found = await withHeartbeat(progress, () =>
    hashObject(storage, input.source.key, ctx.cancellationSignal).catch(unlessNotFound),
  );
  if (!found || found.size !== input.sizeBytes || found.sha256 !== input.sha256) {
    throw new BackupError(
      'invalid',
      `the copy at ${input.source.target} ${found ? `does not match the backup (${found.size} bytes, SHA-256 ${found.sha256})` : 'cannot be read'}: refusing to restore from it`,
      { code: 'CopyCorrupt' },
    );
  }
}

/** What the restore writes into; a database that has tables is replaced only when the restore says to overwrite it. */
async function restoreTarget(
  conn: ServerConnection,
  engine: DatabaseEngine,
  input: RestoreInput,
): Promise<{ into: RestoreInto; replaced: boolean }> {
  const exists = await engine.databaseExists(conn, input.database);
  const replaced = exists && (await engine.hasTables(conn, input.database));
  const into: RestoreInto = !exists ? 'new' : replaced ? 'replace' : 'existing';
  if (replaced && !input.overwrite) {
    throw new BackupError(
      'invalid',
      `database '${input.database}' on server '${input.serverName}' has tables: restore into a new database name, or ask to overwrite it`,
      { code: 'TargetNotEmpty' },
    );
  }
  return { into, replaced };
}

/**
 * The copy's bytes through decryption and decompression into the engine's restore tool. A failure says whose it is:
 * the storage's read (a retry reads again), or bytes that do not decode (the backup is damaged).
 */
async function feedRestore(job: {
  storage: Storage;
  input: RestoreInput;
  conn: ServerConnection;
  engine: DatabaseEngine;
  into: RestoreInto;
  owner: RestoreOwner | undefined;
  masterKey: Buffer | undefined;
  limit: number | undefined;
  algorithm: CompressionAlgorithm;
  progress: RestoreProgress;
}): Promise<void> {
  const { storage, input, conn, engine, into, owner, masterKey, limit, algorithm, progress } = job;
  const ctx = Context.current();
  // With the site's zstd command, Node handles only the stored bytes: zstd writes into the restore tool.
  const decoder = decompressionFilter(algorithm);
  const steps: Transform[] = [
    ...(limit ? [pace(limit)] : []),
    meter((n) => (progress.bytes += n)),
    ...(masterKey ? [openSealed(masterKey)] : []),
    ...(decoder ? [] : [decompressStream(algorithm), meter((n) => (progress.rawBytes += n))]),
  ];
  const source = await storage.get(input.source.key, { signal: ctx.cancellationSignal });
  const origin = failedFirst(source, steps);
  let damaged: Error | undefined;
  const fed = steps.reduce<Readable>((from, step) => {
    from.on('error', (e) => step.destroy(e));
    step.on('error', (e) => (damaged ??= e));
    return from.pipe(step);
  }, source);
  // The copy flows before the restore tool reads it (a database is created first): an error then stays on the
  // stream for the tool's reader, and this listener keeps it from ending the site worker as uncaught.
  fed.on('error', () => {});
  const decoded = decoder && filterInput(fed, decoder);
  try {
    // A failing decompressor fails the restore tool's run with its own verdict (runTool waits for both).
    await withHeartbeat(progress, () =>
      engine.restore(conn, input.database, decoded?.stdout ?? fed, {
        into,
        owner,
        signal: ctx.cancellationSignal,
        keepOwners: input.keepOwners === true,
      }),
    );
  } catch (err) {
    decoded?.kill();
    // A tool that failed early leaves the copy half read: its file or connection is let go now.
    source.destroy();
    if (ctx.cancellationSignal.aborted || !damaged) throw err;
    // The storage failed while reading (a dropped connection): that says nothing of the copy; a retry reads it again.
    if (origin() === 'read') throw damaged;
    // Bytes that hashed right but do not decrypt or decompress: retrying the same copy cannot help.
    if (damaged instanceof BackupError) throw damaged;
    throw new BackupError(
      'invalid',
      `the copy at ${input.source.target} could not be decoded (${damaged.message}): the backup is damaged`,
      { code: 'BackupTampered' },
    );
  }
  if (decoded) {
    // A tool that reads its input in this process (SQLite) ends at the decompressor's end, damaged or not.
    const said = await decoded.done.catch((e: unknown) => e as Error);
    if (said instanceof Error && !filterStopped(said)) {
      if (into === 'new') await engine.dropDatabase(conn, input.database).catch(() => {});
      throw said;
    }
    progress.rawBytes = typeof said === 'string' ? (decoder.rawBytes(said) ?? 0) : 0;
  }
}

/** A copy that is not there reads as nothing; any other failure to read it is the failure. */
function unlessNotFound(err: unknown): undefined {
  if (err instanceof BackupError && err.kind === 'not_found') return undefined;
  throw err;
}
