// The manifest of a file backup: one JSON line per entry of the backed-up tree, in walk order, so two manifests are
// compared by walking both at once (a merge) and a tree of any size is handled with flat memory.
import { createReadStream, createWriteStream, type WriteStream } from 'node:fs';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { BackupError } from '../../common/errors.ts';

export type EntryType = 'f' | 'd' | 'l';

export interface Entry {
  /** Path without a leading `/`, segments joined by `/`: the absolute path at the site, restored under a target. */
  p: string;
  t: EntryType;
  /** Bytes of content (files); 0 for the others. */
  s: number;
  /** Modification time, milliseconds (whole, as restored). */
  m: number;
  /** Permission bits (and setuid/setgid/sticky). */
  mode: number;
  uid: number;
  gid: number;
  /** SHA-256 of a file's content. */
  h?: string;
  /** A symbolic link's target, as stored in the link. */
  l?: string;
}

/**
 * The order of a walk: by path with `/` sorting before every other character, so a directory's whole subtree comes
 * right after it and before its next sibling (`a`, `a/b`, `a.txt`). Every producer and reader of manifests uses this.
 */
export function comparePaths(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    if (x === 47) return -1;
    if (y === 47) return 1;
    return x - y;
  }
  return a.length - b.length;
}

export const isUnder = (p: string, prefix: string) => p === prefix || p.startsWith(`${prefix}/`);

/** Same content and metadata, as far as the manifest can tell without reading the file. */
export function sameMeta(a: Entry, b: Entry): boolean {
  return a.t === b.t && a.mode === b.mode && a.uid === b.uid && a.gid === b.gid && a.l === b.l;
}

export async function* readManifest(file: string): AsyncGenerator<Entry> {
  const lines = createInterface({ input: createReadStream(file), crlfDelay: Infinity });
  let prev: string | undefined;
  let n = 0;
  for await (const line of lines) {
    n++;
    if (!line) continue;
    const e = parseEntry(line, `${file}:${n}`);
    if (prev !== undefined && comparePaths(prev, e.p) >= 0)
      throw damaged(`${file}:${n}: '${e.p}' is out of order after '${prev}'`);
    prev = e.p;
    yield e;
  }
}

export function parseEntry(line: string, where: string): Entry {
  let e: Entry;
  try {
    e = JSON.parse(line) as Entry;
  } catch {
    throw damaged(`${where}: not a JSON line`);
  }
  if (typeof e?.p !== 'string' || !['f', 'd', 'l'].includes(e.t) || typeof e.s !== 'number')
    throw damaged(`${where}: not a manifest entry`);
  return e;
}

const damaged = (detail: string) =>
  new BackupError('invalid', `the file backup's manifest is damaged: ${detail}`, { code: 'BackupTampered' });

/** Appends entries as JSON lines, honouring back-pressure. */
export class ManifestWriter {
  readonly #out: WriteStream;
  count = 0;
  constructor(file: string) {
    this.#out = createWriteStream(file, { flags: 'w', flush: true });
  }
  async add(e: Entry): Promise<void> {
    this.count++;
    if (!this.#out.write(`${JSON.stringify(e)}\n`)) await once(this.#out, 'drain');
  }
  async close(): Promise<void> {
    this.#out.end();
    await once(this.#out, 'finish');
  }
  destroy(): void {
    this.#out.destroy();
  }
}
