// A configuration's row and its Temporal schedules change together or not at all: the database has transactions,
// Temporal does not, so each schedule write is recorded with how to take it back.
import type { Logger } from '../../common/logger.ts';
import type { Db, Tx } from '../../db/client.ts';

/**
 * The schedule writes of one configuration change, each with how to take it back: when a later write or the database
 * transaction fails, `undo` puts Temporal back as it was, so no schedule runs a configuration that was not saved.
 */
export class ScheduleWrites {
  readonly #undo: (() => Promise<unknown>)[] = [];

  add(undo: () => Promise<unknown>): void {
    this.#undo.push(undo);
  }

  /** Takes back every write, the newest first; one that cannot be taken back does not stop the others. */
  async undo(): Promise<void> {
    const failed: unknown[] = [];
    for (const undo of this.#undo.splice(0).reverse()) await undo().catch((e: unknown) => failed.push(e));
    if (failed.length > 0)
      throw new AggregateError(
        failed,
        `${failed.length} schedule write(s) could not be taken back: save the configuration again`,
      );
  }
}

/**
 * A transaction with the Temporal schedule writes it makes: if anything fails (a schedule Temporal refuses, Temporal
 * going away part-way, the commit), the schedules already written are put back as they were. The putting back runs
 * while the transaction still holds its rows, so a save of the same rows waiting behind it cannot be overwritten.
 */
export async function withScheduleWrites<T>(
  db: Db,
  logger: Logger,
  labels: Record<string, string | undefined>,
  work: (tx: Tx, writes: ScheduleWrites) => Promise<T>,
): Promise<T> {
  const writes = new ScheduleWrites();
  const undo = () =>
    writes
      .undo()
      .catch((e: unknown) => logger.error({ err: e, labels }, 'Temporal schedules may not match the database'));
  try {
    return await db.transaction(async (tx) => {
      try {
        return await work(tx, writes);
      } catch (err) {
        await undo();
        throw err;
      }
    });
  } catch (err) {
    await undo(); // the commit itself failed (after the undo above, nothing is left to put back)
    throw err;
  }
}
