// Restore of a file backup: the archives of its chain (a full, then a differential or the incrementals in order)
// applied one after the other into a target folder (content written, deletions applied), then the metadata of the
// last backup's manifest (modes, owners, times) set on every entry, and each entry checked against it.
import { createHash } from 'node:crypto';
import { open, rename, rm, symlink, mkdir, lstat, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { BackupError } from '../../common/errors.ts';
import type { BackupType } from '../../common/model.ts';
import { ARCHIVE_FORMAT, damagedArchive, FRAME, parseJson, type Frame } from './archive.ts';
import { archiveFrames, type ArchiveSource } from './archive-io.ts';
import { isUnder, ManifestWriter, parseEntry, type Entry } from './manifest.ts';
import { applyManifest, type ApplyReport } from './restore-meta.ts';
import { Placer } from './place.ts';

export interface RestoreOptions {
  /** The chain, oldest first: a full, then one differential or any number of incrementals. */
  chain: (ArchiveSource & { type: BackupType })[];
  target: string;
  /** Restore only this path (a file, or a folder with everything under it). */
  only?: string;
  masterKey?: Buffer;
  /** A scratch file for the last backup's manifest. */
  workFile: string;
  onBytes?: (n: number) => void;
  /** Also hash every restored file and compare it with the manifest (drills). */
  verify?: boolean;
}

export function checkChain(types: BackupType[]): void {
  const bad = (why: string) =>
    new BackupError('invalid', `a file backup restores from a full backup and what depends on it: ${why}`, {
      code: 'BadChain',
    });
  if (types[0] !== 'full') throw bad('the chain does not start with a full backup');
  const rest = types.slice(1);
  if (rest.includes('full')) throw bad('a full backup in the middle of the chain');
  if (rest.slice(1).includes('differential')) throw bad('a differential follows only its full backup');
}

const inScope = (p: string, only?: string) => !only || isUnder(p, only) || isUnder(only, p);

export async function restoreTree(opts: RestoreOptions): Promise<ApplyReport> {
  checkChain(opts.chain.map((c) => c.type));
  const placer = new Placer(opts.target);
  await mkdir(placer.target, { recursive: true });
  for (let i = 0; i < opts.chain.length; i++) {
    const last = i === opts.chain.length - 1;
    const manifest = last ? new ManifestWriter(opts.workFile) : undefined;
    try {
      await applyArchive(opts.chain[i]!, archiveFrames(opts.chain[i]!, opts.masterKey), placer, opts, manifest);
      await manifest?.close();
    } catch (e) {
      manifest?.destroy();
      throw e;
    }
  }
  return applyManifest(opts.workFile, placer, opts.only, opts.verify);
}

async function applyArchive(
  src: ArchiveSource & { type: BackupType },
  frames: AsyncGenerator<Frame>,
  placer: Placer,
  opts: RestoreOptions,
  manifest: ManifestWriter | undefined,
): Promise<void> {
  const first = (await frames.next()).value as Frame | undefined;
  const head = first?.type === FRAME.header ? parseJson<{ format?: string; type?: string }>(first) : undefined;
  if (head?.format !== ARCHIVE_FORMAT) throw damagedArchive(`${path.basename(src.file)} is not a file backup`);
  if (head.type !== src.type)
    throw damagedArchive(`${path.basename(src.file)} is a ${head.type} backup, recorded as ${src.type}`);
  await applyFrames(frames, placer, opts, manifest, src);
}

async function applyFrames(
  frames: AsyncGenerator<Frame>,
  placer: Placer,
  opts: RestoreOptions,
  manifest: ManifestWriter | undefined,
  src: ArchiveSource,
): Promise<void> {
  let file: OpenFile | undefined;
  try {
    for await (const f of frames) {
      if (f.type === FRAME.chunk) {
        if (file?.fh) await file.write(f.body);
        opts.onBytes?.(f.body.length);
      } else if (f.type === FRAME.end) {
        if (!file) throw damagedArchive('content ends that never began');
        await file.finish(parseJson<{ s: number; h: string }>(f));
        file = undefined;
      } else if (f.type === FRAME.entry) {
        const e = parseJson<Entry>(f);
        file = new OpenFile(e.p, inScope(e.p, opts.only) ? await placer.place(e.p) : undefined);
        await file.open();
      } else if (f.type === FRAME.meta) await applyMeta(parseJson<Entry>(f), placer, opts.only);
      else if (f.type === FRAME.del) await applyDelete(parseJson<{ p: string }>(f).p, placer, opts.only);
      else if (f.type === FRAME.manifest && manifest) {
        for (const line of f.body.toString('utf8').split('\n'))
          if (line) await manifest.add(parseEntry(line, path.basename(src.file)));
      }
    }
  } catch (e) {
    await file?.abort();
    throw e;
  }
}

/** A file being restored: written to a partial file beside it, checked, then renamed over whatever was there. */
class OpenFile {
  fh: FileHandle | undefined;
  readonly #hash = createHash('sha256');
  #bytes = 0;
  readonly #partial: string | undefined;
  readonly p: string;
  readonly abs: string | undefined;
  constructor(p: string, abs: string | undefined) {
    this.p = p;
    this.abs = abs;
    this.#partial = abs && path.join(path.dirname(abs), `.${path.basename(abs)}.bp-restore`);
  }
  async open(): Promise<void> {
    if (!this.#partial) return;
    // Created afresh (`wx`): never opened through a link that happens to have this name.
    await rm(this.#partial, { force: true });
    this.fh = await open(this.#partial, 'wx', 0o600);
  }
  async write(b: Buffer): Promise<void> {
    this.#hash.update(b);
    this.#bytes += b.length;
    await this.fh!.write(b);
  }
  /** A file left half written by a failure: closed and removed. */
  async abort(): Promise<void> {
    await this.fh?.close().catch(() => undefined);
    this.fh = undefined;
    if (this.#partial) await rm(this.#partial, { force: true });
  }
  async finish(end: { s: number; h: string }): Promise<void> {
    if (!this.fh) return;
    await this.fh.close();
    const h = this.#hash.digest('hex');
    if (h !== end.h || this.#bytes !== end.s) throw damagedArchive(`the content of ${this.p} does not match its hash`);
    const st = await lstat(this.abs!).catch(() => undefined);
    if (st?.isDirectory()) await rm(this.abs!, { recursive: true, force: true });
    await rename(this.#partial!, this.abs!);
  }
}

async function applyMeta(e: Entry, placer: Placer, only?: string): Promise<void> {
  if (!inScope(e.p, only) || e.t === 'f') return; // a file's metadata is set from the manifest at the end
  const abs = await placer.place(e.p);
  const st = await lstat(abs).catch(() => undefined);
  if (e.t === 'd') {
    if (st?.isDirectory()) return;
    if (st) await rm(abs, { force: true });
    await mkdir(abs, { mode: 0o700 });
    return;
  }
  if (st) await rm(abs, { recursive: true, force: true });
  placer.forget();
  if (typeof e.l !== 'string') throw damagedArchive(`the link ${e.p} has no target`);
  await symlink(e.l, abs);
}

async function applyDelete(p: string, placer: Placer, only?: string): Promise<void> {
  if (!inScope(p, only)) return;
  await rm(await placer.place(p), { recursive: true, force: true });
  placer.forget();
}
