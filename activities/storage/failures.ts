// Failures every backend shares: a source that changed size, a network that went away, an abort that came first.
import { invalid, type BackupError } from '../../common/errors.ts';

/** The source gave more or fewer bytes than it declared: the file changed under us, a retry reads it afresh. */
export function sizeMismatch(declared: number, actual: number): BackupError {
  return invalid(`the upload source gave ${actual} bytes where ${declared} were declared: did the file change?`);
}

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EPIPE',
  'ECONNABORTED',
]);

/** Errors that say the other side could not be reached or went away: worth a retry later. */
export function isNetworkError(err: unknown): boolean {
  let e: unknown = err;
  for (let depth = 0; e && depth < 4; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && NETWORK_CODES.has(code)) return true;
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}

/** After an abort the caller's own reason is what it should see, not whichever library error the abort caused. */
export function rethrowIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw signal.reason;
}
