// The one error type of the platform. The API turns it into an HTTP answer; activities into a Temporal failure.

/**
 * - `invalid`: the input or configuration is wrong; retrying cannot help. HTTP 400 / non-retryable.
 * - `auth`: credentials were refused (a database password, a site key). HTTP 401 / non-retryable.
 * - `forbidden`, `not_found`, `conflict`: HTTP 403, 404, 409.
 * - `unavailable`: a dependency is down or slow; try again later. HTTP 503 / retryable.
 */
export type ErrorKind = 'invalid' | 'auth' | 'forbidden' | 'not_found' | 'conflict' | 'unavailable';

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
    return this.kind === 'unavailable';
  }
}

export const invalid = (message: string, field?: string) => new BackupError('invalid', message, field ? { field } : {});
export const notFound = (what: string) => new BackupError('not_found', `${what} not found`);
export const conflict = (message: string) => new BackupError('conflict', message);
