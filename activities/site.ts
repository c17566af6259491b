// Activities that run at a site, on the site's task queue: they touch its databases and disks.
// Each takes names (server, database, file), never credentials, and returns references, never data.
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { link, mkdir, readdir, rename, rm, stat, statfs } from 'node:fs/promises';
import path from 'node:path';
import { Readable, Transform, Writable, pipeline as pipeThrough, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Context } from '@temporalio/activity';
import { parseBackupFileName } from '../common/names.ts';
import { withRunLabels, type Logger } from '../common/logger.ts';
import { BackupError, invalid } from '../common/errors.ts';
import {
  DEFAULT_COMPRESSION,
  SITE_TARGET,
  type CleanTable,
  type Compression,
  type TableCount,
} from '../common/model.ts';
import { engineFor as engineNamed } from './engines/index.ts';
import { assertionHolds } from './engines/assertions.ts';
import type { RestoreInto } from './engines/engine.ts';
import { filterInput, filterStopped } from './engines/tools.ts';
import { compressionFilter, compressStream, decompressionFilter, decompressStream } from './pipeline/compression.ts';
import { keyId, openSealed, sealStream } from './pipeline/envelope.ts';
import type {
  CheckCopiesResult,
  CheckResult,
  CleanTablesResult,
  CopyRef,
  CopyToCheck,
  DryRunCheck,
  DryRunReport,
  DumpResult,
  RestoreResult,
  UploadResult,
} from './contracts.ts';
import { openStorage } from './storage/index.ts';
import { hashObject } from './storage/read-back.ts';
import { fileSource, pace, storageSource, throttled } from './storage/sources.ts';
import { partialName, type Storage } from './storage/storage.ts';
import { asActivity } from './failure.ts';
import type { SiteConfig } from './site-config.ts';
import { fsyncDir } from './fsync.ts';

export interface SiteIdentity {
  tenantId: string;
  siteId: string;
}

export interface CleanTablesInput {
  serverName: string;
  database: string;
  tables: CleanTable[];
}

export interface DumpInput {
  serverName: string;
  database: string;
  fileName: string;
  excludeTableData: string[];
  compression?: Compression;
  encrypt?: boolean;
}

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
}

export interface DryRunInput {
  serverName: string;
  databases: string[];
  tables: CleanTable[];
  destinations: string[];
  encrypt: boolean;
}

export interface UploadInput {
  /** Where the backup is read from: the site copy, or (when repairing) any good copy. */
  source: CopyRef;
  /** A destination of the site configuration, or `site` to put the site copy back. */
  target: string;
  key: string;
  sizeBytes: number;
  sha256: string;
}

export interface DeleteCopiesInput {
  target: string;
  keys: string[];
}

export interface SendCopyInput {
  transferId: string;
  copy: CopyRef;
  sizeBytes: number;
}

/** A partial file untouched for this long belongs to an attempt that died; prune removes it. */
const STALE_PARTIAL_MS = 60 * 60 * 1000;

export function createSiteActivities(deps: { config: SiteConfig; identity: SiteIdentity; logger: Logger }) {
  const { config, identity } = deps;

  function runLogger(extra: { server?: string; database?: string; target?: string }): Logger {
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
    return { conn, engine: engineNamed(conn.engine) };
  }

  /** The tenant key for an encrypted backup; its absence is the admin's to fix at the site. */
  async function requireMasterKey(): Promise<Buffer> {
    const key = await config.masterKey();
    if (!key)
      throw new BackupError(
        'invalid',
        `this backup is encrypted, but the site configuration (${config.sourcePath}) has no "encryption" key: add the tenant key there`,
        { code: 'EncryptionKeyMissing' },
      );
    return key;
  }

  return {
    /** Resolves the tables to clean and proves the login works, before any file is written. */
    async cleanTables(input: CleanTablesInput): Promise<CleanTablesResult> {
      return asActivity(async () => {
        const log = runLogger({ server: input.serverName, database: input.database });
        const { conn, engine } = await engineFor(input.serverName);
        // Every listed table is checked first: an unknown one stops the run before any row is touched.
        const resolved = await engine.resolveTables(
          conn,
          input.database,
          input.tables.map((t) => t.table),
        );
        const excludeTableData = resolved.filter((_, i) => input.tables[i]!.mode === 'exclude');
        const rowsRemoved: CleanTablesResult['rowsRemoved'] = [];
        const truncate = input.tables.filter((t) => t.mode === 'truncate').map((t) => t.table);
        if (truncate.length > 0) {
          if (!engine.truncateTables)
            throw invalid(`${engine.name} servers cannot truncate tables before a backup: use mode exclude`);
          // All or none, in one transaction (or under one lock where the engine commits a truncate on its own).
          rowsRemoved.push({
            table: truncate.join(', '),
            mode: 'truncate',
            rows: await engine.truncateTables(conn, input.database, truncate),
          });
        }
        for (const t of input.tables) {
          if (t.mode !== 'deleteOlderThan') continue;
          if (!engine.deleteOlderThan)
            throw invalid(`${engine.name} servers cannot delete old rows before a backup: use mode exclude`);
          rowsRemoved.push({
            table: t.table,
            mode: `deleteOlderThan ${t.column} ${t.days} days`,
            rows: await engine.deleteOlderThan(conn, input.database, t.table, t.column, t.days),
          });
        }
        log.info({ tables: excludeTableData, rows_removed: rowsRemoved }, 'tables cleaned');
        return { excludeTableData, rowsRemoved };
      });
    },

    /**
     * dump tool → zstd → SHA-256 → `.<file>.<attempt>.partial`, fsynced, then linked as `<file>` in one step.
     * Idempotent: a retry after that finds the file and reports it; a retry before it starts over.
     */
    async dump(input: DumpInput): Promise<DumpResult> {
      return asActivity(async () => {
        const ctx = Context.current();
        const log = runLogger({ server: input.serverName, database: input.database });
        const parsed = parseBackupFileName(input.fileName);
        if (parsed?.database !== input.database) {
          throw invalid(`file name '${input.fileName}' does not name database '${input.database}'`);
        }
        const { conn, engine } = await engineFor(input.serverName);
        if (parsed.format !== engine.format)
          throw invalid(
            `file name '${input.fileName}' is not a ${engine.name} dump (.${engine.format}): the server's engine differs from the platform's record of it`,
          );
        const compression = input.compression ?? DEFAULT_COMPRESSION;
        const masterKey = input.encrypt ? await requireMasterKey() : undefined;
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
        const dir = config.folder(input.serverName, input.database);
        const finalPath = path.join(dir, input.fileName);
        const relPath = path.relative(config.backupsDir, finalPath);
        await mkdir(dir, { recursive: true });

        const existing = await stat(finalPath).catch(() => undefined);
        if (existing && ctx.info.attempt === 1) {
          // No earlier attempt of this run can have written it: another run took the same second.
          throw new BackupError(
            'conflict',
            `backup file ${relPath} already exists at the site; another run started in the same second`,
            { code: 'FileExists' },
          );
        }
        const adoptExisting = async () => {
          const size = (await stat(finalPath)).size;
          const sha256 = await sha256File(finalPath);
          log.info({ file: { path: finalPath, size } }, 'backup file already complete from an earlier attempt');
          return {
            fileName: input.fileName,
            path: relPath,
            sizeBytes: size,
            sha256,
            rawBytes: 0,
            ...meta,
            tableCounts,
          };
        };
        if (existing) return adoptExisting();

        // A file of this attempt's own: an earlier attempt may still be running (its heartbeat timed out, it did not
        // stop), and neither may remove or publish the other's bytes.
        const partial = path.join(dir, `.${input.fileName}.${ctx.info.attempt}.partial`);
        await rm(partial, { force: true });
        log.info({ file: { path: finalPath } }, 'dump started');
        const started = Date.now();
        const progress = { rawBytes: 0, bytes: 0 };
        const hash = createHash('sha256');
        // zstd runs as a program fed by the dump tool directly when the site has it; else Node compresses.
        const filter = compressionFilter(compression);
        const dump = engine.dump(conn, input.database, { excludeTableData: input.excludeTableData, filter });
        const published = await withHeartbeat(progress, async () => {
          try {
            const stages: (NodeJS.ReadableStream | NodeJS.ReadWriteStream | NodeJS.WritableStream)[] = [dump.stdout];
            if (!filter) {
              stages.push(
                meter((n) => (progress.rawBytes += n)),
                compressStream(compression),
              );
            }
            if (masterKey) stages.push(sealStream(masterKey));
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
            const published = await publish(partial, finalPath);
            await removeEarlierPartials(dir, input.fileName, ctx.info.attempt);
            await fsyncDir(dir);
            return published;
          } catch (err) {
            dump.kill();
            await rm(partial, { force: true });
            log.warn({ err, cancelled: ctx.cancellationSignal.aborted }, 'dump failed; partial file removed');
            throw ctx.cancellationSignal.aborted ? ctx.cancellationSignal.reason : err;
          }
        });
        if (!published) return adoptExisting();
        const result = {
          fileName: input.fileName,
          path: relPath,
          sizeBytes: progress.bytes,
          sha256: hash.digest('hex'),
          rawBytes: progress.rawBytes,
          ...meta,
          tableCounts,
        };
        log.info(
          {
            file: { path: finalPath, size: result.sizeBytes, hash: { sha256: result.sha256 } },
            event: { duration: (Date.now() - started) * 1e6 },
            raw_bytes: result.rawBytes,
          },
          'dump finished',
        );
        return result;
      });
    },

    /**
     * Copies a backup to a target and proves the stored object is the backup: read back, size and SHA-256 compared.
     * Resumable where the target allows it (Azure keeps staged blocks; SFTP keeps its partial file); a copy that
     * does not match is removed, so the retry starts clean.
     */
    async upload(input: UploadInput): Promise<UploadResult> {
      return asActivity(async () => {
        const ctx = Context.current();
        const log = runLogger({ target: input.target });
        return withStorage(input.source.target, (from) =>
          withStorage(input.target, async (to) => {
            const found = await from.stat(input.source.key);
            if (!found || found.size !== input.sizeBytes) {
              throw new BackupError(
                'invalid',
                `the copy to send from (${input.source.key} at ${input.source.target}) is ${found ? `${found.size} bytes, not ${input.sizeBytes}` : 'gone'}`,
                { code: 'SourceMissing' },
              );
            }
            const source =
              input.source.target === SITE_TARGET
                ? fileSource(path.join(config.backupsDir, input.source.key), input.sizeBytes)
                : storageSource(from, input.source.key, input.sizeBytes);
            const progress = { bytes: 0, target: input.target };
            const started = Date.now();
            const report = await withHeartbeat(progress, () =>
              to.put(input.key, throttled(source, config.destinationLimit(input.target)), {
                signal: ctx.cancellationSignal,
                onProgress: (n) => {
                  progress.bytes = n;
                },
              }),
            );
            const stored = await withHeartbeat(progress, () => hashObject(to, input.key, ctx.cancellationSignal));
            if (stored.size !== input.sizeBytes || stored.sha256 !== input.sha256) {
              await to.delete(input.key);
              throw new BackupError(
                'unavailable',
                `the copy at ${input.target} did not match the backup (${stored.size} bytes, SHA-256 ${stored.sha256}); it was removed and will be sent again`,
                { code: 'CopyMismatch' },
              );
            }
            const location = to.locationOf(input.key);
            log.info(
              {
                file: { path: location, size: stored.size, hash: { sha256: stored.sha256 } },
                event: { duration: (Date.now() - started) * 1e6 },
                bytes_sent: report.bytesSent,
                resumed_from: report.resumedFrom,
              },
              'copy stored and verified',
            );
            return { location, bytesSent: report.bytesSent, resumedFrom: report.resumedFrom };
          }),
        );
      });
    },

    /** Removes copies retention let go. Deleting what is already gone succeeds, so a retry is harmless. */
    async deleteCopies(input: DeleteCopiesInput): Promise<{ deleted: string[] }> {
      return asActivity(async () => {
        const log = runLogger({ target: input.target });
        const deleted = await withStorage(input.target, async (storage) => {
          for (const key of input.keys) await storage.delete(key);
          return input.keys;
        });
        if (input.target === SITE_TARGET)
          await sweepStalePartials(new Set(input.keys.map((k) => path.dirname(path.join(config.backupsDir, k)))));
        log.info({ deleted }, 'copies deleted by retention');
        return { deleted };
      });
    },

    /** Reads every listed copy back: missing, a different size, or a different SHA-256 each say what is wrong. */
    async checkCopies(input: { copies: CopyToCheck[] }): Promise<CheckCopiesResult> {
      return asActivity(() => readBack(input.copies, { decode: false }));
    },

    /** Streams a copy to the API for a download the API is holding open; the site key proves who sends it. */
    async sendCopy(input: SendCopyInput): Promise<{ bytes: number }> {
      return asActivity(async () => {
        const ctx = Context.current();
        return withStorage(input.copy.target, async (storage) => {
          const progress = { bytes: 0 };
          // Not .pipe(): a failing read (a dropped SFTP session) must reach the request, not end the worker as uncaught.
          const body = pipeThrough(
            await storage.get(input.copy.key, { signal: ctx.cancellationSignal }),
            meter((n) => (progress.bytes += n)),
            () => {},
          );
          const url = new URL(`/api/v1/agent/transfers/${encodeURIComponent(input.transferId)}`, config.file.apiUrl);
          const res = await withHeartbeat(progress, () =>
            fetch(url, {
              method: 'PUT',
              headers: {
                authorization: `Bearer ${config.file.siteKey}`,
                'content-type': 'application/octet-stream',
                'content-length': String(input.sizeBytes),
              },
              body: Readable.toWeb(body) as ReadableStream,
              duplex: 'half',
              signal: ctx.cancellationSignal,
            } as RequestInit),
          );
          if (!res.ok)
            throw new BackupError(
              res.status >= 500 ? 'unavailable' : 'invalid',
              `the API refused the download stream: HTTP ${res.status} ${await res.text()}`,
            );
          runLogger({ target: input.copy.target }).info(
            { file: { path: input.copy.key }, bytes: progress.bytes },
            'copy sent for download',
          );
          return { bytes: progress.bytes };
        });
      });
    },

    /**
     * Restores a backup into a database of a server at this site, streaming: copy → decrypt → decompress → the
     * engine's restore tool. The copy's size and SHA-256 are proven first, so a damaged copy never touches the target;
     * a database that has tables is refused unless `overwrite` says to replace it.
     */
    async restore(input: RestoreInput): Promise<RestoreResult> {
      return asActivity(async () => {
        const ctx = Context.current();
        const log = runLogger({ server: input.serverName, database: input.database, target: input.source.target });
        const parsed = parseBackupFileName(input.fileName);
        if (!parsed) throw invalid(`'${input.fileName}' is not a backup file name`);
        const { conn, engine } = await engineFor(input.serverName);
        if (parsed.format !== engine.format)
          throw invalid(
            `'${input.fileName}' is a .${parsed.format} dump; server '${input.serverName}' is ${engine.name} (.${engine.format})`,
          );
        const masterKey = parsed.encrypted ? await requireMasterKey() : undefined;
        return withStorage(input.source.target, async (storage) => {
          const progress = { phase: 'verify', bytes: 0, sizeBytes: input.sizeBytes, rawBytes: 0 };
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
          progress.phase = 'restore';
          const started = Date.now();
          const limit = input.source.target === SITE_TARGET ? undefined : config.destinationLimit(input.source.target);
          const algorithm = parsed.compression === 'gz' ? 'gzip' : 'zstd';
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
              engine.restore(conn, input.database, decoded?.stdout ?? fed, { into, signal: ctx.cancellationSignal }),
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
    },

    /**
     * Reads each copy end to end: its SHA-256, and its stream decrypted and decompressed to the last byte, so a copy
     * whose hash was recorded from damaged bytes, or a cut stream, is caught too.
     */
    async verifyCopies(input: { copies: CopyToCheck[] }): Promise<CheckCopiesResult> {
      return asActivity(async () => readBack(input.copies, { decode: true, masterKey: await config.masterKey() }));
    },

    /**
     * A restored database against what was recorded at backup time: every table present, row counts within the
     * tolerance, and each SQL assertion true. Answers each check; a failed check is a result, not an error.
     */
    async inspectRestore(input: {
      serverName: string;
      database: string;
      expected: TableCount[];
      tolerancePercent: number;
      assertions: string[];
    }): Promise<DryRunCheck[]> {
      return asActivity(async () => {
        const { conn, engine } = await engineFor(input.serverName);
        const actual = new Map(
          (await engine.tableRowCounts(conn, input.database, { exactBelowRows: Number.MAX_SAFE_INTEGER })).map((t) => [
            t.table,
            t.rows,
          ]),
        );
        const checks: DryRunCheck[] = [];
        const missing = input.expected.filter((t) => !actual.has(t.table)).map((t) => t.table);
        checks.push({
          name: 'every table present',
          ok: missing.length === 0,
          detail: missing.length ? `missing after restore: ${missing.join(', ')}` : `${input.expected.length} tables`,
        });
        const off = input.expected
          .filter((t) => actual.has(t.table))
          .filter((t) => Math.abs(actual.get(t.table)! - t.rows) > allowedDrift(t, input.tolerancePercent))
          .map((t) => `${t.table}: ${actual.get(t.table)} rows, ${t.rows} at backup time`);
        checks.push({
          name: 'row counts',
          ok: off.length === 0,
          detail: off.length ? off.join('; ') : `within ${input.tolerancePercent}% of the counts at backup time`,
        });
        for (const [i, sql] of input.assertions.entries()) {
          try {
            const r = await assertionHolds(conn, input.database, sql);
            checks.push({ name: `assertion ${i + 1}`, ok: r.ok, detail: `${sql} → ${r.value}` });
          } catch (err) {
            checks.push({
              name: `assertion ${i + 1}`,
              ok: false,
              detail: `${sql} → ${err instanceof Error ? err.message : String(err)}`,
            });
          }
        }
        return checks;
      });
    },

    /** Drops a drill's scratch database; one that is already gone is fine. */
    async dropDatabase(input: { serverName: string; database: string }): Promise<void> {
      return asActivity(async () => {
        const { conn, engine } = await engineFor(input.serverName);
        await engine.dropDatabase(conn, input.database);
        runLogger({ server: input.serverName, database: input.database }).info('scratch database dropped');
      });
    },

    /** Everything a backup needs, checked without storing a byte: each check passes or says why it fails. */
    async dryRun(input: DryRunInput): Promise<DryRunReport> {
      return asActivity(async () => {
        const checks: DryRunCheck[] = [];
        const check = async <T>(
          name: string,
          fn: () => Promise<T>,
          describe: (v: T) => string,
        ): Promise<T | undefined> => {
          try {
            const v = await fn();
            checks.push({ name, ok: true, detail: describe(v) });
            return v;
          } catch (err) {
            checks.push({ name, ok: false, detail: err instanceof Error ? err.message : String(err) });
            return undefined;
          }
        };
        const settings = await check(
          'server configuration',
          () => engineFor(input.serverName),
          ({ engine }) => `${engine.name} server '${input.serverName}' is in the site configuration`,
        );
        let estimatedBytes = 0;
        if (settings) {
          const { conn, engine } = settings;
          const server = await check(
            'connection',
            () => engine.serverVersion(conn),
            (v) => `logged in; server version ${v}`,
          );
          await check(
            'dump tool',
            async () => {
              const tool = await engine.dumpToolVersion();
              if (server) compareVersions(engine.name, tool, server);
              return tool;
            },
            (v) => v,
          );
          for (const database of input.databases) {
            const ok = await check(
              `database ${database}`,
              async () => {
                if (!(await engine.databaseExists(conn, database)))
                  throw new BackupError('invalid', `database '${database}' does not exist`);
                return engine.estimateSize(conn, database);
              },
              (n) => `exists, about ${formatBytes(n)}`,
            );
            if (ok === undefined) continue;
            estimatedBytes += ok;
            if (input.tables.length > 0)
              await check(
                `tables to clean in ${database}`,
                () =>
                  engine.resolveTables(
                    conn,
                    database,
                    input.tables.map((t) => t.table),
                  ),
                (t) => `${t.length} found`,
              );
            // Counting rows reads every table the dump reads: a missing grant shows up here.
            await check(
              `read access to ${database}`,
              () => engine.tableRowCounts(conn, database, { exactBelowRows: 10_000 }),
              (t) => `${t.length} tables readable`,
            );
          }
        }
        let freeBytes = 0;
        await check(
          'free space at the site',
          async () => {
            await mkdir(config.backupsDir, { recursive: true });
            const fs = await statfs(config.backupsDir);
            freeBytes = fs.bavail * fs.bsize;
            const usable = freeBytes - config.file.minFreeBytes;
            // Uncompressed size is the honest upper bound: compression ratios vary too much to plan on.
            if (usable < estimatedBytes)
              throw new BackupError(
                'invalid',
                `${formatBytes(usable)} usable in ${config.backupsDir} (free ${formatBytes(freeBytes)} less the ${formatBytes(config.file.minFreeBytes)} kept free), but the databases hold about ${formatBytes(estimatedBytes)}`,
              );
            return usable;
          },
          (n) => `${formatBytes(n)} usable for about ${formatBytes(estimatedBytes)}`,
        );
        if (input.encrypt)
          await check(
            'encryption key',
            () => requireMasterKey().then(keyId),
            (id) => `tenant key ${id}`,
          );
        for (const name of input.destinations) {
          await check(
            `destination ${name}`,
            () =>
              withStorage(name, async (s) => {
                await s.probeWritable(`${identity.tenantId}/${identity.siteId}`);
                return s.locationOf(`${identity.tenantId}/${identity.siteId}`);
              }),
            (where) => `writable: ${where}`,
          );
        }
        const report = {
          ok: checks.every((c) => c.ok),
          checks,
          estimatedBytes,
          estimatedSeconds: Math.ceil(estimatedBytes / DUMP_BYTES_PER_SECOND),
          freeBytes,
        };
        runLogger({ server: input.serverName }).info(
          { dry_run: { ok: report.ok, failed: checks.filter((c) => !c.ok).map((c) => c.name) } },
          'dry run finished',
        );
        return report;
      });
    },
  };

  /** The site's own Backups folder, or a destination from the site configuration; closed when `fn` is done. */
  async function withStorage<T>(target: string, fn: (storage: Storage) => Promise<T>): Promise<T> {
    const storage = await openStorage(
      target === SITE_TARGET ? { type: 'local', path: config.backupsDir } : config.destination(target),
    );
    try {
      return await fn(storage);
    } finally {
      await storage.close().catch(() => undefined);
    }
  }

  /** Keeps the activity alive while `fn` works, with whatever progress it reports. */
  async function withHeartbeat<T>(progress: object, fn: () => Promise<T>): Promise<T> {
    const ctx = Context.current();
    ctx.heartbeat(progress);
    const beat = setInterval(() => ctx.heartbeat(progress), heartbeatEvery(ctx.info.heartbeatTimeoutMs));
    try {
      return await fn();
    } finally {
      clearInterval(beat);
    }
  }

  /** Each copy read back at its target; a target that cannot be reached is reported, its copies left unjudged. */
  async function readBack(
    copies: CopyToCheck[],
    opts: { decode: boolean; masterKey?: Buffer },
  ): Promise<CheckCopiesResult> {
    const ctx = Context.current();
    const out: CheckCopiesResult = { results: [], unreachable: [] };
    const progress = { checked: 0, bytes: 0 };
    for (const [target, group] of Map.groupBy(copies, (c) => c.target)) {
      try {
        await withStorage(target, async (storage) => {
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
    runLogger({}).info(
      { checked: out.results.length, bad, unreachable: out.unreachable, decoded: opts.decode },
      opts.decode ? 'copies verified' : 'copies checked',
    );
    return out;
  }

  /** Partial files of attempts that died long ago; a live attempt's partial file is younger than this. */
  async function sweepStalePartials(dirs: Set<string>): Promise<void> {
    for (const dir of dirs) {
      for (const name of (await readdir(dir).catch(() => [] as string[])).filter(
        (n) => n.startsWith('.') && n.endsWith('.partial'),
      )) {
        const s = await stat(path.join(dir, name)).catch(() => undefined);
        if (s && Date.now() - s.mtimeMs > STALE_PARTIAL_MS) await rm(path.join(dir, name), { force: true });
      }
    }
  }
}

/**
 * Gives a finished partial file its final name, unless another attempt of the run published first (false). With
 * link, not rename: it fails rather than replace a published file. (ENOENT: a later attempt published and removed
 * this one's partial file.)
 */
async function publish(partial: string, finalPath: string): Promise<boolean> {
  const published = await link(partial, finalPath).then(
    () => true,
    async (e: NodeJS.ErrnoException) => {
      if (e.code === 'EEXIST' || e.code === 'ENOENT') return false;
      if (!NO_HARD_LINKS.has(e.code ?? '')) throw e;
      // A file system without hard links (FAT, some network shares): rename, unless a file is there already.
      if (
        await stat(finalPath).then(
          () => true,
          () => false,
        )
      )
        return false;
      await rename(partial, finalPath);
      return true;
    },
  );
  await rm(partial, { force: true });
  return published;
}

/** What earlier attempts of a dump left (a worker that died mid-dump); a later attempt's partial file is its own. */
async function removeEarlierPartials(dir: string, fileName: string, attempt: number): Promise<void> {
  const attemptOf = (name: string) => {
    if (name === partialName(fileName)) return 0; // the name before attempts had their own
    const m = name.startsWith(`.${fileName}.`) ? /^\.(\d+)\.partial$/.exec(name.slice(fileName.length + 1)) : null;
    return m ? Number(m[1]) : undefined;
  };
  for (const name of await readdir(dir)) {
    const n = attemptOf(name);
    if (n !== undefined && n < attempt) await rm(path.join(dir, name), { force: true });
  }
}

/** What link() answers on a file system that has no hard links. */
const NO_HARD_LINKS = new Set(['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS']);

/** A planning figure for the duration estimate: dump, compress and hash on one core move about this much. */
const DUMP_BYTES_PER_SECOND = 100 * 1024 * 1024;

function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let i = 0;
  let v = n;
  while (Math.abs(v) >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
}

/** pg_dump refuses a server newer than itself; other tools are reported as they are. */
function compareVersions(engine: string, tool: string, server: string): void {
  if (engine !== 'postgresql') return;
  const major = (s: string) => Number(/(\d+)(?:\.\d+)?/.exec(s)?.[1] ?? NaN);
  if (major(tool) < major(server))
    throw new BackupError(
      'invalid',
      `${tool} cannot dump a PostgreSQL ${major(server)} server: install the PostgreSQL ${major(server)} client tools at the site`,
    );
}

/** A count recorded from the catalogue's estimate is itself rough: it gets at least 10% on top of the tolerance. */
const allowedDrift = (t: TableCount, tolerancePercent: number) =>
  (t.rows * (t.exact ? tolerancePercent : Math.max(tolerancePercent, 10))) / 100;

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

/**
 * Which failed first: the storage's read, or one of the steps after it (decryption, decompression). A failure is
 * passed on to the other streams, so the one that failed first is where it began.
 */
function failedFirst(source: Readable, steps: Transform[]): () => 'read' | 'step' | undefined {
  let first: 'read' | 'step' | undefined;
  source.once('error', () => (first ??= 'read'));
  for (const step of steps) step.once('error', () => (first ??= 'step'));
  return () => first;
}

/** A copy that is not there reads as nothing; any other failure to read it is the failure. */
function unlessNotFound(err: unknown): undefined {
  if (err instanceof BackupError && err.kind === 'not_found') return undefined;
  throw err;
}

const heartbeatEvery = (timeoutMs: number | undefined) => Math.max(1000, Math.min(10_000, (timeoutMs ?? 30_000) / 3));

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
