// A MongoDB drill assertion: a JSON object run read-only against the restored scratch database.
//   {"collection": "orders", "filter": {"status": "paid"}, "min": 100}
//     holds when at least `min` (default 1) documents match the filter;
//   {"collection": "orders", "pipeline": [{"$match": ...}, {"$count": "n"}, ...]}
//     holds when the first result's first field (other than _id) is true or a non-zero number.
// Values are Extended JSON ({"$date": "..."}, {"$oid": "..."}). Server-side JavaScript ($where, $function,
// $accumulator), writes ($out, $merge) and stages that look beyond the database ($currentOp, sessions, plan caches)
// are refused wherever they appear, so an assertion can only read the scratch copy it checks.
import { BackupError } from './errors.ts';

export interface MongoAssertion {
  collection: string;
  filter?: Record<string, unknown>;
  pipeline?: Record<string, unknown>[];
  min?: number;
}

const FORBIDDEN = new Set([
  '$where',
  '$function',
  '$accumulator',
  '$out',
  '$merge',
  '$currentOp',
  '$listSessions',
  '$listLocalSessions',
  '$planCacheStats',
  '$listSearchIndexes',
  '$collStats',
  '$indexStats',
]);
const MAX_DEPTH = 32;

const refuse = (why: string) =>
  new BackupError('invalid', `MongoDB assertion: ${why}`, { code: 'AssertionInvalid', field: 'drill.assertions' });

function walk(value: unknown, depth: number): void {
  if (depth > MAX_DEPTH) throw refuse(`nested deeper than ${MAX_DEPTH} levels`);
  if (Array.isArray(value)) return value.forEach((v) => walk(v, depth + 1));
  if (value === null || typeof value !== 'object') return;
  for (const [key, v] of Object.entries(value)) {
    if (FORBIDDEN.has(key))
      throw refuse(`${key} is not allowed (no server-side JavaScript, no writes, nothing outside the database)`);
    walk(v, depth + 1);
  }
}

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === 'object' && !Array.isArray(v);

/** The assertion's text as an object, or a BackupError (kind invalid, HTTP 400) that says what is wrong. */
export function parseMongoAssertion(text: string): MongoAssertion {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw refuse('not JSON: give an object such as {"collection": "orders", "filter": {}, "min": 1}');
  }
  if (!isPlainObject(raw)) throw refuse('give a JSON object with "collection" and "filter" or "pipeline"');
  const extra = Object.keys(raw).filter((k) => !['collection', 'filter', 'pipeline', 'min'].includes(k));
  if (extra.length > 0) throw refuse(`unknown field ${extra.join(', ')}: use collection, filter, pipeline, min`);
  const { collection, filter, pipeline, min } = raw;
  if (
    typeof collection !== 'string' ||
    !/^[A-Za-z_][A-Za-z0-9_.-]{0,119}$/.test(collection) ||
    collection.startsWith('system.')
  )
    throw refuse('"collection" must name a collection (letters, digits, _ . -)');
  if ((filter === undefined) === (pipeline === undefined)) throw refuse('give either "filter" or "pipeline"');
  if (filter !== undefined && !isPlainObject(filter)) throw refuse('"filter" must be an object');
  if (pipeline !== undefined && (!Array.isArray(pipeline) || pipeline.length === 0 || !pipeline.every(isPlainObject)))
    throw refuse('"pipeline" must be a non-empty array of stage objects');
  if (min !== undefined && (pipeline !== undefined || !Number.isInteger(min) || (min as number) < 0))
    throw refuse('"min" is a whole number of documents, with "filter" only');
  walk(filter ?? pipeline, 0);
  return raw as unknown as MongoAssertion;
}
