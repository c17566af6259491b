// Temporal's failures as the API answers them: one it cannot reach is a 503 the client may retry.
import { isGrpcServiceError, ScheduleNotFoundError, ServiceError } from '@temporalio/client';
import { BackupError } from '../../common/errors.ts';

/** A call to Temporal that failed for a reason the caller cannot fix: 503, with Temporal's own words. */
export function temporalUnavailable(err: unknown): BackupError {
  if (err instanceof BackupError) return err;
  const e = err as { message?: string; details?: string; cause?: { details?: string } };
  return new BackupError(
    'unavailable',
    `Temporal is unavailable: ${e.details ?? e.cause?.details ?? e.message ?? String(err)}`,
  );
}

/**
 * Temporal did not answer (down, unreachable, out of time): gRPC UNAVAILABLE or DEADLINE_EXCEEDED, or no code at all;
 * from the SDK's clients (a ServiceError around the gRPC error) or from a raw service call (the gRPC error itself).
 */
export function temporalNotAnswering(err: unknown): boolean {
  if (isGrpcServiceError(err)) return err.code === 14 || err.code === 4;
  if (!(err instanceof ServiceError)) return false;
  const code = (err.cause as { code?: number } | undefined)?.code;
  return code === undefined || code === 14 || code === 4;
}

/** Temporal's INVALID_ARGUMENT (a spec it cannot take) is the admin's to fix, naming `field`; anything else is an outage. */
export function scheduleError(err: unknown, field = 'schedule'): Error {
  if (err instanceof BackupError) return err;
  // The SDK checks a spec before sending it (e.g. "Minute is not in range [0-59]") and throws a TypeError.
  if (err instanceof TypeError)
    return new BackupError('invalid', `the schedule is not valid: ${err.message}`, { field });
  const e = err as { code?: number; message?: string; cause?: { code?: number; details?: string } };
  const code = e.code ?? e.cause?.code;
  const message = e.cause?.details ?? e.message ?? String(err);
  if (code === 3) return new BackupError('invalid', `Temporal rejected the schedule: ${message}`, { field });
  if (err instanceof ScheduleNotFoundError)
    return new BackupError(
      'not_found',
      'the schedule of this configuration is missing in Temporal; save the configuration again to recreate it',
    );
  return temporalUnavailable(err);
}
