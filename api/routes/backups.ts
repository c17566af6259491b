// Backup history: one row per database per run, newest first, filtered and paginated with a keyset cursor.
import { createRoute, z } from '@hono/zod-openapi';
import { and, asc, desc, eq, getTableColumns, gte, inArray, lt, or, sql, type SQL } from 'drizzle-orm';
import type { PgColumn } from 'drizzle-orm/pg-core';
import { BackupError, invalid } from '../../common/errors.ts';
import { BACKUP_KINDS, BACKUP_STATUSES, COPY_STATES, SITE_TARGET } from '../../common/model.ts';
import { backupCopies, backups, copyEvents, sites } from '../../db/schema.ts';
import { router } from '../lib/router.ts';
import type { Services } from '../lib/services.ts';
import { Bounded } from '../lib/bounded.ts';
import { errors, IdParam, Instant, instantProblem, iso, json, UUID_RE } from '../lib/http.ts';
import { findOwned } from '../lib/tenancy.ts';

const Backup = z
  .object({
    id: z.string(),
    configId: z.string().nullable(),
    siteId: z.string(),
    serverId: z.string(),
    database: z.string(),
    workflowId: z.string(),
    runId: z.string(),
    fileName: z.string().nullable(),
    sizeBytes: z.number().nullable(),
    sha256: z.string().nullable(),
    startedAt: z.string(),
    finishedAt: z.string().nullable(),
    status: z.enum(BACKUP_STATUSES),
    error: z.string().nullable(),
    location: z.string().nullable().openapi({ description: 'the site copy, while it exists' }),
    availableForDownload: z.boolean().openapi({ description: 'true while at least one copy is stored' }),
    kind: z.enum(BACKUP_KINDS),
    compression: z.string().nullable(),
    encrypted: z.boolean(),
    keyId: z.string().nullable().openapi({ description: 'fingerprint of the tenant key that wrapped the data key' }),
    tableCounts: z.array(z.object({ table: z.string(), rows: z.number(), exact: z.boolean() })).nullable(),
    rowsRemoved: z.array(z.object({ table: z.string(), mode: z.string(), rows: z.number() })).nullable(),
    report: z
      .record(z.string(), z.unknown())
      .nullable()
      .openapi({ description: 'a dry run: each check, passed or failed with why' }),
  })
  .openapi('Backup');
const Query = z.object({
  siteId: z.string().uuid().optional(),
  serverId: z.string().uuid().optional(),
  configId: z.string().uuid().optional(),
  database: z.string().max(63).optional(),
  status: z.enum(BACKUP_STATUSES).optional(),
  kind: z.enum(BACKUP_KINDS).default('backup').openapi({ description: 'backups (default) or dry runs' }),
  from: Instant.optional().openapi({ description: 'started at or after (ISO 8601)' }),
  to: Instant.optional().openapi({ description: 'started before (ISO 8601)' }),
  limit: z.coerce.number().int().min(1).max(500).default(50),
  cursor: z.string().max(200).optional().openapi({ description: 'nextCursor of the previous page' }),
});

const backupOut = (b: typeof backups.$inferSelect) => ({
  id: b.id,
  configId: b.configId,
  siteId: b.siteId,
  serverId: b.serverId,
  database: b.database,
  workflowId: b.workflowId,
  runId: b.runId,
  fileName: b.fileName,
  sizeBytes: b.sizeBytes,
  sha256: b.sha256,
  startedAt: b.startedAt.toISOString(),
  finishedAt: iso(b.finishedAt),
  status: b.status,
  error: b.error,
  location: b.location,
  availableForDownload: b.availableForDownload,
  kind: b.kind,
  compression: b.compression,
  encrypted: b.encrypted,
  keyId: b.keyId,
  tableCounts: b.tableCounts,
  rowsRemoved: b.rowsRemoved,
  report: b.report,
});

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

/** History rows kept as JSON by the API process (about 1 KiB each). */
const ROW_TEXTS = 5000;

/**
 * Rows' JSON, as UTF-8 bytes ready to send, by id and version; the oldest loaded go first. A listing asks PostgreSQL
 * only for each page's ids and versions, and for the JSON of rows it has not seen at that version: building the JSON
 * was most of the database's work per request, and admins page through the same recent history again and again.
 */
class RowTexts {
  #texts = new Bounded<{ version: string; json: Buffer }>(ROW_TEXTS, () => 1);
  readonly #load: (ids: string[]) => Promise<[id: string, version: string, json: string][]>;
  constructor(load: (ids: string[]) => Promise<[id: string, version: string, json: string][]>) {
    this.#load = load;
  }

  /** The JSON of each of `rows` (`[id, version, ...]`), in their order; a row deleted since it was listed is left out. */
  async get(rows: [id: string, version: string, ...unknown[]][]): Promise<Buffer[]> {
    const out = new Array<Buffer | undefined>(rows.length);
    const missing: string[] = [];
    rows.forEach(([id, version], i) => {
      const hit = this.#texts.get(id);
      if (hit?.version === version) out[i] = hit.json;
      else missing.push(id);
    });
    if (missing.length > 0) {
      const loaded = new Map(
        (await this.#load(missing)).map(([id, version, json]) => [id, { version, json: Buffer.from(json) }]),
      );
      rows.forEach(([id], i) => {
        const row = loaded.get(id);
        if (out[i] !== undefined || !row) return;
        out[i] = row.json;
        this.#texts.set(id, row);
      });
    }
    return out.filter((t) => t !== undefined);
  }
}

/** Bytes of page bodies kept for `SentPages`. */
const SENT_PAGE_BYTES = 8 * 1024 * 1024;

/**
 * The last body sent for each request (tenant and query string), sent again while the page has the same rows at the
 * same versions and the same cursor: a page that dashboards poll is not assembled and copied on every request. The
 * oldest go first when the bodies pass SENT_PAGE_BYTES.
 */
class SentPages {
  #pages = new Bounded<{
    rows: [id: string, version: string][];
    nextCursor: string | null;
    body: Uint8Array<ArrayBuffer>;
  }>(SENT_PAGE_BYTES, (p) => p.body.length);

  body(
    key: string,
    rows: [id: string, version: string, ...unknown[]][],
    nextCursor: string | null,
  ): Uint8Array<ArrayBuffer> | undefined {
    const sent = this.#pages.get(key);
    if (!sent || sent.nextCursor !== nextCursor || sent.rows.length !== rows.length) return undefined;
    for (let i = 0; i < rows.length; i++)
      if (sent.rows[i]![0] !== rows[i]![0] || sent.rows[i]![1] !== rows[i]![1]) return undefined;
    return sent.body;
  }

  keep(
    key: string,
    rows: [id: string, version: string, ...unknown[]][],
    nextCursor: string | null,
    body: Uint8Array<ArrayBuffer>,
  ): void {
    this.#pages.set(key, { rows: rows.map(([id, version]) => [id, version]), nextCursor, body });
  }
}

/** `{"items":[<rows>],"nextCursor":<cursor>}` from JSON already encoded: one copy of the bytes, no string to build. */
function pageBody(rows: Buffer[], nextCursor: string | null): Uint8Array<ArrayBuffer> {
  const parts: Buffer[] = [ITEMS_OPEN];
  rows.forEach((r, i) => parts.push(...(i ? [COMMA, r] : [r])));
  parts.push(Buffer.from(`],"nextCursor":${JSON.stringify(nextCursor)}}`));
  return Buffer.concat(parts) as Uint8Array<ArrayBuffer>;
}
const ITEMS_OPEN = Buffer.from('{"items":[');
const COMMA = Buffer.from(',');

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

export function backupRoutes(s: Services) {
  const r = router();

  /**
   * The listing's query for one combination of filters, built and prepared once: a request only fills in the values.
   * (Building it, two dozen fields and the filters through the query builder, cost more than PostgreSQL's answer.)
   */
  const listQueries = new Map<string, ReturnType<typeof buildListQuery>>();
  type Shape = Partial<
    Record<'siteId' | 'serverId' | 'configId' | 'database' | 'status' | 'from' | 'to' | 'cursor', unknown>
  >;
  function buildListQuery(has: Shape, name: string) {
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
    return preparedRows<[id: string, version: string, at: string]>(
      s.db
        .select({ id: backups.id, version: rowVersion, at: startedAtUs })
        .from(backups)
        .where(and(...filters))
        .orderBy(desc(backups.startedAt), desc(backups.id))
        .limit(p('limit')),
      name,
    );
  }
  const rowsJson = preparedRows<[id: string, version: string, json: string]>(
    s.db
      .select({ id: backups.id, version: rowVersion, json: backupJson })
      .from(backups)
      .where(sql`${backups.id} = any(${sql.placeholder('ids')}::uuid[])`),
    'backups_json',
  );
  const rowTexts = new RowTexts((ids) => rowsJson({ ids }));
  const sentPages = new SentPages();

  /**
   * A query prepared once whose rows come back as the driver's arrays, in the order selected: the query builder's
   * per-field mapping of every row was a tenth of the listing's time.
   */
  function preparedRows<Row extends unknown[]>(query: { toSQL(): { sql: string; params: unknown[] } }, name: string) {
    const prepared = s.db._.session.prepareQuery(query.toSQL(), undefined, name, true, (rows) => rows);
    return async (values: Record<string, unknown>) => (await prepared.execute(values)) as Row[];
  }

  function listQuery(has: Shape) {
    const key = (['siteId', 'serverId', 'configId', 'database', 'status', 'from', 'to', 'cursor'] as const)
      .map((k) => (has[k] ? 1 : 0))
      .join('');
    let query = listQueries.get(key);
    if (!query) listQueries.set(key, (query = buildListQuery(has, `backups_list_${key}`)));
    return query;
  }

  r.openapi(
    createRoute({
      method: 'get',
      path: '/backups',
      tags: ['backups'],
      summary: 'Backup history, newest first',
      request: { query: Query },
      responses: {
        200: json(z.object({ items: z.array(Backup), nextCursor: z.string().nullable() }).openapi('BackupPage')),
        400: errors[400],
      },
    }),
    async (c) => {
      const q = c.req.valid('query');
      const tenantId = c.get('auth').tenantId;
      const cursor = q.cursor ? decodeCursor(q.cursor) : undefined;
      const rows = await listQuery({ ...q, cursor: !!cursor })({
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
      const query = c.req.url.indexOf('?');
      const key = `${tenantId}${query < 0 ? '' : c.req.url.slice(query)}`;
      let body = sentPages.body(key, page, nextCursor);
      if (!body) sentPages.keep(key, page, nextCursor, (body = pageBody(await rowTexts.get(page), nextCursor)));
      return c.body(body, 200, { 'content-type': 'application/json' }) as never;
    },
  );

  r.openapi(
    createRoute({
      method: 'get',
      path: '/backups/{id}',
      tags: ['backups'],
      request: { params: IdParam },
      responses: { 200: json(Backup), 404: errors[404] },
    }),
    async (c) => {
      return c.json(
        backupOut(await findOwned(s.db, backups, c.req.valid('param').id, c.get('auth').tenantId, 'backup')),
        200,
      );
    },
  );

  const CopyEvent = z.object({
    event: z.string(),
    detail: z.string().nullable(),
    workflowId: z.string().nullable(),
    at: z.string(),
  });
  const Copy = z
    .object({
      id: z.string(),
      target: z.string(),
      destinationId: z.string().nullable(),
      location: z.string().nullable(),
      sizeBytes: z.number().nullable(),
      sha256: z.string().nullable(),
      state: z.enum(COPY_STATES),
      error: z.string().nullable(),
      storedAt: z.string().nullable(),
      checkedAt: z.string().nullable(),
      events: z.array(CopyEvent),
    })
    .openapi('BackupCopy');
  r.openapi(
    createRoute({
      method: 'get',
      path: '/backups/{id}/copies',
      tags: ['backups'],
      summary: 'Every copy of a backup (site, destinations), its state and what happened to it',
      request: { params: IdParam },
      responses: { 200: json(z.object({ items: z.array(Copy) })), 404: errors[404] },
    }),
    async (c) => {
      const b = await findOwned(s.db, backups, c.req.valid('param').id, c.get('auth').tenantId, 'backup');
      const copies = await s.db
        .select()
        .from(backupCopies)
        .where(eq(backupCopies.backupId, b.id))
        .orderBy(sql`${backupCopies.target} = ${SITE_TARGET} desc`, asc(backupCopies.target));
      const events = copies.length
        ? await s.db
            .select()
            .from(copyEvents)
            .where(
              inArray(
                copyEvents.copyId,
                copies.map((x) => x.id),
              ),
            )
            .orderBy(asc(copyEvents.at))
        : [];
      const items = copies.map((x) => ({
        id: x.id,
        target: x.target,
        destinationId: x.destinationId,
        location: x.location,
        sizeBytes: x.sizeBytes,
        sha256: x.sha256,
        state: x.state,
        error: x.error,
        storedAt: iso(x.storedAt),
        checkedAt: iso(x.checkedAt),
        events: events
          .filter((e) => e.copyId === x.id)
          .map((e) => ({ event: e.event, detail: e.detail, workflowId: e.workflowId, at: e.at.toISOString() })),
      }));
      return c.json({ items }, 200);
    },
  );

  r.openapi(
    createRoute({
      method: 'get',
      path: '/backups/{id}/download',
      tags: ['backups'],
      summary:
        'The backup file, streamed from its best stored copy (the site first); its SHA-256 is in X-Backup-SHA256 and Repr-Digest',
      request: { params: IdParam },
      responses: {
        200: {
          description: 'The backup file',
          content: { 'application/octet-stream': { schema: z.string().openapi({ format: 'binary' }) } },
        },
        404: errors[404],
        409: errors[409],
      },
    }),
    async (c) => {
      const b = await findOwned(s.db, backups, c.req.valid('param').id, c.get('auth').tenantId, 'backup');
      const copies = await s.db
        .select()
        .from(backupCopies)
        .where(and(eq(backupCopies.backupId, b.id), eq(backupCopies.state, 'stored')))
        .orderBy(sql`${backupCopies.target} = ${SITE_TARGET} desc`, desc(backupCopies.checkedAt));
      if (copies.length === 0 || !b.sha256 || b.sizeBytes === null || !b.fileName)
        throw new BackupError('conflict', 'this backup has no stored copy to download');
      const [site] = await s.db.select().from(sites).where(eq(sites.id, b.siteId));
      // The best copy first; if the site cannot read it (gone since it was last checked), the next one.
      const problems: string[] = [];
      let sent: { body: ReadableStream<Uint8Array>; target: string } | undefined;
      for (const copy of copies) {
        const transfer = s.relay.open(b.siteId, 60_000);
        const handle = await s.runs.startTransfer({
          transferId: transfer.id,
          taskQueue: site!.taskQueue,
          copy: { target: copy.target, key: copy.objectKey },
          sizeBytes: b.sizeBytes,
          heartbeatTimeoutMs: 30_000,
        });
        // Either the site starts sending, or the workflow says why it cannot (the copy is gone, the site is offline).
        const failed = handle.result().then(
          () => new Promise<never>(() => {}),
          (e: Error) => {
            transfer.cancel();
            throw new BackupError(
              'unavailable',
              `${copy.target}: ${(e.cause as Error | undefined)?.message ?? e.message}`,
            );
          },
        );
        try {
          sent = { body: await Promise.race([transfer.body, failed]), target: copy.target };
          break;
        } catch (e) {
          problems.push((e as Error).message);
        }
      }
      if (!sent)
        throw new BackupError('unavailable', `the site could not send any copy of this backup: ${problems.join('; ')}`);
      const body = sent.body;
      const copy = { target: sent.target };
      const digest = Buffer.from(b.sha256, 'hex').toString('base64');
      return new Response(body, {
        status: 200,
        headers: {
          'content-type': 'application/octet-stream',
          'content-length': String(b.sizeBytes),
          'content-disposition': `attachment; filename="${b.fileName}"`,
          'x-backup-sha256': b.sha256,
          'repr-digest': `sha-256=:${digest}:`,
          'x-backup-copy': copy.target,
        },
      });
    },
  );

  return r;
}
