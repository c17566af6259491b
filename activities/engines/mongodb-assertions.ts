// A MongoDB drill assertion (common/mongo-assertion.ts) run against the restored scratch database: a count or an
// aggregation, read-only by construction (the parser refuses writes and server-side JavaScript), with a time limit.
import { BSON, MongoServerError } from 'mongodb';
import { BackupError } from '../../common/errors.ts';
import { parseMongoAssertion } from '../../common/mongo-assertion.ts';
import type { ServerConnection } from '../site-config.ts';
import { ASSERTION_TIMEOUT_SECONDS } from './drill-sandbox.ts';
import { withDb } from './mongodb-client.ts';

/** The value the assertion produced: a count, or the first field of the pipeline's first result. */
export async function mongoAssertionValue(
  conn: ServerConnection,
  database: string,
  text: string,
): Promise<{ ok: boolean; value: unknown }> {
  const a = parseMongoAssertion(text);
  const maxTimeMS = ASSERTION_TIMEOUT_SECONDS * 1000;
  return withDb(conn, database, async (db) => {
    const coll = db.collection(a.collection);
    try {
      if (a.filter) {
        const min = a.min ?? 1;
        const filter = BSON.EJSON.deserialize(a.filter, { relaxed: true });
        const n = await coll.countDocuments(filter, { maxTimeMS, ...(min > 0 && { limit: min }) });
        return { ok: n >= min, value: n };
      }
      const pipeline = BSON.EJSON.deserialize(a.pipeline!, { relaxed: true }) as BSON.Document[];
      const [first] = await coll.aggregate(pipeline, { maxTimeMS }).limit(1).toArray();
      const value = first ? Object.entries(first).find(([k]) => k !== '_id')?.[1] : undefined;
      const ok = value === true || (typeof value === 'number' && value !== 0 && !Number.isNaN(value));
      return { ok, value };
    } catch (err) {
      if (!(err instanceof MongoServerError)) throw err;
      const e = err;
      // Only the server's error name leaves the site: its message can quote documents.
      throw new BackupError(
        'invalid',
        `the assertion did not run: ${e.codeName ?? (e.code !== undefined ? `error ${e.code}` : 'it failed')}`,
        { code: 'AssertionInvalid' },
      );
    }
  });
}
