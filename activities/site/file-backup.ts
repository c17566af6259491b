// fileBackup: a folder tree of the site configuration backed up as a full, differential or incremental archive
// (activities/files), through compression and encryption into a partial file of this attempt's own, then published
// under its name in one step, as a dump is. Its manifest is kept beside it for the next backup to compare with.
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { Context } from '@temporalio/activity';
import { BackupError, invalid } from '../../common/errors.ts';
import { DEFAULT_COMPRESSION, type BackupType, type Compression } from '../../common/model.ts';
import { archiveFrames, writeArchive, type ArchiveProgress, type WrittenArchive } from '../files/archive-io.ts';
import { FRAME } from '../files/archive.ts';
import { emptyReport, treeFrames, type TreeBackupReport } from '../files/tree-backup.ts';
import { ManifestWriter, parseEntry } from '../files/manifest.ts';
import { asActivity } from '../failure.ts';
import { fsyncDir } from '../fsync.ts';
import { keyId } from '../pipeline/envelope.ts';
import { withHeartbeat, type SiteContext } from './context.ts';
import { publish, removeEarlierPartials, sha256File } from './files.ts';

export interface FileBackupInput {
  /** A file source of the site configuration. */
  source: string;
  /** `<source>_<yyyyMMdd>_<HHmmss>.bpf.<zst|gz>[.enc]`, as the workflow names it. */
  fileName: string;
  type: BackupType;
  /** The file name of the backup this one is compared with: the last full, or the last backup. */
  baseFileName?: string;
  compression?: Compression;
  encrypt?: boolean;
}

export interface FileBackupResult {
  fileName: string;
  /** Relative to the site's Backups folder. */
  path: string;
  sizeBytes: number;
  sha256: string;
  rawBytes: number;
  compression: string;
  encrypted: boolean;
  keyId: string | null;
  type: BackupType;
  /** What the archive carries and what went wrong on the way (unreadable files, files changing while read). */
  report: TreeBackupReport;
}

const FILE_NAME_RE = /^[a-z0-9][a-z0-9._-]*\.bpf\.(zst|gz)(\.enc)?$/;

/** Where a file source's backups and their manifests live. */
export function fileBackupPlaces(site: SiteContext, source: string, fileName: string) {
  if (!FILE_NAME_RE.test(fileName))
    throw invalid(`'${fileName}' is not a file backup name (<name>.bpf.zst)`, 'fileName');
  const dir = site.config.folder(source, 'files');
  return {
    dir,
    finalPath: path.join(dir, fileName),
    relPath: path.relative(site.config.backupsDir, path.join(dir, fileName)),
    manifestDir: path.join(dir, '.manifests'),
    manifestOf: (name: string) => path.join(dir, '.manifests', `${name}.jsonl`),
  };
}

/** A manifest taken out of its archive: for a base whose manifest file is gone (a crash between the two). */
export async function extractManifest(archive: string, out: string, masterKey?: Buffer): Promise<void> {
  const name = path.basename(archive);
  const writer = new ManifestWriter(`${out}.partial`);
  try {
    const frames = archiveFrames(
      { file: archive, compression: name.includes('.bpf.gz') ? 'gzip' : 'zstd', encrypted: name.endsWith('.enc') },
      masterKey,
    );
    for await (const f of frames)
      if (f.type === FRAME.manifest)
        for (const line of f.body.toString('utf8').split('\n')) if (line) await writer.add(parseEntry(line, name));
    await writer.close();
  } catch (e) {
    writer.destroy();
    await rm(`${out}.partial`, { force: true });
    throw e;
  }
  await rename(`${out}.partial`, out);
}

export function createFileBackup(site: SiteContext) {
  return async function fileBackup(input: FileBackupInput): Promise<FileBackupResult> {
    return asActivity(async () => {
      const ctx = Context.current();
      const log = site.runLogger({ server: input.source });
      site.config.fileSource(input.source); // an unknown source fails before anything is written
      const places = fileBackupPlaces(site, input.source, input.fileName);
      const compression = input.compression ?? DEFAULT_COMPRESSION;
      const masterKey = input.encrypt ? await site.requireMasterKey() : undefined;
      await mkdir(places.manifestDir, { recursive: true });
      const attempt = ctx.info.attempt;
      const existing = await stat(places.finalPath).catch(() => undefined);
      if (existing && attempt === 1)
        // No earlier attempt of this run can have written it: another run took the same second.
        throw new BackupError('conflict', `backup file ${places.relPath} already exists at the site`, {
          code: 'FileExists',
        });
      const meta = {
        compression: compression.algorithm,
        encrypted: !!masterKey,
        keyId: masterKey ? keyId(masterKey) : null,
      };
      const report = emptyReport(input.type);
      log.info({ file: { path: places.finalPath }, backup_type: input.type }, 'file backup started');
      // An earlier attempt of this run published it: reported as it is on disk.
      const written = existing
        ? undefined
        : await writeBackup(site, input, places, { compression, masterKey, report, attempt });
      const sizeBytes = written?.sizeBytes ?? (await stat(places.finalPath)).size;
      const sha256 = written?.sha256 ?? (await sha256File(places.finalPath));
      if (!written) await ensureManifest(places, input.fileName, masterKey);
      const result = {
        fileName: input.fileName,
        path: places.relPath,
        sizeBytes,
        sha256,
        rawBytes: written?.rawBytes ?? 0,
        ...meta,
        type: input.type,
        report,
      };
      log.info(
        {
          file: { path: places.finalPath, size: sizeBytes, hash: { sha256 } },
          backup_type: input.type,
          files: report.files,
          deleted: report.deleted,
          warnings: report.warningCount,
        },
        report.changedWhileRead.length > 0
          ? 'file backup finished; some files changed while read'
          : 'file backup finished',
      );
      return result;
    });
  };
}

/** Walks, archives and publishes; undefined when an earlier attempt still running published first. */
async function writeBackup(
  site: SiteContext,
  input: FileBackupInput,
  places: Places,
  opts: { compression: Compression; masterKey: Buffer | undefined; report: TreeBackupReport; attempt: number },
): Promise<WrittenArchive | undefined> {
  const { attempt } = opts;
  const signal = Context.current().cancellationSignal;
  const src = site.config.fileSource(input.source);
  const base = input.type === 'full' ? undefined : await baseManifest(places, input, opts.masterKey);
  const partial = path.join(places.dir, `.${input.fileName}.${attempt}.partial`);
  const manifestPartial = path.join(places.manifestDir, `.${input.fileName}.${attempt}.partial`);
  const progress: ArchiveProgress = { rawBytes: 0, bytes: 0 };
  await rm(partial, { force: true });
  const frames = treeFrames(
    { type: input.type, ...src, roots: src.paths, baseManifest: base, manifestPath: manifestPartial },
    opts.report,
  );
  return withHeartbeat(progress, async () => {
    try {
      const w = await writeArchive(frames, partial, { ...opts, signal, progress });
      const won = await publish(partial, places.finalPath);
      if (won) await rename(manifestPartial, places.manifestOf(input.fileName));
      await removeEarlierPartials(places.dir, input.fileName, attempt);
      await removeEarlierPartials(places.manifestDir, input.fileName, attempt);
      await fsyncDir(places.dir);
      return won ? w : undefined;
    } catch (err) {
      await rm(partial, { force: true });
      throw err;
    } finally {
      await rm(manifestPartial, { force: true });
    }
  });
}

type Places = ReturnType<typeof fileBackupPlaces>;

async function baseManifest(places: Places, input: FileBackupInput, masterKey: Buffer | undefined): Promise<string> {
  if (!input.baseFileName) throw invalid(`a ${input.type} backup needs the backup it is based on`, 'baseFileName');
  if (!FILE_NAME_RE.test(input.baseFileName))
    throw invalid(`'${input.baseFileName}' is not a file backup name`, 'baseFileName');
  await ensureManifest(places, input.baseFileName, masterKey);
  return places.manifestOf(input.baseFileName);
}

async function ensureManifest(places: Places, fileName: string, masterKey?: Buffer): Promise<void> {
  const manifest = places.manifestOf(fileName);
  if (
    await stat(manifest).then(
      () => true,
      () => false,
    )
  )
    return;
  const archive = path.join(places.dir, fileName);
  if (
    !(await stat(archive).then(
      () => true,
      () => false,
    ))
  )
    throw new BackupError(
      'invalid',
      `the base backup ${fileName} and its manifest are gone from the site: run a full backup`,
      { code: 'BaseMissing' },
    );
  await extractManifest(archive, manifest, masterKey);
}
