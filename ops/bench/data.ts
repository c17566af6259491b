// A shop database of a chosen size to benchmark against: customers, products, orders and their lines, and one big
// append-only event log, with the column types real ones have (text, JSON, numeric, timestamps, arrays, inet, uuid).
// Text is drawn from a vocabulary and JSON from a few shapes with varying values, so it compresses about as well as
// real data does (3-4× with zstd or gzip): pure random bytes would not compress at all, pure repetition far too well.
import postgres from 'postgres';
import { createTempDatabase } from '../services/pg.ts';
import { MiB, type Cleanup } from './lib.ts';

export interface BenchDatabase {
  name: string;
  url: string;
  /** Heap and TOAST of the tables (the data), without indexes. */
  dataBytes: number;
  indexBytes: number;
  /** pg_database_size, catalogues included. */
  databaseBytes: number;
  tables: { table: string; rows: number; bytes: number }[];
  generateSeconds: number;
  drop(): Promise<void>;
}

const WORDS = (
  'order shipment invoice payment customer account refund delivery warehouse package priority standard express returned ' +
  'pending confirmed cancelled review rating product price discount coupon cart checkout session login logout search ' +
  'filter category brand color size weight stock supplier contract renewal subscription monthly annual trial upgrade ' +
  'downgrade support ticket request response timeout retry error warning notice update created deleted archived restored ' +
  'imported exported synced scheduled completed failed started stopped the a an of to in for on with from by at as and or ' +
  'not is was be has have will can should new old large small red blue green black white premium basic gold silver bronze ' +
  'north south east west central region store online mobile web api partner vendor agent manager team report daily weekly ' +
  'quarterly total net gross tax fee charge credit debit balance transfer wallet card bank address street city postal code ' +
  'country phone email message note comment feedback issue resolved escalated assigned closed opened cotton steel wooden ' +
  'leather organic wireless compact portable durable lightweight waterproof adjustable ergonomic vintage classic modern'
).split(' ');
const FIRST =
  'Anna Ben Clara David Emma Felix Greta Hans Ida Jonas Karin Lukas Mia Noah Olga Paul Rosa Simon Tina Uwe Vera Wim Xenia Yusuf Zoe Liam Sofia Mateo Aiko Omar'.split(
    ' ',
  );
const LAST =
  'Müller Schmidt Schneider Fischer Weber Meyer Wagner Becker Schulz Hoffmann Koch Richter Klein Wolf Neumann Schwarz Braun Zimmermann Krüger Hartmann Lange Werner Krause Lehmann Köhler Smith Garcia Rossi Dubois Novak'.split(
    ' ',
  );
const CITIES =
  'Berlin Hamburg München Köln Frankfurt Stuttgart Düsseldorf Leipzig Dortmund Essen Bremen Dresden Hannover Nürnberg Wien Zürich Basel Graz Linz Salzburg'.split(
    ' ',
  );

const list = (xs: readonly (string | number)[]) =>
  `array[${xs.map((x) => (typeof x === 'number' ? String(x) : `'${x.replaceAll("'", "''")}'`)).join(',')}]`;
/** One element of a literal array, uniformly at random, per row. */
const pick = (xs: readonly (string | number)[]) => `(${list(xs)})[1 + floor(random() * ${xs.length})::int]`;

interface TablePlan {
  table: string;
  share: number;
  /** A first guess of bytes per row, for sizing the calibration batch of a small database. */
  guessRowBytes: number;
  ddl: string;
  /** Inserts rows with ids from..to; `n` holds the row counts of the tables loaded before. */
  insert: (from: number, to: number, n: Record<string, number>) => string;
}

const TABLES: TablePlan[] = [
  {
    table: 'customers',
    share: 0.06,
    guessRowBytes: 330,
    ddl: `create table customers (id bigint not null, name text not null, email text not null, phone text, country char(2) not null,
      city text, created_at timestamptz not null, updated_at timestamptz, balance numeric(12,2) not null default 0, tier text not null,
      marketing_opt_in boolean not null default false, attributes jsonb, notes text)`,
    insert: (from, to) => `insert into customers
      select g, f || ' ' || l, lower(f) || '.' || lower(l) || g || '@' || ${pick(['example.com', 'mail.test', 'shop.test', 'corp.example', 'web.test'])},
        case when random() < 0.8 then '+49 ' || (150 + floor(random() * 30)::int) || ' ' || lpad(floor(random() * 1e7)::int::text, 7, '0') end,
        ${pick(['DE', 'DE', 'DE', 'AT', 'CH', 'NL', 'FR', 'IT'])}, ${pick(CITIES)},
        timestamptz '2019-01-01 00:00:00+00' + g * interval '37 seconds', case when random() < 0.6 then now() - random() * interval '400 days' end,
        round((random() * random() * 5000)::numeric, 2), ${pick(['basic', 'basic', 'basic', 'silver', 'gold', 'platinum'])}, random() < 0.35,
        jsonb_build_object('lang', ${pick(['de', 'de', 'en', 'fr', 'it'])}, 'newsletter', random() < 0.4, 'segment', ${pick(['retail', 'retail', 'b2b', 'reseller'])},
          'score', floor(random() * 100)::int, 'tags', jsonb_build_array(${pick(WORDS)}, ${pick(WORDS)})),
        case when random() < 0.4 then ph.txt end
      from (select g, ${pick(FIRST)} as f, ${pick(LAST)} as l, 1 + floor(random() * 20000)::int as pid from generate_series(${from}, ${to}) g) s
      join bench_phrases ph on ph.id = s.pid`,
  },
  {
    table: 'products',
    share: 0.01,
    guessRowBytes: 420,
    ddl: `create table products (id int not null, sku text not null, name text not null, description text, price numeric(10,2) not null,
      tags text[], specs jsonb, active boolean not null default true, created_at timestamptz not null)`,
    insert: (from, to) => `insert into products
      select g, 'SKU-' || lpad(g::text, 8, '0'), initcap(${pick(WORDS.slice(-16))} || ' ' || ${pick(WORDS.slice(0, 40))} || ' ' || ${pick(WORDS.slice(75, 100))}),
        a.txt || '. ' || b.txt || '.', round((1 + random() * random() * 900)::numeric, 2),
        array[${pick(WORDS)}, ${pick(WORDS)}, ${pick(WORDS)}],
        jsonb_build_object('weight_g', floor(random() * 5000)::int, 'color', ${pick(['red', 'blue', 'green', 'black', 'white', 'grey'])},
          'dims', jsonb_build_object('w', floor(random() * 100)::int, 'h', floor(random() * 100)::int, 'd', floor(random() * 50)::int), 'warranty_years', floor(random() * 4)::int),
        random() < 0.9, timestamptz '2018-01-01 00:00:00+00' + g * interval '2 hours'
      from (select g, 1 + floor(random() * 20000)::int as pa, 1 + floor(random() * 20000)::int as pb from generate_series(${from}, ${to}) g) s
      join bench_phrases a on a.id = s.pa join bench_phrases b on b.id = s.pb`,
  },
  {
    table: 'orders',
    share: 0.14,
    guessRowBytes: 290,
    ddl: `create table orders (id bigint not null, customer_id bigint not null, status text not null, created_at timestamptz not null,
      shipped_at timestamptz, total numeric(12,2) not null, currency char(3) not null, shipping_address text, meta jsonb)`,
    insert: (from, to, n) => `insert into orders
      select g, 1 + floor(random() * ${n.customers})::bigint, st, at, case when st in ('shipped', 'delivered') then at + random() * interval '5 days' end,
        round((5 + random() * random() * 1500)::numeric, 2), ${pick(['EUR', 'EUR', 'EUR', 'CHF', 'USD'])},
        ${pick(['Hauptstraße', 'Bahnhofstraße', 'Gartenweg', 'Schulstraße', 'Dorfstraße', 'Lindenallee', 'Bergstraße'])} || ' ' || (1 + floor(random() * 200)::int)
          || ', ' || lpad(floor(random() * 99999)::int::text, 5, '0') || ' ' || ${pick(CITIES)},
        jsonb_build_object('channel', ${pick(['web', 'web', 'mobile', 'store', 'phone'])}, 'coupon', case when random() < 0.15 then upper(${pick(WORDS)}) || floor(random() * 50)::int end,
          'gift', random() < 0.05, 'items', floor(1 + random() * 6)::int)
      from (select g, ${pick(['delivered', 'delivered', 'delivered', 'shipped', 'paid', 'pending', 'cancelled', 'returned'])} as st,
              timestamptz '2020-01-01 00:00:00+00' + g * interval '11 seconds' as at from generate_series(${from}, ${to}) g) s`,
  },
  {
    table: 'order_items',
    share: 0.14,
    guessRowBytes: 75,
    ddl: `create table order_items (id bigint not null, order_id bigint not null, product_id int not null, quantity int not null,
      unit_price numeric(10,2) not null, discount numeric(5,2) not null default 0)`,
    insert: (from, to, n) => `insert into order_items
      select g, 1 + floor(random() * ${n.orders})::bigint, 1 + floor(random() * ${n.products})::int, 1 + floor(random() * random() * 6)::int,
        round((1 + random() * random() * 400)::numeric, 2), case when random() < 0.2 then round((random() * 30)::numeric, 2) else 0 end
      from generate_series(${from}, ${to}) g`,
  },
  {
    table: 'events',
    share: 0.65,
    guessRowBytes: 300,
    ddl: `create table events (id bigint not null, occurred_at timestamptz not null, customer_id bigint, session_id uuid, kind text not null,
      path text, client_ip inet, duration_ms int, payload jsonb, message text)`,
    // Append-only: ids and times only grow, as in a real log.
    insert: (from, to, n) => `insert into events
      select g, timestamptz '2024-01-01 00:00:00+00' + g * interval '40 milliseconds' + floor(random() * 30) * interval '1 millisecond',
        1 + floor(random() * ${n.customers})::bigint, md5('s' || (g / 23))::uuid,
        ${pick(['page_view', 'page_view', 'page_view', 'click', 'click', 'search', 'add_to_cart', 'checkout', 'login', 'logout', 'api_call', 'error'])},
        ${pick(['/', '/products', '/products/', '/cart', '/checkout', '/account', '/search', '/orders/', '/api/v1/items', '/help'])}
          || case when random() < 0.4 then floor(random() * 5000)::int::text else '' end,
        ('10.' || (g % 7) || '.' || floor(random() * 256)::int || '.' || floor(random() * 256)::int)::inet,
        floor(random() * random() * 3000)::int,
        jsonb_build_object('status', ${pick([200, 200, 200, 200, 201, 204, 301, 304, 400, 404, 500])}, 'bytes', floor(random() * 80000)::int,
          'ref', ${pick(['google', 'direct', 'newsletter', 'partner', 'ads', 'social'])}, 'variant', case when random() < 0.5 then 'A' else 'B' end,
          'items', floor(random() * 8)::int, 'amount', round((random() * 400)::numeric, 2)),
        case when random() < 0.7 then ph.txt end
      from (select g, 1 + floor(random() * 20000)::int as pid from generate_series(${from}, ${to}) g) s join bench_phrases ph on ph.id = s.pid`,
  },
];

const AFTER_LOAD = `
  alter table customers add primary key (id);
  create unique index customers_email_key on customers (email);
  alter table products add primary key (id);
  create unique index products_sku_key on products (sku);
  alter table orders add primary key (id);
  create index orders_customer_idx on orders (customer_id);
  create index orders_created_idx on orders (created_at);
  alter table order_items add primary key (id);
  create index order_items_order_idx on order_items (order_id);
  alter table events add primary key (id);
  create index events_occurred_idx on events (occurred_at);
  create index events_customer_idx on events (customer_id, occurred_at);
  alter table orders add constraint orders_customer_fk foreign key (customer_id) references customers (id);
  alter table order_items add constraint order_items_order_fk foreign key (order_id) references orders (id);
  alter table order_items add constraint order_items_product_fk foreign key (product_id) references products (id);
  create view order_totals as select o.id, o.customer_id, sum(i.quantity * i.unit_price - i.discount) as lines_total from orders o join order_items i on i.order_id = o.id group by o.id;
  comment on table events is 'append-only click stream';
`;

/** Rows per INSERT: big enough to be quick, small enough that one statement does not hold gigabytes of WAL. */
const MAX_BATCH = 400_000;

/**
 * Creates and fills a database whose tables hold about `size` bytes (heap and TOAST, before indexes), registered
 * with `cleanup` so it is dropped even when the bench is interrupted.
 */
export async function generateDatabase(
  cleanup: Cleanup,
  size: number,
  log: (msg: string) => void,
  prefix = 'bp_bench',
): Promise<BenchDatabase> {
  const started = performance.now();
  const db = await createTempDatabase(prefix);
  const drop = cleanup.add(`database ${db.name}`, () => db.drop());
  const sql = postgres(db.url, { max: 1, onnotice: () => {} });
  try {
    // One session: the helper tables are temporary and would otherwise be invisible to the next statement.
    await sql.unsafe(`set synchronous_commit = off`);
    await sql.unsafe(
      `create temp table bench_words as select row_number() over ()::int as id, w from unnest(${list(WORDS)}) w`,
    );
    await sql.unsafe(`create temp table bench_phrases as
      select s.p as id, string_agg(w.w, ' ' order by s.i) as txt
      from (select p, i, 1 + floor(random() * ${WORDS.length})::int as wid
            from generate_series(1, 20000) p cross join lateral generate_series(1, 4 + p % 13) i) s
      join bench_words w on w.id = s.wid group by s.p`);
    await sql.unsafe(`create unique index on bench_phrases (id); analyze bench_phrases`);

    const rows: Record<string, number> = {};
    const tables: BenchDatabase['tables'] = [];
    for (const t of TABLES) {
      await sql.unsafe(t.ddl);
      const want = Math.max(64 * 1024, size * t.share);
      // A first batch tells how big a row really is; the rest is sized from it.
      const probe = Math.max(50, Math.min(5000, Math.ceil(want / t.guessRowBytes / 4)));
      await sql.unsafe(t.insert(1, probe, rows));
      const probeBytes = await tableBytes(sql, t.table);
      const total = Math.max(probe, Math.round((want / probeBytes) * probe));
      for (let from = probe + 1; from <= total; from += MAX_BATCH)
        await sql.unsafe(t.insert(from, Math.min(total, from + MAX_BATCH - 1), rows));
      rows[t.table] = total;
      tables.push({ table: t.table, rows: total, bytes: await tableBytes(sql, t.table) });
      log(`  ${t.table}: ${total.toLocaleString('en')} rows, ${(tables.at(-1)!.bytes / MiB).toFixed(1)} MiB`);
    }
    await sql.unsafe(AFTER_LOAD);
    await sql.unsafe(`drop table bench_phrases; drop table bench_words`);
    // Hint bits and the visibility map are set now, so no timed dump pays for them on its first read.
    await sql.unsafe(`vacuum (freeze, analyze)`);
    const [sizes] = await sql<{ data: string; indexes: string; database: string }[]>`
      select sum(pg_table_size(c.oid))::text as data, sum(pg_indexes_size(c.oid))::text as indexes, pg_database_size(current_database())::text as database
      from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname = 'public' and c.relkind = 'r'`;
    return {
      name: db.name,
      url: db.url,
      dataBytes: Number(sizes!.data),
      indexBytes: Number(sizes!.indexes),
      databaseBytes: Number(sizes!.database),
      tables,
      generateSeconds: (performance.now() - started) / 1000,
      drop,
    };
  } catch (err) {
    await sql.end({ timeout: 1 });
    await drop();
    throw err;
  } finally {
    await sql.end({ timeout: 5 }).catch(() => {});
  }
}

async function tableBytes(sql: postgres.Sql, table: string): Promise<number> {
  const [r] = await sql<{ n: string }[]>`select pg_table_size(${table}::regclass)::text as n`;
  return Number(r!.n);
}
