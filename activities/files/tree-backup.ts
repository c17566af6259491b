// One file backup as a stream of archive frames: the walk compared with the base manifest, content read for what
// changed, the new manifest written beside it as the walk goes, and appended to the archive at its end.
import { createReadStream } from 'node:fs';
import type { BackupType } from '../../common/model.ts';
import { ARCHIVE_FORMAT, ARCHIVE_VERSION, CHUNK_BYTES, FRAME, frameHead, jsonFrame } from './archive.ts';
import { compareTrees, type Change } from './changes.ts';
import { contentFrames, hashContent, type ReadOutcome } from './content.ts';
import { pathFilter } from './glob.ts';
import { ManifestWriter, readManifest, type Entry } from './manifest.ts';
import { walkRoots, type WalkWarning } from './walk.ts';

export interface TreeBackupOptions {
  type: BackupType;
  roots: string[];
  include: string[];
  exclude: string[];
  /** The manifest this backup is compared with: the last full (differential) or the last backup (incremental). */
  baseManifest?: string;
  /** Where this backup's manifest is written (the caller publishes it with the archive). */
  manifestPath: string;
}

/** Warnings kept in a result; the rest are counted. */
const MAX_WARNINGS = 100;

export interface TreeBackupReport {
  type: BackupType;
  /** Entries in the manifest: the whole tree at this point. */
  entries: number;
  /** Files whose content the archive carries, and their bytes. */
  files: number;
  contentBytes: number;
  /** Entries carried without content (folders, links, metadata changes). */
  metaOnly: number;
  deleted: number;
  /** Files that changed while read: archived as read, and read again by the next backup. */
  changedWhileRead: string[];
  warnings: WalkWarning[];
  warningCount: number;
}

export function emptyReport(type: BackupType): TreeBackupReport {
  return {
    type,
    entries: 0,
    files: 0,
    contentBytes: 0,
    metaOnly: 0,
    deleted: 0,
    changedWhileRead: [],
    warnings: [],
    warningCount: 0,
  };
}

function warnInto(report: TreeBackupReport) {
  return (w: WalkWarning) => {
    report.warningCount++;
    if (report.warnings.length < MAX_WARNINGS) report.warnings.push(w);
  };
}

export async function* treeFrames(opts: TreeBackupOptions, report: TreeBackupReport): AsyncGenerator<Buffer> {
  if (opts.type !== 'full' && !opts.baseManifest) throw new Error(`a ${opts.type} backup needs a base manifest`);
  const warn = warnInto(report);
  const manifest = new ManifestWriter(opts.manifestPath);
  try {
    yield jsonFrame(FRAME.header, { format: ARCHIVE_FORMAT, version: ARCHIVE_VERSION, type: opts.type });
    const walk = walkRoots(opts.roots, pathFilter(opts.include, opts.exclude), warn);
    const base = opts.type === 'full' ? undefined : readManifest(opts.baseManifest!);
    for await (const change of compareTrees(walk, base)) yield* changeFrames(change, manifest, report, warn);
    await manifest.close();
  } catch (e) {
    manifest.destroy();
    throw e;
  }
  report.entries = manifest.count;
  yield* manifestFrames(opts.manifestPath);
  yield jsonFrame(FRAME.fin, { entries: report.entries, files: report.files, deleted: report.deleted });
}

async function* changeFrames(
  change: Change,
  manifest: ManifestWriter,
  report: TreeBackupReport,
  warn: (w: WalkWarning) => void,
): AsyncGenerator<Buffer> {
  if (change.kind === 'del') {
    report.deleted++;
    yield jsonFrame(FRAME.del, { p: change.p });
    return;
  }
  const { w } = change;
  if (change.kind === 'same') return manifest.add({ ...w.entry, h: change.base.h });
  if (change.kind === 'meta') {
    const entry: Entry = { ...w.entry, ...(w.entry.t === 'f' && { h: change.base?.h }) };
    report.metaOnly++;
    yield jsonFrame(FRAME.meta, entry);
    return manifest.add(entry);
  }
  if (change.kind === 'check') {
    const h = await hashContent(w);
    if (h === change.base.h) {
      report.metaOnly++;
      yield jsonFrame(FRAME.meta, { ...w.entry, h });
      return manifest.add({ ...w.entry, h });
    }
  }
  const out: ReadOutcome = {};
  const counter = { bytes: 0 };
  yield* contentFrames(w, out, counter);
  report.contentBytes += counter.bytes;
  if (out.problem === 'gone') {
    // Vanished since the walk: a restore of this point must not have it.
    report.deleted++;
    yield jsonFrame(FRAME.del, { p: w.entry.p });
    return;
  }
  if (out.problem === 'unreadable') {
    warn({ path: w.entry.p, reason: `file not readable (${out.code}): left out` });
    return;
  }
  report.files++;
  if (out.problem === 'changed') {
    if (report.changedWhileRead.length < MAX_WARNINGS) report.changedWhileRead.push(w.entry.p);
    warn({ path: w.entry.p, reason: 'changed while it was read: archived as read, read again by the next backup' });
  }
  return manifest.add(out.entry!);
}

/** The manifest, appended in pieces of about a chunk. */
async function* manifestFrames(file: string): AsyncGenerator<Buffer> {
  let pending = '';
  for await (const piece of createReadStream(file, { encoding: 'utf8', highWaterMark: CHUNK_BYTES })) {
    pending += piece as string;
    const cut = pending.lastIndexOf('\n') + 1;
    if (cut === 0) continue;
    const body = Buffer.from(pending.slice(0, cut));
    pending = pending.slice(cut);
    yield frameHead(FRAME.manifest, body.length);
    yield body;
  }
  if (pending) throw new Error('the manifest does not end with a line break');
}
