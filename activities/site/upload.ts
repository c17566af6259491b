// upload: a backup copied to a target and proven there, by reading the stored object back.
import path from 'node:path';
import { Context } from '@temporalio/activity';
import { BackupError } from '../../common/errors.ts';
import { SITE_TARGET } from '../../common/model.ts';
import type { CopyRef, UploadResult } from '../contracts.ts';
import { asActivity } from '../failure.ts';
import { hashObject } from '../storage/read-back.ts';
import { fileSource, storageSource, throttled } from '../storage/sources.ts';
import { withHeartbeat, type SiteContext } from './context.ts';

export interface UploadInput {
  /** Where the backup is read from: the site copy, or (when repairing) any good copy. */
  source: CopyRef;
  /** A destination of the site configuration, or `site` to put the site copy back. */
  target: string;
  key: string;
  sizeBytes: number;
  sha256: string;
}

export function createUpload(site: SiteContext) {
  const { config } = site;
  /**
   * Copies a backup to a target and proves the stored object is the backup: read back, size and SHA-256 compared.
   * Resumable where the target allows it (Azure keeps staged blocks; SFTP keeps its partial file); a copy that
   * does not match is removed, so the retry starts clean.
   */
  return async function upload(input: UploadInput): Promise<UploadResult> {
    return asActivity(async () => {
      const ctx = Context.current();
      const log = site.runLogger({ target: input.target });
      return site.withStorage(input.source.target, (from) =>
        site.withStorage(input.target, async (to) => {
          const found = await from.stat(input.source.key);
          if (!found || found.size !== input.sizeBytes) {
            throw new BackupError(
              'invalid',
              `the copy to send from (${input.source.key} at ${input.source.target}) is ${found ? `${found.size} bytes, not ${input.sizeBytes}` : 'gone'}`,
              { code: 'SourceMissing' },
            );
          }
          const source =
            input.source.target === SITE_TARGET
              ? fileSource(path.join(config.backupsDir, input.source.key), input.sizeBytes)
              : storageSource(from, input.source.key, input.sizeBytes);
          const progress = { bytes: 0, target: input.target };
          const started = Date.now();
          const report = await withHeartbeat(progress, () =>
            to.put(input.key, throttled(source, config.destinationLimit(input.target)), {
              signal: ctx.cancellationSignal,
              onProgress: (n) => {
                progress.bytes = n;
              },
            }),
          );
          const stored = await withHeartbeat(progress, () => hashObject(to, input.key, ctx.cancellationSignal));
          if (stored.size !== input.sizeBytes || stored.sha256 !== input.sha256) {
            await to.delete(input.key);
            throw new BackupError(
              'unavailable',
              `the copy at ${input.target} did not match the backup (${stored.size} bytes, SHA-256 ${stored.sha256}); it was removed and will be sent again`,
              { code: 'CopyMismatch' },
            );
          }
          const location = to.locationOf(input.key);
          log.info(
            {
              file: { path: location, size: stored.size, hash: { sha256: stored.sha256 } },
              event: { duration: (Date.now() - started) * 1e6 },
              bytes_sent: report.bytesSent,
              resumed_from: report.resumedFrom,
            },
            'copy stored and verified',
          );
          return { location, bytesSent: report.bytesSent, resumedFrom: report.resumedFrom };
        }),
      );
    });
  };
}
