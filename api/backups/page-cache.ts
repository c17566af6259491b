// What the listing keeps between requests: rows' JSON by row version, and the last body sent for each query, so the
// pages admins and dashboards ask for again and again are neither built by PostgreSQL nor assembled again.
import { Bounded } from '../lib/bounded.ts';

/** History rows kept as JSON by the API process (about 1 KiB each). */
const ROW_TEXTS = 5000;

/**
 * Rows' JSON, as UTF-8 bytes ready to send, by id and version; the oldest loaded go first. A listing asks PostgreSQL
 * only for each page's ids and versions, and for the JSON of rows it has not seen at that version: building the JSON
 * was most of the database's work per request, and admins page through the same recent history again and again.
 */
export class RowTexts {
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
export class SentPages {
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
export function pageBody(rows: Buffer[], nextCursor: string | null): Uint8Array<ArrayBuffer> {
  const parts: Buffer[] = [ITEMS_OPEN];
  rows.forEach((r, i) => parts.push(...(i ? [COMMA, r] : [r])));
  parts.push(Buffer.from(`],"nextCursor":${JSON.stringify(nextCursor)}}`));
  return Buffer.concat(parts) as Uint8Array<ArrayBuffer>;
}
const ITEMS_OPEN = Buffer.from('{"items":[');
const COMMA = Buffer.from(',');
