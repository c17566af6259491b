// The backup history listing: newest first, filtered, paginated with a keyset cursor, and built for load (each
// filter combination's query prepared once, rows sent as the JSON PostgreSQL wrote, pages kept in page-cache.ts).
import { and, desc, eq, getTableColumns, gte, lt, or, sql, type SQL } from 'drizzle-orm';
import type { PgColumn } from 'drizzle-orm/pg-core';
import { invalid } from '../../common/errors.ts';
import type { Db } from '../../db/client.ts';
import { backups } from '../../db/schema.ts';
import { instantProblem, UUID_RE } from '../lib/http.ts';
import { pageBody, RowTexts, SentPages } from './page-cache.ts';
import { Backup, type BackupQuery } from './schemas.ts';

/**
 * A history row as JSON, written by PostgreSQL: the listing sends these texts as they come, with no row objects to
 * map, parse (jsonb) and stringify again, which was most of its cost under load (BENCHMARKS.md, case 8). The fields
 * are the `Backup` schema's, in its order; `backupOut` is the same shape for single rows, and the tests hold the two
 * to each other.
 */
const UTC_MS = sql.raw(`'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'`);
const UTC_US = sql.raw(`'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'`);
const backupJson: SQL<string> = (() => {
  const columns: Record<string, PgColumn> = getTableColumns(backups);
  const fields = Object.keys(Backup.shape).map((key) => {
    const col = columns[key];
    if (!col) throw new Error(`Backup field ${key} is not a column of backups`);
    const value = col.columnType === 'PgTimestamp' ? sql`to_char(${col} at time zone 'UTC', ${UTC_MS})` : sql`${col}`;
    return sql`${sql.raw(`'${key}'`)}, ${value}`;
  });
  return sql<string>`json_build_object(${sql.join(fields, sql`, `)})::text`;
})();
const startedAtUs = sql<string>`to_char(${backups.startedAt} at time zone 'UTC', ${UTC_US})`;

/**
 * Which version of a row this is: PostgreSQL writes every update as a new row version with the writing transaction's
 * id (`xmin`), so an unchanged `xmin` means unchanged contents.
 */
const rowVersion = sql<string>`xmin::text`;

/** `[startedAt with microseconds, id]`: the exact position of a page's last row, so the next page starts right after it. */
function decodeCursor(cursor: string): { at: string; id: string } {
  try {
    const [at, id] = JSON.parse(Buffer.from(cursor, 'base64url').toString()) as [string, string];
    if (typeof at !== 'string' || !/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$/.test(at) || instantProblem(at))
      throw new Error();
    if (typeof id !== 'string' || !UUID_RE.test(id)) throw new Error();
    return { at, id };
  } catch {
    throw invalid('not a cursor this API gave out', 'cursor');
  }
}
const encodeCursor = (at: string, id: string) => Buffer.from(JSON.stringify([at, id])).toString('base64url');

type Shape = Partial<
  Record<'siteId' | 'serverId' | 'configId' | 'database' | 'status' | 'from' | 'to' | 'cursor', unknown>
>;
type ListRow = [id: string, version: string, at: string];

/**
 * A query prepared once whose rows come back as the driver's arrays, in the order selected: the query builder's
 * per-field mapping of every row was a tenth of the listing's time.
 */
function preparedRows<Row extends unknown[]>(
  db: Db,
  query: { toSQL(): { sql: string; params: unknown[] } },
  name: string,
) {
  const prepared = db._.session.prepareQuery(query.toSQL(), undefined, name, true, (rows) => rows);
  return async (values: Record<string, unknown>) => (await prepared.execute(values)) as Row[];
}

/** One per app: what it prepares and keeps lives as long as the app's database handle. */
export class BackupListing {
  readonly #db: Db;
  /**
   * The listing's query for one combination of filters, built and prepared once: a request only fills in the values.
   * (Building it, two dozen fields and the filters through the query builder, cost more than PostgreSQL's answer.)
   */
  readonly #queries = new Map<string, (values: Record<string, unknown>) => Promise<ListRow[]>>();
  readonly #rowTexts: RowTexts;
  readonly #sentPages = new SentPages();

  constructor(db: Db) {
    this.#db = db;
    const rowsJson = preparedRows<[id: string, version: string, json: string]>(
      db,
      db
        .select({ id: backups.id, version: rowVersion, json: backupJson })
        .from(backups)
        .where(sql`${backups.id} = any(${sql.placeholder('ids')}::uuid[])`),
      'backups_json',
    );
    this.#rowTexts = new RowTexts((ids) => rowsJson({ ids }));
  }

  /**
   * The page's JSON body, `{"items":[...],"nextCursor":...}`. `cacheKey` names the request (tenant and query string):
   * the body last sent for it is sent again while the page has the same rows at the same versions.
   */
  async page(tenantId: string, q: BackupQuery, cacheKey: string): Promise<Uint8Array<ArrayBuffer>> {
    const cursor = q.cursor ? decodeCursor(q.cursor) : undefined;
    const rows = await this.#query({ ...q, cursor: !!cursor })({
      tenantId,
      siteId: q.siteId,
      serverId: q.serverId,
      configId: q.configId,
      database: q.database,
      status: q.status,
      kind: q.kind,
      from: q.from,
      to: q.to,
      cursorAt: cursor?.at,
      cursorId: cursor?.id,
      limit: q.limit + 1,
    });
    const page = rows.slice(0, q.limit);
    const last = page.at(-1);
    const nextCursor = rows.length > q.limit && last ? encodeCursor(last[2], last[0]) : null;
    let body = this.#sentPages.body(cacheKey, page, nextCursor);
    if (!body)
      this.#sentPages.keep(cacheKey, page, nextCursor, (body = pageBody(await this.#rowTexts.get(page), nextCursor)));
    return body;
  }

  #query(has: Shape) {
    const key = (['siteId', 'serverId', 'configId', 'database', 'status', 'from', 'to', 'cursor'] as const)
      .map((k) => (has[k] ? 1 : 0))
      .join('');
    let query = this.#queries.get(key);
    if (!query) this.#queries.set(key, (query = this.#build(has, `backups_list_${key}`)));
    return query;
  }

  #build(has: Shape, name: string) {
    const p = sql.placeholder;
    const filters: (SQL | undefined)[] = [
      eq(backups.tenantId, p('tenantId')),
      has.siteId ? eq(backups.siteId, p('siteId')) : undefined,
      has.serverId ? eq(backups.serverId, p('serverId')) : undefined,
      has.configId ? eq(backups.configId, p('configId')) : undefined,
      has.database ? eq(backups.database, p('database')) : undefined,
      has.status ? eq(backups.status, p('status')) : undefined,
      eq(backups.kind, p('kind')),
      has.from ? gte(backups.startedAt, p('from')) : undefined,
      has.to ? lt(backups.startedAt, p('to')) : undefined,
    ];
    if (has.cursor) {
      const at = sql`${p('cursorAt')}::timestamptz`;
      filters.push(
        or(sql`${backups.startedAt} < ${at}`, and(sql`${backups.startedAt} = ${at}`, lt(backups.id, p('cursorId')))),
      );
    }
    return preparedRows<ListRow>(
      this.#db,
      this.#db
        .select({ id: backups.id, version: rowVersion, at: startedAtUs })
        .from(backups)
        .where(and(...filters))
        .orderBy(desc(backups.startedAt), desc(backups.id))
        .limit(p('limit')),
      name,
    );
  }
}
