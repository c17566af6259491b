// The download relay: the API holds the admin's request open while the site worker streams the copy to it, through
// a transfer (an id the site worker PUTs the bytes to, see routes.ts).
// The bytes pass straight through (back-pressure included); nothing is buffered or written to disk here.
// A transfer lives in the memory of the API process the admin asked: several API instances need sticky routing
// of /agent/transfers to the instance that opened it (or a shared relay).
import { randomBytes } from 'node:crypto';
import { BackupError } from '../../common/errors.ts';

interface Pending {
  siteId: string;
  deliver(stream: ReadableStream<Uint8Array>): void;
  timer: NodeJS.Timeout;
}

export class DownloadRelay {
  private readonly pending = new Map<string, Pending>();

  /** A transfer the given site's worker may fill; `body` resolves when it starts sending. */
  open(siteId: string, timeoutMs: number): { id: string; body: Promise<ReadableStream<Uint8Array>>; cancel(): void } {
    const id = randomBytes(18).toString('base64url');
    let cancel = () => {};
    const body = new Promise<ReadableStream<Uint8Array>>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(
          new BackupError(
            'unavailable',
            `the site did not start sending the backup within ${Math.round(timeoutMs / 1000)} s: is its worker running?`,
          ),
        );
      }, timeoutMs);
      this.pending.set(id, { siteId, timer, deliver: resolve });
      cancel = () => {
        clearTimeout(timer);
        this.pending.delete(id);
      };
    });
    body.catch(() => undefined);
    return { id, body, cancel };
  }

  /**
   * The site worker's upload for a transfer: hands its body to the waiting download, and resolves once the downloader
   * has read all of it (or rejects when the downloader went away), so the site worker learns whether the copy arrived.
   */
  async accept(id: string, siteId: string, body: ReadableStream<Uint8Array>): Promise<void> {
    const p = this.pending.get(id);
    if (!p || p.siteId !== siteId) throw new BackupError('not_found', 'no download is waiting for this transfer');
    this.pending.delete(id);
    clearTimeout(p.timer);
    const reader = body.getReader();
    let finished!: () => void;
    let failed!: (e: Error) => void;
    const done = new Promise<void>((resolve, reject) => {
      finished = resolve;
      failed = reject;
    });
    p.deliver(
      new ReadableStream<Uint8Array>({
        async pull(ctrl) {
          try {
            const next = await reader.read();
            if (next.done) {
              ctrl.close();
              finished();
            } else ctrl.enqueue(next.value);
          } catch (e) {
            ctrl.error(e);
            failed(e as Error);
          }
        },
        cancel(reason) {
          void reader.cancel(reason).catch(() => undefined);
          failed(new BackupError('unavailable', 'the downloader closed the connection before the end'));
        },
      }),
    );
    await done;
  }
}
