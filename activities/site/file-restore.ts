// fileRestore: a point of a file backup restored into a new folder under the site's restores folder: the chain's
// site copies proven (size, SHA-256) before anything is written, applied in order into a folder of this attempt's
// own, checked against the point's manifest, then given its name in one step.
import { mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { Context } from '@temporalio/activity';
import { BackupError, invalid } from '../../common/errors.ts';
import type { BackupType } from '../../common/model.ts';
import { checkedPath } from '../files/place.ts';
import { checkChain, restoreTree } from '../files/tree-restore.ts';
import type { ApplyReport } from '../files/restore-meta.ts';
import { asActivity } from '../failure.ts';
import { withHeartbeat, type SiteContext } from './context.ts';
import { fileBackupPlaces } from './file-backup.ts';
import { sha256File } from './files.ts';

export interface FileRestoreInput {
  source: string;
  /** Oldest first: the full, then a differential or the incrementals up to the point. */
  chain: { fileName: string; type: BackupType; sizeBytes: number; sha256: string }[];
  /** A new folder under the site's restores folder (one name, no path). */
  target: string;
  /** One path of the backup (as the manifest names it, e.g. `srv/www/index.html`), restored alone. */
  only?: string;
  /** Hash every restored file against the manifest (drills). */
  verify?: boolean;
}

export interface FileRestoreResult extends ApplyReport {
  /** The restored folder at the site. */
  folder: string;
}

const TARGET_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export function createFileRestore(site: SiteContext) {
  return async function fileRestore(input: FileRestoreInput): Promise<FileRestoreResult> {
    return asActivity(async () => {
      const ctx = Context.current();
      const log = site.runLogger({ server: input.source });
      if (!TARGET_RE.test(input.target))
        throw invalid('the target is one folder name: letters, digits, . _ -', 'target');
      const only = input.only?.replace(/^\/+/, '');
      if (only !== undefined) {
        try {
          checkedPath(only);
        } catch {
          throw invalid(`'${input.only}' is not a path inside the backup`, 'only');
        }
      }
      checkChain(input.chain.map((c) => c.type));
      const folder = path.join(site.config.restoresDir, input.target);
      await mkdir(site.config.restoresDir, { recursive: true });
      const done = await stat(folder).catch(() => undefined);
      if (done && ctx.info.attempt === 1)
        throw new BackupError('conflict', `the folder ${folder} exists already: choose another target`);
      const attempt = ctx.info.attempt;
      for (const name of await readdir(site.config.restoresDir))
        if (name.startsWith(`.${input.target}.`) && name.endsWith('.partial'))
          await rm(path.join(site.config.restoresDir, name), { recursive: true, force: true });
      if (done) return { folder, entries: 0, files: 0, bytes: 0 }; // an earlier attempt finished it
      const progress = { phase: 'verify', bytes: 0 };
      const chain = await withHeartbeat(progress, () => provenChain(site, input, progress));
      const masterKey = chain.some((c) => c.encrypted) ? await site.requireMasterKey() : undefined;
      const work = path.join(site.config.restoresDir, `.${input.target}.${attempt}.partial`);
      const report = await withHeartbeat(progress, async () => {
        progress.phase = 'restore';
        progress.bytes = 0;
        try {
          const r = await restoreTree({
            chain,
            target: path.join(work, 'tree'),
            masterKey,
            workFile: path.join(work, 'manifest'),
            verify: input.verify,
            onBytes: (n) => (progress.bytes += n),
            ...(only && { only }),
          });
          await rm(path.join(work, 'manifest'), { force: true });
          return r;
        } catch (e) {
          await rm(work, { recursive: true, force: true });
          throw e;
        }
      });
      await rename(path.join(work, 'tree'), folder);
      await rm(work, { recursive: true, force: true });
      log.info({ file: { directory: folder }, files: report.files, bytes: report.bytes }, 'file restore finished');
      return { folder, ...report };
    });
  };
}

async function provenChain(site: SiteContext, input: FileRestoreInput, progress: { bytes: number }) {
  const out = [];
  for (const c of input.chain) {
    const places = fileBackupPlaces(site, input.source, c.fileName);
    const st = await stat(places.finalPath).catch(() => undefined);
    if (!st || st.size !== c.sizeBytes)
      throw new BackupError(
        'invalid',
        `the site copy of ${c.fileName} is ${st ? `${st.size} bytes, not ${c.sizeBytes}` : 'gone'}`,
        { code: 'SourceMissing' },
      );
    if ((await sha256File(places.finalPath)) !== c.sha256)
      throw new BackupError('invalid', `the site copy of ${c.fileName} does not match its SHA-256: it is damaged`, {
        code: 'BackupTampered',
      });
    progress.bytes += st.size;
    const m = /\.bpf\.(zst|gz)(\.enc)?$/.exec(c.fileName)!;
    out.push({
      file: places.finalPath,
      type: c.type,
      compression: m[1] === 'gz' ? ('gzip' as const) : ('zstd' as const),
      encrypted: !!m[2],
    });
  }
  return out;
}
