// dump: the engine's dump tool → compression → (encryption) → SHA-256 → a partial file of this attempt's own, fsynced,
// then published under the backup's name in one step.
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Context } from '@temporalio/activity';
import { BackupError, invalid } from '../../common/errors.ts';
import type { Logger } from '../../common/logger.ts';
import { DEFAULT_COMPRESSION, type Compression, type TableCount } from '../../common/model.ts';
import { parseBackupFileName } from '../../common/names.ts';
import type { DumpResult } from '../contracts.ts';
import type { DatabaseEngine } from '../engines/engine.ts';
import { diskFault, makeFolder, type WritePlace } from '../disk-faults.ts';
import { asActivity } from '../failure.ts';
import { fsyncDir } from '../fsync.ts';
import { compressionFilter, compressStream } from '../pipeline/compression.ts';
import { keyId, sealStream } from '../pipeline/envelope.ts';
import type { ServerConnection } from '../site-config.ts';
import { withHeartbeat, type SiteContext } from './context.ts';
import { publish, removeEarlierPartials, sha256File } from './files.ts';
import { meter } from './streams.ts';

export interface DumpInput {
  serverName: string;
  database: string;
  fileName: string;
  excludeTableData: string[];
  compression?: Compression;
  encrypt?: boolean;
}

/** What a dump writes and where, settled before its first byte. */
interface DumpPlan {
  conn: ServerConnection;
  engine: DatabaseEngine;
  compression: Compression;
  masterKey: Buffer | undefined;
  meta: Pick<DumpResult, 'compression' | 'encrypted' | 'keyId'>;
  tableCounts: TableCount[];
  dir: string;
  /** The dump's folder, for a failure to write there. */
  place: WritePlace;
  finalPath: string;
  /** Relative to the site's Backups folder. */
  relPath: string;
}

export function createDump(site: SiteContext) {
  /**
   * dump tool → zstd → SHA-256 → `.<file>.<attempt>.partial`, fsynced, then linked as `<file>` in one step.
   * Idempotent: a retry after that finds the file and reports it; a retry before it starts over.
   */
  return async function dump(input: DumpInput): Promise<DumpResult> {
    return asActivity(async () => {
      const ctx = Context.current();
      const log = site.runLogger({ server: input.serverName, database: input.database });
      const plan = await planDump(site, input);
      const existing = await stat(plan.finalPath).catch(() => undefined);
      if (existing && ctx.info.attempt === 1) {
        // No earlier attempt of this run can have written it: another run took the same second.
        throw new BackupError(
          'conflict',
          `backup file ${plan.relPath} already exists at the site; another run started in the same second`,
          { code: 'FileExists' },
        );
      }
      if (existing) return adoptExisting(input, plan, log);
      const written = await writeDump(input, plan, log);
      if (!written) return adoptExisting(input, plan, log);
      const result = {
        fileName: input.fileName,
        path: plan.relPath,
        sizeBytes: written.sizeBytes,
        sha256: written.sha256,
        rawBytes: written.rawBytes,
        ...plan.meta,
        tableCounts: plan.tableCounts,
      };
      log.info(
        {
          file: { path: plan.finalPath, size: result.sizeBytes, hash: { sha256: result.sha256 } },
          event: { duration: (Date.now() - written.started) * 1e6 },
          raw_bytes: result.rawBytes,
        },
        'dump finished',
      );
      return result;
    });
  };
}

/** Checks the file name against the server's engine, and counts the rows the restore checks compare with later. */
async function planDump(site: SiteContext, input: DumpInput): Promise<DumpPlan> {
  const parsed = parseBackupFileName(input.fileName);
  if (parsed?.database !== input.database) {
    throw invalid(`file name '${input.fileName}' does not name database '${input.database}'`);
  }
  const { conn, engine } = await site.engineFor(input.serverName);
  if (parsed.format !== engine.format)
    throw invalid(
      `file name '${input.fileName}' is not a ${engine.name} dump (.${engine.format}): the server's engine differs from the platform's record of it`,
    );
  const compression = input.compression ?? DEFAULT_COMPRESSION;
  const masterKey = input.encrypt ? await site.requireMasterKey() : undefined;
  const meta = {
    compression: compression.algorithm,
    encrypted: !!masterKey,
    keyId: masterKey ? keyId(masterKey) : null,
  };
  // Counted before the dump, for the restore checks later: exact for small tables, estimated for big ones.
  // An excluded table's rows are not in the backup: a restore of it finds 0, so that is its count.
  const excluded = new Set(input.excludeTableData.map((t) => t.replaceAll('"', '').replaceAll('`', '')));
  const tableCounts = (await engine.tableRowCounts(conn, input.database)).map((t) =>
    excluded.has(t.table) ? { ...t, rows: 0, exact: true } : t,
  );
  const dir = site.config.folder(input.serverName, input.database);
  const finalPath = path.join(dir, input.fileName);
  const relPath = path.relative(site.config.backupsDir, finalPath);
  const place = {
    folder: dir,
    otherwise: `choose another folder as backupsDir in the site configuration (${site.config.sourcePath})`,
  };
  await makeFolder(place);
  return { conn, engine, compression, masterKey, meta, tableCounts, dir, place, finalPath, relPath };
}

/** The file an earlier attempt of this run finished: reported as it is on disk. */
async function adoptExisting(input: DumpInput, plan: DumpPlan, log: Logger): Promise<DumpResult> {
  const size = (await stat(plan.finalPath)).size;
  const sha256 = await sha256File(plan.finalPath);
  log.info({ file: { path: plan.finalPath, size } }, 'backup file already complete from an earlier attempt');
  return {
    fileName: input.fileName,
    path: plan.relPath,
    sizeBytes: size,
    sha256,
    rawBytes: 0,
    ...plan.meta,
    tableCounts: plan.tableCounts,
  };
}

/**
 * Streams the dump into a file of this attempt's own and publishes it; undefined when another attempt published
 * first. An earlier attempt may still be running (its heartbeat timed out, it did not stop), and neither may remove
 * or publish the other's bytes.
 */
async function writeDump(
  input: DumpInput,
  plan: DumpPlan,
  log: Logger,
): Promise<{ started: number; sizeBytes: number; sha256: string; rawBytes: number } | undefined> {
  const ctx = Context.current();
  const partial = path.join(plan.dir, `.${input.fileName}.${ctx.info.attempt}.partial`);
  await rm(partial, { force: true });
  log.info({ file: { path: plan.finalPath } }, 'dump started');
  const started = Date.now();
  const progress = { rawBytes: 0, bytes: 0 };
  const hash = createHash('sha256');
  // zstd runs as a program fed by the dump tool directly when the site has it; else Node compresses.
  const filter = compressionFilter(plan.compression);
  const dump = plan.engine.dump(plan.conn, input.database, { excludeTableData: input.excludeTableData, filter });
  const published = await withHeartbeat(progress, async () => {
    try {
      const stages: (NodeJS.ReadableStream | NodeJS.ReadWriteStream | NodeJS.WritableStream)[] = [dump.stdout];
      if (!filter) {
        stages.push(
          meter((n) => (progress.rawBytes += n)),
          compressStream(plan.compression),
        );
      }
      if (plan.masterKey) stages.push(sealStream(plan.masterKey));
      stages.push(
        meter((n, chunk) => {
          progress.bytes += n;
          hash.update(chunk);
        }),
        createWriteStream(partial, { flags: 'wx', flush: true }),
      );
      await pipeline(stages, { signal: ctx.cancellationSignal });
      const outcome = await dump.done;
      if (filter) {
        const raw = filter.rawBytes(outcome.filterMessages ?? '');
        if (raw === undefined)
          log.warn({ filter: filter.cmd }, 'the compressor did not say how many bytes it read; raw_bytes is 0');
        progress.rawBytes = raw ?? 0;
      }
      const published = await publish(partial, plan.finalPath);
      await removeEarlierPartials(plan.dir, input.fileName, ctx.info.attempt);
      await fsyncDir(plan.dir);
      return published;
    } catch (err) {
      dump.kill();
      await rm(partial, { force: true });
      log.warn({ err, cancelled: ctx.cancellationSignal.aborted }, 'dump failed; partial file removed');
      if (ctx.cancellationSignal.aborted) throw ctx.cancellationSignal.reason;
      // A full disk or a folder it may not write: retrying would only fill the disk again.
      throw (await diskFault(err, plan.place)) ?? err;
    }
  });
  if (!published) return undefined;
  return { started, sizeBytes: progress.bytes, sha256: hash.digest('hex'), rawBytes: progress.rawBytes };
}
