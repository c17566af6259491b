// Activities that run at a site, on the site's task queue: they touch its databases and disks.
// Each takes names (server, database, file), never credentials, and returns references, never data.
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, open, readdir, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { constants as zc, createZstdCompress } from 'node:zlib';
import { Context } from '@temporalio/activity';
import { parseBackupFileName } from '../common/names.ts';
import { withRunLabels, type Logger } from '../common/logger.ts';
import { BackupError, invalid } from '../common/errors.ts';
import type { CleanTable } from '../db/schema.ts';
import { engines } from './engines/postgres.ts';
import { asActivity } from './failure.ts';
import type { SiteConfig } from './site-config.ts';

export interface SiteIdentity {
  tenantId: string;
  siteId: string;
}

export interface CleanTablesInput {
  serverName: string;
  database: string;
  tables: CleanTable[];
}
export interface CleanTablesResult {
  /** Tables whose rows stay out of the dump, in the dump tool's literal form. */
  excludeTableData: string[];
}

export interface DumpInput {
  serverName: string;
  database: string;
  fileName: string;
  excludeTableData: string[];
}
export interface DumpResult {
  fileName: string;
  /** Relative to the site's Backups folder. */
  path: string;
  sizeBytes: number;
  sha256: string;
  /** Bytes the dump tool wrote before compression; 0 when an earlier attempt had already finished the file. */
  rawBytes: number;
}

export interface PruneInput {
  serverName: string;
  database: string;
  keep: number;
}
export interface PruneResult {
  deleted: string[];
  kept: string[];
}

/** A partial file untouched for this long belongs to an attempt that died; prune removes it. */
const STALE_PARTIAL_MS = 60 * 60 * 1000;
const ZSTD_LEVEL = 3;

export function createSiteActivities(deps: { config: SiteConfig; identity: SiteIdentity; logger: Logger }) {
  const { config, identity } = deps;

  function runLogger(extra: { server: string; database: string }): Logger {
    const info = Context.current().info;
    return withRunLabels(deps.logger, {
      workflow_id: info.workflowExecution?.workflowId,
      run_id: info.workflowExecution?.runId,
      activity: info.activityType,
      attempt: info.attempt,
      tenant_id: identity.tenantId,
      site_id: identity.siteId,
      ...extra,
    });
  }

  async function engineFor(serverName: string) {
    const conn = await config.connection(serverName);
    return { conn, engine: engines[conn.engine] };
  }

  return {
    /** Resolves the tables to clean and proves the login works, before any file is written. */
    async cleanTables(input: CleanTablesInput): Promise<CleanTablesResult> {
      return asActivity(async () => {
        const log = runLogger({ server: input.serverName, database: input.database });
        const { conn, engine } = await engineFor(input.serverName);
        const excluded = input.tables.filter((t) => t.mode === 'exclude').map((t) => t.table);
        const excludeTableData = await engine.resolveTables(conn, input.database, excluded);
        log.info({ tables: excludeTableData }, 'tables to clean resolved');
        return { excludeTableData };
      });
    },

    /**
     * dump tool → zstd → SHA-256 → `.<file>.partial`, fsynced, then renamed to `<file>` in one step.
     * Idempotent: a retry after the rename finds the file and reports it; a retry before it starts over.
     */
    async dump(input: DumpInput): Promise<DumpResult> {
      return asActivity(async () => {
        const ctx = Context.current();
        const log = runLogger({ server: input.serverName, database: input.database });
        if (parseBackupFileName(input.fileName)?.database !== input.database) {
          throw invalid(`file name '${input.fileName}' does not name database '${input.database}'`);
        }
        const { conn, engine } = await engineFor(input.serverName);
        const dir = config.folder(input.serverName, input.database);
        const finalPath = path.join(dir, input.fileName);
        const relPath = path.relative(config.backupsDir, finalPath);
        await mkdir(dir, { recursive: true });

        const existing = await stat(finalPath).catch(() => undefined);
        if (existing && ctx.info.attempt === 1) {
          // No earlier attempt of this run can have written it: another run took the same second.
          throw new BackupError('conflict', `backup file ${relPath} already exists at the site; another run started in the same second`, { code: 'FileExists' });
        }
        if (existing) {
          const sha256 = await sha256File(finalPath);
          log.info({ file: { path: finalPath, size: existing.size } }, 'backup file already complete from an earlier attempt');
          return { fileName: input.fileName, path: relPath, sizeBytes: existing.size, sha256, rawBytes: 0 };
        }

        const partial = path.join(dir, `.${input.fileName}.partial`);
        await rm(partial, { force: true });
        log.info({ file: { path: finalPath } }, 'dump started');
        const started = Date.now();
        const progress = { rawBytes: 0, bytes: 0 };
        const beat = setInterval(() => ctx.heartbeat(progress), Math.max(1000, Math.min(10_000, (ctx.info.heartbeatTimeoutMs ?? 30_000) / 3)));
        const hash = createHash('sha256');
        const dump = engine.dump(conn, input.database, { excludeTableData: input.excludeTableData });
        try {
          await pipeline(
            dump.stdout,
            meter((n) => {
              progress.rawBytes += n;
              ctx.heartbeat(progress);
            }),
            createZstdCompress({ params: { [zc.ZSTD_c_compressionLevel]: ZSTD_LEVEL } }),
            meter((n, chunk) => {
              progress.bytes += n;
              hash.update(chunk);
            }),
            createWriteStream(partial, { flags: 'wx', flush: true }),
            { signal: ctx.cancellationSignal },
          );
          await dump.done;
          await rename(partial, finalPath);
          await fsyncDir(dir);
        } catch (err) {
          dump.kill();
          await rm(partial, { force: true });
          log.warn({ err, cancelled: ctx.cancellationSignal.aborted }, 'dump failed; partial file removed');
          throw ctx.cancellationSignal.aborted ? ctx.cancellationSignal.reason : err;
        } finally {
          clearInterval(beat);
        }
        const result = { fileName: input.fileName, path: relPath, sizeBytes: progress.bytes, sha256: hash.digest('hex'), rawBytes: progress.rawBytes };
        log.info({ file: { path: finalPath, size: result.sizeBytes, hash: { sha256: result.sha256 } }, event: { duration: (Date.now() - started) * 1e6 }, raw_bytes: result.rawBytes }, 'dump finished');
        return result;
      });
    },

    /** Keeps the newest `keep` backups of one database at the site; also removes partial files of dead attempts. */
    async prune(input: PruneInput): Promise<PruneResult> {
      return asActivity(async () => {
        if (!Number.isInteger(input.keep) || input.keep < 1) throw invalid('keep must be a whole number of at least 1', 'keepLocal');
        const log = runLogger({ server: input.serverName, database: input.database });
        const dir = config.folder(input.serverName, input.database);
        const names = await readdir(dir).catch(() => [] as string[]);
        const backups = names
          .map((name) => ({ name, parsed: parseBackupFileName(name) }))
          .filter((b) => b.parsed?.database === input.database)
          .sort((a, b) => b.parsed!.takenAt.getTime() - a.parsed!.takenAt.getTime() || b.name.localeCompare(a.name));
        const doomed = backups.slice(input.keep).map((b) => b.name);
        for (const name of doomed) await rm(path.join(dir, name), { force: true });
        for (const name of names.filter((n) => n.startsWith('.') && n.endsWith('.partial'))) {
          const s = await stat(path.join(dir, name)).catch(() => undefined);
          if (s && Date.now() - s.mtimeMs > STALE_PARTIAL_MS) await rm(path.join(dir, name), { force: true });
        }
        if (doomed.length) await fsyncDir(dir);
        log.info({ deleted: doomed }, 'site copies pruned');
        return { deleted: doomed, kept: backups.slice(0, input.keep).map((b) => b.name) };
      });
    },
  };
}

export type SiteActivities = ReturnType<typeof createSiteActivities>;

/** Counts (and optionally inspects) bytes as they pass. */
function meter(onChunk: (n: number, chunk: Buffer) => void): Transform {
  return new Transform({
    transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback) {
      onChunk(chunk.length, chunk);
      cb(null, chunk);
    },
  });
}

export async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

async function fsyncDir(dir: string): Promise<void> {
  const fd = await open(dir, 'r');
  try {
    await fd.sync();
  } finally {
    await fd.close();
  }
}
