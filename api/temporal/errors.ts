// Temporal's failures as the API answers them: one it cannot reach is a 503 the client may retry.
import { ServiceError } from '@temporalio/client';
import { BackupError } from '../../common/errors.ts';

/** A call to Temporal that failed for a reason the caller cannot fix: 503, with Temporal's own words. */
export function temporalUnavailable(err: unknown): BackupError {
  if (err instanceof BackupError) return err;
  const e = err as { message?: string; cause?: { details?: string } };
  return new BackupError('unavailable', `Temporal is unavailable: ${e.cause?.details ?? e.message ?? String(err)}`);
}

/** Temporal did not answer (down, unreachable, out of time): gRPC UNAVAILABLE or DEADLINE_EXCEEDED, or no code at all. */
export function temporalNotAnswering(err: unknown): boolean {
  if (!(err instanceof ServiceError)) return false;
  const code = (err.cause as { code?: number } | undefined)?.code;
  return code === undefined || code === 14 || code === 4;
}
