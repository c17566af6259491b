// mirrorObjects: one batch of an object mirror at the site. The application's new rows after the cursor, each version
// fetched by its signed URL (at most `concurrency` at once, within one shared bandwidth limit), checked, compressed
// and stored as `<root>/<bucket>/<path without extension>/v<N>.gzip`. A version whose file is already there was
// finished by an earlier attempt and is not fetched again: a worker killed mid-batch resumes where it stood.
// applyMirrorDeletions: the application's deletions, once older than the grace period, remove the file's versions.
import { Context } from '@temporalio/activity';
import { readdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { BackupError } from '../../common/errors.ts';
import {
  mirrorFolder,
  mirrorKey,
  normalizeSha256,
  type MirrorBatchResult,
  type MirrorLayout,
  type MirrorRemoved,
  type MirrorVersionResult,
} from '../../common/mirror.ts';
import { OutboundPolicy } from '../../common/outbound.ts';
import { asActivity } from '../failure.ts';
import { fsyncDir } from '../fsync.ts';
import type { SiteConfig } from '../site-config.ts';
import { withHeartbeat, type SiteContext } from './context.ts';
import { fetchVersion, removeEmptyFolders, sharedPace } from './mirror-fetch.ts';
import { readDueDeletions, readNewFiles, type SourceFile } from './mirror-source.ts';

export interface MirrorBatchInput {
  serverName: string;
  database: string;
  layout: MirrorLayout;
  cursor: string | null;
  limit: number;
  keepVersions: number | null;
  concurrency: number;
  maxBytesPerSecond: number | null;
}

const VERSION_FILE = /^v(\d+)\.gzip$/;

const rootOf = (config: SiteConfig) => path.resolve(config.file.mirrorRoot ?? config.backupsDir);

/** The mirror root, and a key's file under it; a key that would leave the root is refused whatever made it. */
function fileOf(config: SiteConfig, key: string): string {
  const root = rootOf(config);
  const file = path.resolve(root, key);
  if (!file.startsWith(root + path.sep)) throw new BackupError('invalid', `refused: '${key}' leaves the mirror root`);
  return file;
}

/** The versions stored in a file's folder, newest first. */
async function storedVersions(folder: string): Promise<number[]> {
  const names = await readdir(folder).catch(() => [] as string[]);
  return names
    .map((n) => VERSION_FILE.exec(n)?.[1])
    .filter((v): v is string => v !== undefined)
    .map(Number)
    .sort((a, b) => b - a);
}

export function createMirrorObjects(site: SiteContext) {
  return async function mirrorObjects(input: MirrorBatchInput): Promise<MirrorBatchResult> {
    return asActivity(async () => {
      const log = site.runLogger({ server: input.serverName, database: input.database });
      const { conn } = await site.engineFor(input.serverName);
      const rows = await readNewFiles(conn, input.database, input.layout, input.cursor, input.limit);
      const progress = { cursor: input.cursor, rows: rows.length, done: 0, bytes: 0 };
      const ctx = Context.current();
      const unsynced = new Set<string>();
      const version = versionMirror(site, input, unsynced, ctx.cancellationSignal, (n) => (progress.bytes += n));
      const results = await withHeartbeat(progress, async () => {
        const out: MirrorVersionResult[] = new Array<MirrorVersionResult>(rows.length);
        let next = 0;
        const lanes = Array.from({ length: Math.max(1, Math.min(input.concurrency, rows.length)) }, async () => {
          while (next < rows.length) {
            const i = next++;
            out[i] = await version(rows[i]!);
            progress.done++;
          }
        });
        await Promise.all(lanes);
        // The renames reach the disk before the batch is reported (and the cursor moves past it).
        for (const dir of unsynced) await fsyncDir(dir);
        return out;
      });
      const pruned = input.keepVersions ? await prune(site.config, results, input.keepVersions) : [];
      const failed = results.filter((r) => r.state === 'failed').length;
      log.info(
        { mirror: { rows: rows.length, failed, pruned: pruned.length, bytes: progress.bytes } },
        'object mirror batch done',
      );
      return {
        versions: results,
        pruned,
        cursor: rows.at(-1)?.id ?? input.cursor,
        more: rows.length === input.limit,
        fetchedBytes: progress.bytes,
      };
    });
  };
}

/** What happens to one row: refused, already stored, superseded by newer stored versions, or fetched now. */
function versionMirror(
  site: SiteContext,
  input: MirrorBatchInput,
  unsyncedDirs: Set<string>,
  signal: AbortSignal,
  onBytes: (n: number) => void,
) {
  const policy = new OutboundPolicy(site.config.file.mirrorAllow);
  const pace = input.maxBytesPerSecond ? sharedPace(input.maxBytesPerSecond) : undefined;
  const root = rootOf(site.config);
  return async (row: SourceFile): Promise<MirrorVersionResult> => {
    const base = { fileId: row.id, bucket: row.storage, path: row.path, version: row.version };
    const failed = (failure: MirrorVersionResult['failure'], error: string, key?: string): MirrorVersionResult => ({
      ...base,
      key,
      state: 'failed',
      failure,
      error,
    });
    const k = mirrorKey(row.storage, row.path, row.version);
    if ('problem' in k) return failed('bad_path', k.problem);
    const sha256 = normalizeSha256(row.hash ?? '');
    if (!sha256) return failed('hash', "the row's Hash is not a SHA-256 (hex or base64): not fetched", k.key);
    const file = fileOf(site.config, k.key);
    const done = await stat(file).catch(() => undefined);
    if (done) return { ...base, key: k.key, state: 'stored', storedBytes: done.size, sha256, reused: true };
    if (input.keepVersions) {
      const newer = (await storedVersions(path.dirname(file))).filter((v) => v > row.version);
      if (newer.length >= input.keepVersions) return { ...base, key: k.key, state: 'superseded' };
    }
    // Only a retried batch can find work files an earlier attempt left.
    if (Context.current().info.attempt > 1) await removeWorkFiles(file);
    const got = await fetchVersion({
      url: row.url ?? '',
      sha256,
      file,
      root,
      unsyncedDirs,
      policy,
      signal,
      pace,
      onBytes,
    });
    if (!got.ok) {
      await removeEmptyFolders(path.dirname(file), root);
      return failed(got.failure, got.error, k.key);
    }
    return { ...base, key: k.key, state: 'stored', sourceBytes: got.sourceBytes, storedBytes: got.storedBytes, sha256 };
  };
}

/** Work files a killed attempt left for this version. */
async function removeWorkFiles(file: string): Promise<void> {
  const dir = path.dirname(file);
  const prefix = `.${path.basename(file)}.`;
  for (const n of await readdir(dir).catch(() => [] as string[]))
    if (n.startsWith(prefix) && n.endsWith('.partial')) await rm(path.join(dir, n), { force: true });
}

/** Keeps the newest `keep` versions in each folder this batch touched. */
async function prune(config: SiteConfig, results: MirrorVersionResult[], keep: number): Promise<MirrorRemoved[]> {
  const folders = new Map<string, { bucket: string; path: string }>();
  for (const r of results) if (r.key && r.state !== 'failed') folders.set(mirrorFolder(r.key), r);
  const removed: MirrorRemoved[] = [];
  for (const [folder, r] of folders) {
    const dir = path.dirname(fileOf(config, `${folder}/v0.gzip`));
    for (const v of (await storedVersions(dir)).slice(keep)) {
      await rm(path.join(dir, `v${v}.gzip`), { force: true });
      removed.push({ bucket: r.bucket, path: r.path, version: v });
    }
  }
  return removed;
}

export interface MirrorDeletionsInput {
  serverName: string;
  database: string;
  layout: MirrorLayout;
  graceDays: number;
  /** The run's "now" (the workflow's start, or a time a test injects). */
  asOf: string;
  since: string | null;
}

export function createApplyMirrorDeletions(site: SiteContext) {
  return async function applyMirrorDeletions(
    input: MirrorDeletionsInput,
  ): Promise<{ removed: (MirrorRemoved & { files: number })[]; since: string | null }> {
    return asActivity(async () => {
      const { conn } = await site.engineFor(input.serverName);
      const dueBefore = new Date(Date.parse(input.asOf) - input.graceDays * 86_400_000);
      const since = input.since ? new Date(input.since) : null;
      const due = await readDueDeletions(conn, input.database, input.layout, since, dueBefore);
      const removed: (MirrorRemoved & { files: number })[] = [];
      for (const d of due) {
        const k = mirrorKey(d.storage, d.path, d.version);
        if ('problem' in k) continue;
        const dir = path.dirname(fileOf(site.config, k.key));
        let files = 0;
        for (const v of await storedVersions(dir))
          if (v <= d.version) {
            await rm(path.join(dir, `v${v}.gzip`), { force: true });
            files++;
          }
        await removeEmptyFolders(dir, rootOf(site.config));
        removed.push({ bucket: d.storage, path: d.path, version: d.version, files });
      }
      const last = due.at(-1)?.deletedAt;
      return { removed, since: last ? last.toISOString() : input.since };
    });
  };
}
