// The one error type of the platform. The API turns it into an HTTP answer; activities into a Temporal failure.

/**
 * - `invalid`: the input or configuration is wrong; retrying cannot help. HTTP 400 / non-retryable.
 * - `auth`: credentials were refused (a database password, a site key). HTTP 401 / non-retryable.
 * - `forbidden`, `not_found`, `conflict`: HTTP 403, 404, 409.
 * - `unavailable`: a dependency is down or slow; try again later. HTTP 503 / retryable.
 */
export const ERROR_KINDS = ['invalid', 'auth', 'forbidden', 'not_found', 'conflict', 'unavailable'] as const;
export type ErrorKind = (typeof ERROR_KINDS)[number];

/** The one place that says which failures a retry can fix: a dependency that was down may be back. */
const RETRYABLE_KINDS: readonly ErrorKind[] = ['unavailable'];
/** The others, for a Temporal retry policy's `nonRetryableErrorTypes` (pure data: workflow code may import it). */
export const NON_RETRYABLE_KINDS: readonly ErrorKind[] = ERROR_KINDS.filter((k) => !RETRYABLE_KINDS.includes(k));

export class BackupError extends Error {
  override name = 'BackupError';
  readonly kind: ErrorKind;
  readonly details: { field?: string; code?: string };
  constructor(kind: ErrorKind, message: string, details: { field?: string; code?: string } = {}) {
    super(message);
    this.kind = kind;
    this.details = details;
  }

  get retryable(): boolean {
    return RETRYABLE_KINDS.includes(this.kind);
  }
}

export const invalid = (message: string, field?: string) => new BackupError('invalid', message, field ? { field } : {});
export const notFound = (what: string) => new BackupError('not_found', `${what} not found`);
export const conflict = (message: string) => new BackupError('conflict', message);
