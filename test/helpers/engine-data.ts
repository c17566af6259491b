// Source databases for the end-to-end pipeline tests, one shape on every engine: several tables in many column types
// (ints, unicode text, decimals, timestamps, JSON, bytes, NULLs), a few thousand rows, and a marker string to look for
// in backup files. Each engine also answers per-table row counts and a content checksum, so a restore can be compared
// with its source table by table.
import { createHash, randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import postgres from 'postgres';
import { engineFor } from '../../activities/engines/index.ts';
import type { ServerConnection, SiteConfigInput } from '../../activities/site-config.ts';
import { mariadbAdmin, mariadbConn, MARIADB_HOST, MARIADB_PASSWORD, MARIADB_PORT, MARIADB_USER } from './mariadb.ts';
import { PG_HOST, PG_PORT, PG_USER, pgUrl, uniqueName } from '../../ops/services/pg.ts';

export type EngineName = 'postgresql' | 'mariadb' | 'sqlite';

/** Rows per table of the fixture. `logs.at` is now − (n days + 12 hours) for n = 1..100. */
export const ROWS = { customers: 2000, orders: 3000, events: 1500, sessions: 400, logs: 100 } as const;
/** Rows 30..100 of `logs` are more than 30 days old. */
export const LOGS_OLDER_THAN_30_DAYS = 71;

export type Fingerprint = Record<string, string>;
export const rowCounts = (fp: Fingerprint): Record<string, number> =>
  Object.fromEntries(Object.entries(fp).map(([t, v]) => [t, Number(v.split(':')[0])]));

export interface EngineHarness {
  engine: EngineName;
  /** How the site configuration names this server (secrets included: they stay at the site). */
  serverSettings(): SiteConfigInput['servers'][string];
  conn(): ServerConnection;
  newName(): string;
  /** The fixture, with `marker` in one row's text. */
  createFixture(name: string, marker: string): Promise<void>;
  /** Per table `<rows>:<hash of every row's text, in id order>`. */
  fingerprint(name: string): Promise<Fingerprint>;
  /** A statement or script in the engine's SQL (for setting up a case). */
  exec(name: string, sql: string): Promise<void>;
  drop(name: string): Promise<void>;
  /** Removes whatever the harness made for itself (SQLite: its folder). */
  close(): Promise<void>;
}

export async function pgRun<T>(database: string, fn: (sql: postgres.Sql) => Promise<T>): Promise<T> {
  const sql = postgres(pgUrl(database), { max: 1, onnotice: () => {} });
  try {
    return await fn(sql);
  } finally {
    await sql.end();
  }
}

/** Row count and a content hash of every base table, computed the same way for a source and its restored copy. */
export function pgFingerprint(database: string): Promise<Fingerprint> {
  return pgRun(database, async (sql) => {
    const tables = await sql<
      { name: string }[]
    >`select table_name as name from information_schema.tables where table_schema = 'public' and table_type = 'BASE TABLE' order by 1`;
    const out: Fingerprint = {};
    for (const { name: t } of tables) {
      const [r] = await sql.unsafe<{ n: number; h: string }[]>(
        `select count(*)::int as n, coalesce(md5(string_agg(md5(t::text), '' order by t.id)), '') as h from "${t}" t`,
      );
      out[t] = `${r!.n}:${r!.h}`;
    }
    return out;
  });
}

export async function mariadbFingerprint(name: string): Promise<Fingerprint> {
  const cols =
    await mariadbAdmin(`SELECT c.TABLE_NAME, GROUP_CONCAT(CONCAT('QUOTE(\`', c.COLUMN_NAME, '\`)') ORDER BY c.ORDINAL_POSITION SEPARATOR ', ')
    FROM information_schema.COLUMNS c JOIN information_schema.TABLES t ON t.TABLE_SCHEMA = c.TABLE_SCHEMA AND t.TABLE_NAME = c.TABLE_NAME
    WHERE c.TABLE_SCHEMA = '${name}' AND t.TABLE_TYPE = 'BASE TABLE' GROUP BY c.TABLE_NAME ORDER BY c.TABLE_NAME;`);
  // CONCAT_WS skips NULLs, QUOTE(NULL) is the text NULL: a NULL and the string 'NULL' hash differently.
  const queries = cols.map(
    ([table, list]) =>
      `SELECT '${table}', COUNT(*), COALESCE(MD5(GROUP_CONCAT(MD5(CONCAT_WS('|', ${list})) ORDER BY id SEPARATOR '')), '') FROM \`${table}\`;`,
  );
  const rows = await mariadbAdmin(`SET SESSION group_concat_max_len = 1073741824;\n${queries.join('\n')}`, name);
  return Object.fromEntries(rows.map(([t, n, h]) => [t!, `${n}:${h}`]));
}

export function sqliteFingerprint(db: DatabaseSync): Fingerprint {
  const out: Fingerprint = {};
  const tables = db
    .prepare(
      String.raw`SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite\_%' ESCAPE '\' ORDER BY name`,
    )
    .all();
  for (const { name: t } of tables) {
    const cols = db
      .prepare(`PRAGMA table_info("${String(t)}")`)
      .all()
      .map((col) => `quote("${String(col.name)}")`);
    const hash = createHash('sha256');
    let n = 0;
    for (const r of db.prepare(`SELECT ${cols.join(` || '|' || `)} AS r FROM "${String(t)}" ORDER BY id`).iterate()) {
      hash.update(String(r.r)).update('\n');
      n++;
    }
    out[String(t)] = `${n}:${hash.digest('hex')}`;
  }
  return out;
}

const sqlText = (s: string) => `'${s.replaceAll("'", "''")}'`;

export function postgresHarness(): EngineHarness {
  const conn: ServerConnection = {
    engine: 'postgresql',
    host: PG_HOST,
    port: PG_PORT,
    user: PG_USER,
    password: undefined,
  };
  return {
    engine: 'postgresql',
    serverSettings: () => ({
      engine: 'postgresql',
      host: PG_HOST,
      port: PG_PORT,
      user: PG_USER,
      password: 'site-only-Secret-pg',
    }),
    conn: () => conn,
    newName: () => uniqueName('bp_pipe'),
    async createFixture(name, marker) {
      await pgRun('postgres', (sql) => sql.unsafe(`create database "${name}"`));
      await pgRun(name, (sql) =>
        sql.unsafe(String.raw`
        create table customers (id int primary key, name text not null, email text, balance numeric(12,2), created_at timestamptz,
          meta jsonb, avatar bytea, note text);
        insert into customers select g, 'Zoë Ünïcødé ' || g || ' 😀 日本語', case when g % 7 = 0 then null else 'c' || g || '@example.test' end,
          g * 1.25 - 1000, timestamptz '2026-01-01 00:00:00+00' - g * interval '1 hour 7 seconds',
          jsonb_build_object('tier', g % 3, 'tags', jsonb_build_array('a', 'ü', g)),
          case when g % 5 = 0 then null else decode(md5(g::text), 'hex') || '\x00ff00'::bytea end,
          case when g = 1 then ${sqlText(marker)} when g % 11 = 0 then null else E'line 1\nline\t2 "q" ''s'' \\ ' || g end
        from generate_series(1, ${ROWS.customers}) g;
        create table orders (id bigint primary key, customer_id int not null references customers (id), amount numeric(10,2), placed_at timestamptz, status text);
        insert into orders select g, 1 + g % ${ROWS.customers}, (g % 997) * 0.37, timestamptz '2026-01-01 00:00:00+00' - g * interval '17 minutes',
          case when g % 13 = 0 then null else 'st' || (g % 4) end from generate_series(1, ${ROWS.orders}) g;
        create table events (id bigint primary key, kind text, payload text, at timestamptz);
        insert into events select g, 'kind' || (g % 7), repeat(md5(g::text), 2), timestamptz '2026-01-01 00:00:00+00' - g * interval '1 second'
          from generate_series(1, ${ROWS.events}) g;
        create table sessions (id serial primary key, token text not null);
        insert into sessions (token) select md5(g::text) from generate_series(1, ${ROWS.sessions}) g;
        create table logs (id int primary key, at timestamptz not null, msg text);
        insert into logs select g, now() - g * interval '1 day' - interval '12 hours', 'log ' || g from generate_series(1, ${ROWS.logs}) g;
      `),
      );
    },
    fingerprint: (name) => pgFingerprint(name),
    async exec(name, sql) {
      await pgRun(name, (s) => s.unsafe(sql));
    },
    drop: (name) => engineFor('postgresql').dropDatabase(conn, name),
    async close() {},
  };
}

export function mariadbHarness(): EngineHarness {
  return {
    engine: 'mariadb',
    serverSettings: () => ({
      engine: 'mariadb',
      host: MARIADB_HOST,
      port: MARIADB_PORT,
      user: MARIADB_USER,
      ...(MARIADB_PASSWORD !== undefined && { password: MARIADB_PASSWORD }),
    }),
    conn: () => mariadbConn(),
    newName: () => uniqueName('bp_pipe'),
    async createFixture(name, marker) {
      await mariadbAdmin(`CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4;`);
      await mariadbAdmin(
        String.raw`
        CREATE TABLE customers (id INT PRIMARY KEY, name VARCHAR(200) NOT NULL, email VARCHAR(200), balance DECIMAL(12,2),
          created_at TIMESTAMP(6) NULL, meta JSON, avatar BLOB, note TEXT) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
        INSERT INTO customers SELECT seq, CONCAT('Zoë Ünïcødé ', seq, ' 😀 日本語'), IF(seq % 7 = 0, NULL, CONCAT('c', seq, '@example.test')),
          seq * 1.25 - 1000, TIMESTAMP'2026-01-01 00:00:00' - INTERVAL seq HOUR - INTERVAL seq SECOND,
          JSON_OBJECT('tier', seq % 3, 'tags', JSON_ARRAY('a', 'ü', seq)), IF(seq % 5 = 0, NULL, CONCAT(UNHEX(MD5(seq)), X'00FF00')),
          CASE WHEN seq = 1 THEN ${sqlText(marker)} WHEN seq % 11 = 0 THEN NULL ELSE CONCAT('line 1\nline\t2 "q" ''s'' \\ ', seq) END
        FROM seq_1_to_${ROWS.customers};
        CREATE TABLE orders (id BIGINT PRIMARY KEY, customer_id INT NOT NULL, amount DECIMAL(10,2), placed_at DATETIME(3), status VARCHAR(10),
          CONSTRAINT orders_customer FOREIGN KEY (customer_id) REFERENCES customers (id)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
        INSERT INTO orders SELECT seq, 1 + seq % ${ROWS.customers}, (seq % 997) * 0.37, TIMESTAMP'2026-01-01 00:00:00' - INTERVAL (seq * 17) MINUTE,
          IF(seq % 13 = 0, NULL, CONCAT('st', seq % 4)) FROM seq_1_to_${ROWS.orders};
        CREATE TABLE events (id BIGINT PRIMARY KEY, kind VARCHAR(20), payload TEXT, at DATETIME(3)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
        INSERT INTO events SELECT seq, CONCAT('kind', seq % 7), REPEAT(MD5(seq), 2), TIMESTAMP'2026-01-01 00:00:00' - INTERVAL seq SECOND FROM seq_1_to_${ROWS.events};
        CREATE TABLE sessions (id INT AUTO_INCREMENT PRIMARY KEY, token VARCHAR(64) NOT NULL) ENGINE=InnoDB;
        INSERT INTO sessions (token) SELECT MD5(seq) FROM seq_1_to_${ROWS.sessions};
        CREATE TABLE logs (id INT PRIMARY KEY, at DATETIME NOT NULL, msg TEXT) ENGINE=InnoDB;
        INSERT INTO logs SELECT seq, NOW() - INTERVAL seq DAY - INTERVAL 12 HOUR, CONCAT('log ', seq) FROM seq_1_to_${ROWS.logs};
      `,
        name,
      );
    },
    fingerprint: (name) => mariadbFingerprint(name),
    async exec(name, sql) {
      await mariadbAdmin(sql, name);
    },
    drop: (name) => engineFor('mariadb').dropDatabase(mariadbConn(), name),
    async close() {},
  };
}

/** SQLite databases are files in one folder of the harness's own; a database name is a file name there. */
export async function sqliteHarness(): Promise<EngineHarness> {
  const folder = await mkdtemp(path.join(os.tmpdir(), 'bp-pipe-sqlite-'));
  const conn: ServerConnection = { engine: 'sqlite', host: folder, port: undefined, user: '', password: undefined };
  const open = <T>(name: string, fn: (db: DatabaseSync) => T): T => {
    const db = new DatabaseSync(path.join(folder, name));
    try {
      return fn(db);
    } finally {
      db.close();
    }
  };
  const md5 = (s: string) => createHash('md5').update(s);
  return {
    engine: 'sqlite',
    serverSettings: () => ({ engine: 'sqlite', folder }),
    conn: () => conn,
    // The API takes database names of letters, digits, _ $ -: the file has no extension.
    newName: () => uniqueName('bp_pipe'),
    async createFixture(name, marker) {
      open(name, (db) => {
        db.exec(`
          PRAGMA journal_mode = WAL;
          CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT NOT NULL, email TEXT, balance NUMERIC, created_at TEXT, meta TEXT, avatar BLOB, note TEXT);
          CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL REFERENCES customers (id), amount NUMERIC, placed_at TEXT, status TEXT);
          CREATE TABLE events (id INTEGER PRIMARY KEY, kind TEXT, payload TEXT, at TEXT);
          CREATE TABLE sessions (id INTEGER PRIMARY KEY AUTOINCREMENT, token TEXT NOT NULL);
          CREATE TABLE logs (id INTEGER PRIMARY KEY, at TEXT NOT NULL, msg TEXT);
        `);
        db.exec('BEGIN');
        const base = Date.UTC(2026, 0, 1);
        const c = db.prepare('INSERT INTO customers VALUES (?, ?, ?, ?, ?, ?, ?, ?)');
        for (let g = 1; g <= ROWS.customers; g++) {
          const avatar = g % 5 === 0 ? null : Buffer.concat([md5(String(g)).digest(), Buffer.from([0, 255, 0])]);
          const note = g === 1 ? marker : g % 11 === 0 ? null : `line 1\nline\t2 "q" 's' \\ ${g}`;
          c.run(
            g,
            `Zoë Ünïcødé ${g} 😀 日本語`,
            g % 7 === 0 ? null : `c${g}@example.test`,
            (g * 125 - 100_000) / 100,
            new Date(base - g * 3_607_000).toISOString(),
            JSON.stringify({ tier: g % 3, tags: ['a', 'ü', g] }),
            avatar,
            note,
          );
        }
        const o = db.prepare('INSERT INTO orders VALUES (?, ?, ?, ?, ?)');
        for (let g = 1; g <= ROWS.orders; g++)
          o.run(
            g,
            1 + (g % ROWS.customers),
            ((g % 997) * 37) / 100,
            new Date(base - g * 17 * 60_000).toISOString(),
            g % 13 === 0 ? null : `st${g % 4}`,
          );
        const e = db.prepare('INSERT INTO events VALUES (?, ?, ?, ?)');
        for (let g = 1; g <= ROWS.events; g++)
          e.run(g, `kind${g % 7}`, md5(String(g)).digest('hex').repeat(2), new Date(base - g * 1000).toISOString());
        const s = db.prepare('INSERT INTO sessions (token) VALUES (?)');
        for (let g = 1; g <= ROWS.sessions; g++) s.run(md5(String(g)).digest('hex'));
        const l = db.prepare('INSERT INTO logs VALUES (?, ?, ?)');
        for (let g = 1; g <= ROWS.logs; g++)
          l.run(g, new Date(Date.now() - g * 86_400_000 - 43_200_000).toISOString(), `log ${g}`);
        db.exec('COMMIT');
      });
    },
    async fingerprint(name) {
      return open(name, sqliteFingerprint);
    },
    async exec(name, sql) {
      open(name, (db) => db.exec(sql));
    },
    drop: (name) => engineFor('sqlite').dropDatabase(conn, name),
    close: () => rm(folder, { recursive: true, force: true }),
  };
}

export async function harnessFor(engine: EngineName): Promise<EngineHarness> {
  if (engine === 'postgresql') return postgresHarness();
  if (engine === 'mariadb') return mariadbHarness();
  return sqliteHarness();
}

/** A string that occurs once in the fixture, to look for in backup files. */
export const newMarker = () => `BP-PLAINTEXT-MARKER-${randomUUID()}`;
