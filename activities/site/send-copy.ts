// sendCopy: a download the API is holding open, fed from a copy the site can read.
import { Readable, pipeline as pipeThrough } from 'node:stream';
import { Context } from '@temporalio/activity';
import { BackupError } from '../../common/errors.ts';
import type { CopyRef } from '../contracts.ts';
import { asActivity } from '../failure.ts';
import { withHeartbeat, type SiteContext } from './context.ts';
import { meter } from './streams.ts';

export interface SendCopyInput {
  transferId: string;
  copy: CopyRef;
  sizeBytes: number;
}

export function createSendCopy(site: SiteContext) {
  const { config } = site;
  /** Streams a copy to the API for a download the API is holding open; the site key proves who sends it. */
  return async function sendCopy(input: SendCopyInput): Promise<{ bytes: number }> {
    return asActivity(async () => {
      const ctx = Context.current();
      return site.withStorage(input.copy.target, async (storage) => {
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
        site
          .runLogger({ target: input.copy.target })
          .info({ file: { path: input.copy.key }, bytes: progress.bytes }, 'copy sent for download');
        return { bytes: progress.bytes };
      });
    });
  };
}
