// Catching a run at a point: a tight poll of the files and rows that mark it. A run may pass a point between two
// looks; the watch then answers false once the tenant's runs have all ended, and the scenario says so.
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { runsEnded, type FaultContext, type Tenant } from './context.ts';

export async function watch(
  ctx: FaultContext,
  t: Tenant,
  what: string,
  check: () => Promise<boolean>,
  timeoutMs = 180_000,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (let i = 0; ; i++) {
    if (await check()) return true;
    // Every tenth look: has every run ended (then the point was passed unseen)?
    if (i % 10 === 9 && (await runsEnded(ctx, t))) return false;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(15);
  }
}

/** Files in a folder (recursively) with their sizes; none when it does not exist yet. */
export async function filesIn(dir: string): Promise<{ name: string; size: number }[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true }).catch(() => []);
  const out: { name: string; size: number }[] = [];
  for (const e of entries.filter((x) => x.isFile())) {
    const s = await stat(path.join(e.parentPath, e.name)).catch(() => undefined);
    if (s) out.push({ name: e.name, size: s.size });
  }
  return out;
}

export const isPartial = (name: string) => name.endsWith('.partial');

/** The biggest partial file's size, or -1 when there is none. */
export async function partialBytes(dir: string): Promise<number> {
  return Math.max(-1, ...(await filesIn(dir)).filter((f) => isPartial(f.name)).map((f) => f.size));
}

export async function hasFinalFile(dir: string): Promise<boolean> {
  return (await filesIn(dir)).some((f) => !f.name.startsWith('.'));
}
