import { ApplicationFailure } from '@temporalio/activity';
import { BackupError } from '../common/errors.ts';

/** Runs an activity body and turns a BackupError into the Temporal failure it stands for. */
export async function asActivity<T>(body: () => Promise<T>): Promise<T> {
  try {
    return await body();
  } catch (err) {
    if (err instanceof BackupError) {
      throw ApplicationFailure.create({
        message: err.message,
        type: err.details.code ?? err.kind,
        nonRetryable: !err.retryable,
      });
    }
    throw err;
  }
}
