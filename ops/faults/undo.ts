// What the suite must undo even when it is stopped half way (Ctrl-C): mounts, the platform, the source databases.
// Each step registers itself while it is needed; `undoAll` runs what is left, newest first.
const pending: { what: string; fn: () => Promise<void> }[] = [];

/** Registers an undo step; the returned function runs it now (once) and forgets it. */
export function needsUndo(what: string, fn: () => Promise<void>): () => Promise<void> {
  const item = { what, fn };
  pending.push(item);
  return async () => {
    const i = pending.indexOf(item);
    if (i < 0) return;
    pending.splice(i, 1);
    await fn();
  };
}

let undoing = false;

/** Once the suite is being stopped, nothing may start again what is being undone. */
export const isUndoing = () => undoing;

export async function undoAll(log: (msg: string) => void): Promise<void> {
  undoing = true;
  while (pending.length > 0) {
    const item = pending.pop()!;
    await item.fn().catch((err: unknown) => log(`undoing ${item.what} failed: ${String(err)}`));
  }
}
