// Each database engine against the real thing: PostgreSQL and MariaDB on this machine, SQLite files in a temp folder.
// The same questions for every engine: does a dump restore to the same rows under another name, do excluded tables
// keep their schema, are errors classified, do the catalogue and cleaning methods count right.
import assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, open, readdir, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { after, before, describe, it } from 'node:test';
import { DatabaseSync } from 'node:sqlite';
import postgres from 'postgres';
import { BackupError } from '../common/errors.ts';
import { engineFor, engines } from '../activities/engines/index.ts';
import type { DatabaseEngine } from '../activities/engines/engine.ts';
import { ownerOf } from '../activities/engines/restore-mark.ts';
import { withoutRowData } from '../activities/engines/tools.ts';
import { classifyPgError } from '../activities/engines/postgres-sql.ts';
import { assertionHolds } from '../activities/engines/assertions.ts';
import type { ServerConnection } from '../activities/site-config.ts';
import { freePort } from '../ops/services/ports.ts';
import { createMariadbUser, mariadbAdmin, mariadbConn } from './helpers/mariadb.ts';
import { mariadbFingerprint, pgFingerprint, sqliteFingerprint } from './helpers/engine-data.ts';
import { PG_HOST, PG_PORT, PG_USER, pgUrl, uniqueName } from '../ops/services/pg.ts';

const ROWS = { customers: 3000, events: 5000, logs: 1000, sessions: 500, settings: 3 } as const;
/** logs.at is now − (n hours + 30 minutes) for n = 1..1000: rows 720..1000 are more than 30 days old. */
const LOGS_OLDER_THAN_30_DAYS = 281;

interface Harness {
  label: string;
  engine: DatabaseEngine;
  conn: ServerConnection;
  setUp?(): Promise<void>;
  tearDown?(): Promise<void>;
  newName(): string;
  /** The fixture: the tables of ROWS in many column types, a view, a trigger, a routine. */
  createFixture(name: string): Promise<void>;
  createEmpty(name: string): Promise<void>;
  /** Per table `<rows>:<hash of each row's canonical text, in primary-key order>`. */
  fingerprint(database: string): Promise<Record<string, string>>;
  /** Views, triggers, routines and the like, as one comparable string. */
  objects(database: string): Promise<string>;
  analyze(database: string): Promise<void>;
  systemDatabase?: string;
  version: RegExp;
  toolVersion: RegExp;
  brokenDump: { bytes: string; code: string };
  /** Whether a date column check refuses a text column (SQLite has no column types to check). */
  checksColumnType: boolean;
}

const pgConn: ServerConnection = {
  engine: 'postgresql',
  host: PG_HOST,
  port: PG_PORT,
  user: PG_USER,
  password: undefined,
};

async function pgRun<T>(database: string, fn: (sql: postgres.Sql) => Promise<T>): Promise<T> {
  const sql = postgres(pgUrl(database), { max: 1, onnotice: () => {} });
  try {
    return await fn(sql);
  } finally {
    await sql.end();
  }
}

const postgresHarness: Harness = {
  label: 'postgresql',
  engine: engineFor('postgresql'),
  conn: pgConn,
  newName: () => uniqueName('bp_eng'),
  async createEmpty(name) {
    await pgRun('postgres', (sql) => sql.unsafe(`create database "${name}"`));
  },
  async createFixture(name) {
    await this.createEmpty(name);
    await pgRun(name, (sql) =>
      sql.unsafe(String.raw`
      create table customers (id int primary key, name text not null, email text, balance numeric(12,2), score double precision,
        created_at timestamptz, birthday date, meta jsonb, avatar bytea, note text);
      insert into customers select g, 'Zoë Ünïcødé ' || g || ' 😀 日本語', case when g % 7 = 0 then null else 'c' || g || '@example.test' end,
        g * 1.25 - 1000, g / 3.0, timestamptz '2026-01-01 00:00:00+00' - g * interval '1 hour 7 seconds', date '1990-01-01' + g,
        jsonb_build_object('tier', g % 3, 'tags', jsonb_build_array('a', 'ü', g)),
        case when g % 5 = 0 then null else decode(md5(g::text), 'hex') || '\x00ff00'::bytea end,
        case when g % 11 = 0 then null else E'line 1\nline\t2 "q" ''s'' \\ ' || g end
      from generate_series(1, ${ROWS.customers}) g;
      create table events (id bigint primary key, customer_id int not null references customers (id), kind text, at timestamptz, payload text);
      insert into events select g, 1 + g % ${ROWS.customers}, 'kind' || (g % 7), timestamptz '2026-01-01 00:00:00+00' - g * interval '1 second', repeat(md5(g::text), 3)
        from generate_series(1, ${ROWS.events}) g;
      create table logs (id int primary key, at timestamptz not null, msg text);
      insert into logs select g, now() - g * interval '1 hour' - interval '30 minutes', 'log ' || g from generate_series(1, ${ROWS.logs}) g;
      create table sessions (id serial primary key, token text not null);
      insert into sessions (token) select md5(g::text) from generate_series(1, ${ROWS.sessions}) g;
      create table settings (id int primary key, k text unique, v text);
      insert into settings values (1, 'a', 'x'), (2, 'b', null), (3, 'ü', '😀');
      create view big_customers as select id, name from customers where balance > 100;
      create view recent_events as select id, kind from events where id > 4000;
      create function touch() returns trigger language plpgsql as $$ begin new.v := coalesce(new.v, ''); return new; end $$;
      create trigger settings_touch before update on settings for each row execute function touch();
    `),
    );
  },
  fingerprint: (database) => pgFingerprint(database),
  async objects(database) {
    return pgRun(database, async (sql) => {
      const [r] = await sql<{ s: string }[]>`select concat_ws(',',
        (select count(*) from pg_views where schemaname = 'public'),
        (select count(*) from pg_trigger where not tgisinternal),
        (select count(*) from pg_proc p join pg_namespace n on n.oid = p.pronamespace where n.nspname = 'public'),
        (select last_value from sessions_id_seq)) as s`;
      return r!.s;
    });
  },
  async analyze(database) {
    await pgRun(database, (sql) => sql`analyze`);
  },
  systemDatabase: 'template1',
  version: /^PostgreSQL \d+\.\d+/,
  toolVersion: /^pg_dump \(PostgreSQL\) \d+/,
  brokenDump: { bytes: 'this is not a pg_dump archive', code: 'BadDumpFile' },
  checksColumnType: true,
};

const mariadbHarness: Harness = {
  label: 'mariadb',
  engine: engineFor('mariadb'),
  conn: mariadbConn(),
  newName: () => uniqueName('bp_eng'),
  async createEmpty(name) {
    await mariadbAdmin(`CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4;`);
  },
  async createFixture(name) {
    await this.createEmpty(name);
    await mariadbAdmin(
      String.raw`
      CREATE TABLE customers (id INT PRIMARY KEY, name VARCHAR(200) NOT NULL, email VARCHAR(200), balance DECIMAL(12,2), score DOUBLE,
        created_at TIMESTAMP(6) NULL, birthday DATE, meta JSON, avatar BLOB, note TEXT) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
      INSERT INTO customers SELECT seq, CONCAT('Zoë Ünïcødé ', seq, ' 😀 日本語'), IF(seq % 7 = 0, NULL, CONCAT('c', seq, '@example.test')),
        seq * 1.25 - 1000, seq / 3, TIMESTAMP'2026-01-01 00:00:00' - INTERVAL seq HOUR - INTERVAL seq SECOND, DATE'1990-01-01' + INTERVAL seq DAY,
        JSON_OBJECT('tier', seq % 3, 'tags', JSON_ARRAY('a', 'ü', seq)), IF(seq % 5 = 0, NULL, CONCAT(UNHEX(MD5(seq)), X'00FF00')),
        IF(seq % 11 = 0, NULL, CONCAT('line 1\nline\t2 "q" ''s'' \\ ', seq))
      FROM seq_1_to_${ROWS.customers};
      CREATE TABLE events (id BIGINT PRIMARY KEY, customer_id INT NOT NULL, kind VARCHAR(20), at DATETIME(3), payload TEXT,
        CONSTRAINT events_customer FOREIGN KEY (customer_id) REFERENCES customers (id)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
      INSERT INTO events SELECT seq, 1 + seq % ${ROWS.customers}, CONCAT('kind', seq % 7), TIMESTAMP'2026-01-01 00:00:00' - INTERVAL seq SECOND, REPEAT(MD5(seq), 3)
      FROM seq_1_to_${ROWS.events};
      CREATE TABLE logs (id INT PRIMARY KEY, at DATETIME NOT NULL, msg TEXT) ENGINE=InnoDB;
      INSERT INTO logs SELECT seq, NOW() - INTERVAL seq HOUR - INTERVAL 30 MINUTE, CONCAT('log ', seq) FROM seq_1_to_${ROWS.logs};
      CREATE TABLE sessions (id INT AUTO_INCREMENT PRIMARY KEY, token VARCHAR(64) NOT NULL) ENGINE=InnoDB;
      INSERT INTO sessions (token) SELECT MD5(seq) FROM seq_1_to_${ROWS.sessions};
      CREATE TABLE settings (id INT PRIMARY KEY, k VARCHAR(20) UNIQUE, v VARCHAR(20)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
      INSERT INTO settings VALUES (1, 'a', 'x'), (2, 'b', NULL), (3, 'ü', '😀');
      CREATE VIEW big_customers AS SELECT id, name FROM customers WHERE balance > 100;
      CREATE VIEW recent_events AS SELECT id, kind FROM events WHERE id > 4000;
      CREATE TRIGGER settings_touch BEFORE UPDATE ON settings FOR EACH ROW SET NEW.v = COALESCE(NEW.v, '');
      CREATE PROCEDURE count_customers() SELECT COUNT(*) FROM customers;
      CREATE EVENT purge_sessions ON SCHEDULE EVERY 1 DAY DISABLE DO DELETE FROM sessions WHERE id < 0;
    `,
      name,
    );
  },
  fingerprint: (database) => mariadbFingerprint(database),
  async objects(database) {
    const [r] = await mariadbAdmin(`SELECT CONCAT_WS(',',
      (SELECT COUNT(*) FROM information_schema.VIEWS WHERE TABLE_SCHEMA = '${database}'),
      (SELECT COUNT(*) FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = '${database}'),
      (SELECT COUNT(*) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = '${database}'),
      (SELECT COUNT(*) FROM information_schema.EVENTS WHERE EVENT_SCHEMA = '${database}'));`);
    return r![0]!;
  },
  async analyze(database) {
    await mariadbAdmin('ANALYZE TABLE customers, events, logs, sessions, settings;', database);
  },
  systemDatabase: 'mysql',
  version: /^MariaDB \d+\.\d+/,
  toolVersion: /(mariadb-dump|mysqldump).*\d+\.\d+/,
  brokenDump: { bytes: 'CREATE TABLE ok_so_far (id INT);\nTHIS IS NOT SQL;\n', code: 'RestoreFailed' },
  checksColumnType: true,
};

let sqliteFolder = '';
const sqliteConn = (): ServerConnection => ({
  engine: 'sqlite' as ServerConnection['engine'],
  host: sqliteFolder,
  port: undefined,
  user: '',
  password: undefined,
});

function sqliteRun<T>(database: string, fn: (db: DatabaseSync) => T): T {
  const db = new DatabaseSync(path.join(sqliteFolder, database));
  try {
    return fn(db);
  } finally {
    db.close();
  }
}

const sqliteHarness: Harness = {
  label: 'sqlite',
  engine: engineFor('sqlite'),
  get conn() {
    return sqliteConn();
  },
  async setUp() {
    sqliteFolder = await mkdtemp(path.join(os.tmpdir(), 'bp-sqlite-dbs-'));
  },
  async tearDown() {
    await rm(sqliteFolder, { recursive: true, force: true });
  },
  newName: () => `${uniqueName('bp_eng')}.db`,
  async createEmpty(name) {
    sqliteRun(name, (db) => db.exec('CREATE TABLE x (id INTEGER); DROP TABLE x;')); // writes the file header
  },
  async createFixture(name) {
    sqliteRun(name, (db) => {
      db.exec(`
        PRAGMA journal_mode = WAL;
        CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT NOT NULL, email TEXT, balance NUMERIC, score REAL, created_at TEXT,
          birthday TEXT, meta TEXT, avatar BLOB, note TEXT);
        CREATE TABLE events (id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL REFERENCES customers (id), kind TEXT, at TEXT, payload TEXT);
        CREATE TABLE logs (id INTEGER PRIMARY KEY, at, msg TEXT);
        CREATE TABLE sessions (id INTEGER PRIMARY KEY AUTOINCREMENT, token TEXT NOT NULL);
        CREATE TABLE settings (id INTEGER PRIMARY KEY, k TEXT UNIQUE, v TEXT);
        CREATE VIEW big_customers AS SELECT id, name FROM customers WHERE balance > 100;
        CREATE VIEW recent_events AS SELECT id, kind FROM events WHERE id > 4000;
        CREATE TRIGGER settings_touch AFTER UPDATE ON settings BEGIN SELECT 1; END;
        -- Would fill settings if leaving out the rows of events ran it.
        CREATE TRIGGER events_deleted AFTER DELETE ON events BEGIN INSERT INTO settings (k, v) VALUES ('deleted ' || old.id, 'x'); END;
        INSERT INTO settings VALUES (1, 'a', 'x'), (2, 'b', NULL), (3, 'ü', '😀');
      `);
      db.exec('BEGIN');
      const c = db.prepare('INSERT INTO customers VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)');
      for (let g = 1; g <= ROWS.customers; g++) {
        const avatar =
          g % 5 === 0 ? null : Buffer.concat([createHash('md5').update(String(g)).digest(), Buffer.from([0, 255, 0])]);
        c.run(
          g,
          `Zoë Ünïcødé ${g} 😀 日本語`,
          g % 7 === 0 ? null : `c${g}@example.test`,
          g * 1.25 - 1000,
          g / 3,
          new Date(Date.UTC(2026, 0, 1) - g * 3_607_000).toISOString(),
          `1990-01-${String(1 + (g % 28)).padStart(2, '0')}`,
          JSON.stringify({ tier: g % 3, tags: ['a', 'ü', g] }),
          avatar,
          g % 11 === 0 ? null : `line 1\nline\t2 "q" 's' \\ ${g}`,
        );
      }
      const e = db.prepare('INSERT INTO events VALUES (?, ?, ?, ?, ?)');
      for (let g = 1; g <= ROWS.events; g++)
        e.run(
          g,
          1 + (g % ROWS.customers),
          `kind${g % 7}`,
          new Date(Date.UTC(2026, 0, 1) - g * 1000).toISOString(),
          createHash('md5').update(String(g)).digest('hex').repeat(3),
        );
      // Three ways applications store a time: ISO text, Unix seconds, Unix milliseconds.
      const l = db.prepare('INSERT INTO logs VALUES (?, ?, ?)');
      for (let g = 1; g <= ROWS.logs; g++) {
        const at = Date.now() - g * 3_600_000 - 1_800_000;
        l.run(g, g % 3 === 0 ? new Date(at).toISOString() : g % 3 === 1 ? Math.floor(at / 1000) : at, `log ${g}`);
      }
      const s = db.prepare('INSERT INTO sessions (token) VALUES (?)');
      for (let g = 1; g <= ROWS.sessions; g++) s.run(createHash('md5').update(String(g)).digest('hex'));
      db.exec('COMMIT');
    });
  },
  async fingerprint(database) {
    return sqliteRun(database, sqliteFingerprint);
  },
  async objects(database) {
    return sqliteRun(database, (db) => {
      const r = db
        .prepare(
          `SELECT (SELECT count(*) FROM sqlite_schema WHERE type = 'view') || ',' || (SELECT count(*) FROM sqlite_schema WHERE type = 'trigger')
        || ',' || (SELECT seq FROM sqlite_sequence WHERE name = 'sessions') AS s`,
        )
        .get();
      return String(r!.s);
    });
  },
  async analyze(database) {
    sqliteRun(database, (db) => db.exec('ANALYZE'));
  },
  version: /^SQLite 3\.\d+/,
  toolVersion: /^node:sqlite 3\.\d+/,
  brokenDump: { bytes: 'SQLite format 3 but not really', code: 'BadDumpFile' },
  checksColumnType: false,
};

const hasCode = (code: string) => (e: unknown) => {
  assert.ok(e instanceof BackupError, `expected a BackupError, got ${String(e)}`);
  assert.equal(e.details.code, code, e.message);
  return true;
};

async function dumpToFile(
  engine: DatabaseEngine,
  conn: ServerConnection,
  database: string,
  excludeTableData: string[],
  file: string,
): Promise<number> {
  const dump = engine.dump(conn, database, { excludeTableData });
  await pipeline(dump.stdout, createWriteStream(file));
  await dump.done;
  return (await stat(file)).size;
}

let work = '';
before(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'bp-engines-'));
});
after(async () => {
  await rm(work, { recursive: true, force: true });
});

it('names every engine once, with mysql as another name for mariadb', () => {
  assert.equal(engineFor('mysql'), engines.mariadb);
  assert.deepEqual(
    [engineFor('postgresql').format, engineFor('mariadb').format, engineFor('sqlite').format],
    ['pgdump', 'sql', 'sqlite'],
  );
  assert.throws(() => engineFor('oracle'), hasCode('UnknownEngine'));
  assert.throws(() => engineFor('toString'), hasCode('UnknownEngine'));
});

it("keeps rows' values out of a tool's failure message", () => {
  const pg = [
    'pg_restore: error: could not execute query: ERROR:  invalid input syntax for type integer: "sk_live_1"',
    'CONTEXT:  COPY t, line 1, column n: "sk_live_2"',
    'Command was: COPY public.t (n) FROM stdin;',
    'pg_restore: error: COPY failed for table "t": ERROR:  duplicate key value violates unique constraint "t_pkey"',
    'DETAIL:  Key (email)=(sk_live_3@example.com) already exists.',
    'LINE 1: select sk_live_4',
    '               ^',
  ].join('\n');
  const kept = withoutRowData(pg);
  assert.doesNotMatch(kept, /sk_live/);
  assert.match(kept, /duplicate key value violates unique constraint "t_pkey"/);
  assert.match(kept, /Command was: COPY public.t/);
  const my = withoutRowData(
    "ERROR 1062 (23000) at line 42: Duplicate entry 'sk_live_5' for key 'email'\nERROR 1064 (42000) at line 7: syntax error near 'sk_live_6', 'x')' at line 1\nERROR 1366 (22007) at line 9: Incorrect integer value: 'sk_live_7' for column `shop`.`t`.`n` at row 1",
  );
  assert.doesNotMatch(my, /sk_live/);
  assert.match(my, /Duplicate entry '…' for key 'email'/);
});

it('says which PostgreSQL tool is too old, instead of retrying or blaming the backup', () => {
  const conn: ServerConnection = { engine: 'postgresql', host: 'db', port: 5432, user: 'backup', password: undefined };
  const dump = classifyPgError(
    'pg_dump: error: aborting because of server version mismatch\npg_dump: detail: server version: 17.2; pg_dump version: 15.10',
    conn,
    'shop',
  );
  assert.equal(dump.details.code, 'DumpToolTooOld');
  assert.equal(dump.retryable, false);
  const restore = classifyPgError('pg_restore: error: unsupported version (1.16) in file header', conn, 'shop');
  assert.equal(restore.details.code, 'RestoreToolTooOld');
  assert.match(restore.message, /install newer PostgreSQL client tools at the site/);
});

for (const h of [postgresHarness, mariadbHarness, sqliteHarness]) {
  describe(`${h.label} engine`, () => {
    const source = h.newName();
    const made: string[] = [source];
    const fresh = () => {
      const n = h.newName();
      made.push(n);
      return n;
    };
    let original: Record<string, string>;
    let originalObjects: string;
    let fullDump: string;
    let fullDumpSize: number;
    let restored: string;

    before(async () => {
      await h.setUp?.();
      await h.createFixture(source);
      original = await h.fingerprint(source);
      originalObjects = await h.objects(source);
      fullDump = path.join(work, `${h.label}-full.${h.engine.format}`);
    });
    after(async () => {
      for (const n of made) await h.engine.dropDatabase(h.conn, n);
      await h.tearDown?.();
    });

    it('dumps and restores into a new name with the same rows, bytes and objects', async (t) => {
      assert.deepEqual(
        Object.fromEntries(Object.entries(original).map(([k, v]) => [k, Number(v.split(':')[0])])),
        ROWS,
        'the fixture is as planned',
      );
      assert.equal(
        new Set(Object.values(original).map((v) => v.split(':')[1])).size,
        Object.keys(ROWS).length,
        'every table hashes to its own value',
      );
      let started = Date.now();
      fullDumpSize = await dumpToFile(h.engine, h.conn, source, [], fullDump);
      t.diagnostic(`dump: ${fullDumpSize} bytes in ${Date.now() - started} ms`);
      restored = fresh();
      started = Date.now();
      await h.engine.restore(h.conn, restored, createReadStream(fullDump), { into: 'new' });
      t.diagnostic(`restore: ${Date.now() - started} ms`);
      assert.deepEqual(await h.fingerprint(restored), original);
      assert.equal(await h.objects(restored), originalObjects);
      const counts = await h.engine.tableRowCounts(h.conn, restored);
      assert.deepEqual(Object.fromEntries(counts.map((c) => [c.table.replace(/^public\./, ''), c.rows])), ROWS);
      assert.ok(counts.every((c) => c.exact));
    });

    it('restores into an existing empty database, and refuses to create one that exists or fill one that does not', async () => {
      const empty = fresh();
      await h.createEmpty(empty);
      assert.equal(await h.engine.hasTables(h.conn, empty), false);
      await h.engine.restore(h.conn, empty, createReadStream(fullDump), { into: 'existing' });
      assert.equal(await h.engine.hasTables(h.conn, empty), true);
      assert.deepEqual(await h.fingerprint(empty), original);

      await assert.rejects(
        h.engine.restore(h.conn, source, createReadStream(fullDump), { into: 'new' }),
        hasCode('DatabaseExists'),
      );
      assert.deepEqual(await h.fingerprint(source), original, 'the existing database is untouched');
      const missing = h.newName();
      await assert.rejects(
        h.engine.restore(h.conn, missing, createReadStream(fullDump), { into: 'existing' }),
        hasCode('DatabaseNotFound'),
      );
      assert.equal(await h.engine.databaseExists(h.conn, missing), false);
    });

    it('a broken dump fails without retry and leaves no database behind', async () => {
      const target = fresh();
      await assert.rejects(
        h.engine.restore(h.conn, target, Readable.from([Buffer.from(h.brokenDump.bytes)]), { into: 'new' }),
        (e: unknown) => {
          hasCode(h.brokenDump.code)(e);
          return !(e as BackupError).retryable;
        },
      );
      assert.equal(await h.engine.databaseExists(h.conn, target), false);
    });

    it('replaces a database that has tables; a replace that fails leaves the old one as it was (MariaDB cannot)', async () => {
      // A restore of its own: other test files restore on the same server at the same time, with their own staging.
      const owner = ownerOf(randomUUID());
      const staging = async () =>
        (await h.engine.listDatabases(h.conn)).filter((n) => n.startsWith(`bp_restore_${owner.tag}_`));
      // Other content first: the fixture without the rows of events.
      const partial = path.join(work, `${h.label}-replace.${h.engine.format}`);
      await dumpToFile(h.engine, h.conn, source, await h.engine.resolveTables(h.conn, source, ['events']), partial);
      const target = fresh();
      await h.engine.restore(h.conn, target, createReadStream(partial), { into: 'new' });
      const before = await h.fingerprint(target);
      assert.equal(before.events?.split(':')[0], '0');

      await assert.rejects(
        h.engine.restore(h.conn, target, Readable.from([Buffer.from(h.brokenDump.bytes)]), { into: 'replace', owner }),
        hasCode(h.brokenDump.code),
      );
      if (h.label === 'mariadb') {
        // No database rename and DDL that commits as it goes: MariaDB's replace drops the old database first.
        assert.equal(await h.engine.databaseExists(h.conn, target), false);
        await h.engine.restore(h.conn, target, createReadStream(partial), { into: 'new' });
      } else {
        assert.deepEqual(await h.fingerprint(target), before, 'the failed replace left the old database as it was');
      }

      await h.engine.restore(h.conn, target, createReadStream(fullDump), { into: 'replace', owner });
      assert.deepEqual(await h.fingerprint(target), original);
      assert.equal(await h.objects(target), originalObjects);
      assert.deepEqual(await staging(), [], 'no database left from the replace');

      if (h.label === 'postgresql') {
        // A login that may restore (it creates databases) but not drop the one it replaces: the old one stays as it
        // was, and the restored copy made beside it goes too, or every retry would leave one more.
        const role = uniqueName('bp_r');
        await pgRun('postgres', (sql) => sql.unsafe(`create role ${role} login createdb`));
        try {
          const limited = { ...h.conn, user: role };
          await assert.rejects(
            h.engine.restore(limited, target, createReadStream(partial), { into: 'replace', owner }),
            hasCode('PermissionDenied'),
          );
          assert.deepEqual(await h.fingerprint(target), original, 'the old database is as it was');
          assert.deepEqual(await staging(), [], 'no restored copy left aside');
        } finally {
          await pgRun('postgres', (sql) => sql.unsafe(`drop role if exists ${role}`));
        }
      }
    });

    it('a cancelled restore stops and removes the database it created', async () => {
      const target = fresh();
      const head = Buffer.alloc(64 * 1024);
      const fd = await open(fullDump, 'r');
      await fd.read(head, 0, head.length, 0);
      await fd.close();
      // The first bytes of a real dump, then a reader that waits for more: the restore is underway when cancelled.
      const input = new PassThrough();
      input.write(head);
      const abort = new AbortController();
      const restoring = h.engine.restore(h.conn, target, input, { into: 'new', signal: abort.signal });
      setTimeout(() => abort.abort(new Error('cancelled by the test')), 300);
      await assert.rejects(restoring);
      assert.equal(await h.engine.databaseExists(h.conn, target), false);
      if (h.label === 'sqlite')
        assert.deepEqual(
          (await readdir(sqliteFolder)).filter((n) => n.includes('.restore-')),
          [],
          'no temporary file left',
        );
    });

    it('leaves the rows of excluded tables out but keeps their schema', async (t) => {
      const excluded = await h.engine.resolveTables(h.conn, source, ['events']);
      assert.equal(excluded.length, 1);
      const file = path.join(work, `${h.label}-excl.${h.engine.format}`);
      const size = await dumpToFile(h.engine, h.conn, source, excluded, file);
      t.diagnostic(`dump without events: ${size} bytes (full: ${fullDumpSize})`);
      assert.ok(size < fullDumpSize, 'smaller than the full dump');
      const target = fresh();
      await h.engine.restore(h.conn, target, createReadStream(file), { into: 'new' });
      const got = await h.fingerprint(target);
      assert.equal(got.events?.split(':')[0], '0', 'no rows');
      assert.deepEqual(
        { ...got, events: undefined },
        { ...original, events: undefined },
        'every other table as it was',
      );
      assert.equal(await h.objects(target), originalObjects, 'views on the excluded table restore too');
    });

    it('runs a drill assertion as one read-only statement, and keeps text values at the site', async () => {
      assert.deepEqual(await assertionHolds(h.conn, source, 'select count(*) > 0 from customers'), {
        ok: true,
        value: h.label === 'postgresql' ? 'true' : '1',
      });
      const text = await assertionHolds(h.conn, source, "select 'sk_live_not_for_the_api'");
      assert.equal(text.ok, false);
      assert.equal(text.value, 'a value of 23 characters (not shown)');
      // A second statement could end the read-only transaction and write: refused, and nothing written.
      // (The MariaDB client also reads `\g` as the end of a statement, and `\!` as a shell command.)
      for (const sql of [
        'select 1; commit; create table bp_escaped (a int)',
        'select 1 \\g commit \\g create table bp_escaped (a int)',
      ]) {
        const escape = assertionHolds(h.conn, source, sql);
        if (h.label === 'sqlite') await escape.catch(() => undefined);
        else await assert.rejects(escape, hasCode('AssertionInvalid'), sql);
      }
      assert.ok(
        !(await h.engine.tableRowCounts(h.conn, source)).some((t) => t.table.endsWith('bp_escaped')),
        'no table was created',
      );
    });

    it('refuses unknown tables and databases with a code that says what to fix', async () => {
      await assert.rejects(
        h.engine.resolveTables(h.conn, source, ['events', 'no_such_table']),
        hasCode('TableNotFound'),
      );
      await assert.rejects(
        h.engine.resolveTables(h.conn, source, ['bad name; drop table customers']),
        hasCode('TableNotFound'),
      );
      assert.equal((await h.engine.resolveTables(h.conn, source, ['customers', 'settings'])).length, 2);
      const missing = h.newName();
      await assert.rejects(h.engine.resolveTables(h.conn, missing, []), hasCode('DatabaseNotFound'));
      const dump = h.engine.dump(h.conn, missing, { excludeTableData: [] });
      dump.stdout.resume();
      await assert.rejects(dump.done, hasCode('DatabaseNotFound'));
    });

    it('stops a dump when told to', async () => {
      const dump = h.engine.dump(h.conn, source, { excludeTableData: [] });
      dump.stdout.resume();
      dump.kill();
      await assert.rejects(dump.done, hasCode('DumpAborted'));
    });

    it('answers catalogue questions', async (t) => {
      const list = await h.engine.listDatabases(h.conn);
      assert.ok(list.includes(source) && list.includes(restored), 'lists the databases');
      if (h.systemDatabase) assert.ok(!list.includes(h.systemDatabase), 'without the system ones');
      assert.equal(await h.engine.databaseExists(h.conn, source), true);
      assert.equal(await h.engine.databaseExists(h.conn, h.newName()), false);
      assert.equal(await h.engine.hasTables(h.conn, source), true);
      await h.analyze(source); // MariaDB's sizes and all row estimates come from statistics
      const size = await h.engine.estimateSize(h.conn, source);
      assert.ok(size > 200_000 && size < 200_000_000, `size ${size}`);
      const [version, tool] = [await h.engine.serverVersion(h.conn), await h.engine.dumpToolVersion()];
      assert.match(version, h.version);
      assert.match(tool, h.toolVersion);
      t.diagnostic(`${version}; ${tool}; ${size} bytes`);

      const counts = await h.engine.tableRowCounts(h.conn, source, { exactBelowRows: 1000 });
      const by = Object.fromEntries(counts.map((c) => [c.table.replace(/^public\./, ''), c]));
      assert.deepEqual(by.settings, { table: by.settings!.table, rows: 3, exact: true });
      for (const big of ['customers', 'events'] as const) {
        assert.equal(by[big]!.exact, false, `${big} is estimated`);
        assert.ok(
          by[big]!.rows > ROWS[big] / 2 && by[big]!.rows < ROWS[big] * 2,
          `${big}: estimate ${by[big]!.rows} near ${ROWS[big]}`,
        );
      }
    });

    it('cleaning a table another session is using gives up after lockTimeoutSeconds, to be retried later', async (t) => {
      if (h.label === 'sqlite') return t.skip('SQLite waits on its busy timeout instead');
      const release = await holdTable(h.label, source, 'sessions');
      try {
        const busy = (e: unknown) => {
          hasCode('TableBusy')(e);
          return (e as BackupError).retryable && /in use by another session/.test((e as Error).message);
        };
        await assert.rejects(
          h.engine.truncateTables!({ ...h.conn, lockTimeoutSeconds: 1 }, source, ['sessions']),
          busy,
        );
        assert.equal((await h.fingerprint(source)).sessions, original.sessions, 'nothing emptied');
      } finally {
        await release();
      }
    });

    it('empties tables and counts what it removed, all or nothing', async () => {
      const run = h.engine.truncateTables!.bind(h.engine);
      await assert.rejects(run(h.conn, source, ['sessions', 'no_such_table']), hasCode('TableNotFound'));
      assert.equal(
        (await h.fingerprint(source)).sessions,
        original.sessions,
        'nothing emptied when one table is unknown',
      );
      await assert.rejects(run(h.conn, source, ['customers']), hasCode('ForeignKeyViolation'));
      assert.equal((await h.fingerprint(source)).customers, original.customers, 'a referenced table stays');

      assert.equal(await run(h.conn, source, ['sessions']), ROWS.sessions);
      assert.equal((await h.fingerprint(source)).sessions?.split(':')[0], '0');
      assert.equal(await run(h.conn, source, ['sessions']), 0, 'idempotent');
      // Together with the table that references it, it can go.
      assert.equal(await run(h.conn, restored, ['customers', 'events']), ROWS.customers + ROWS.events);
      const after = await h.fingerprint(restored);
      assert.deepEqual(
        [after.customers?.split(':')[0], after.events?.split(':')[0], after.settings],
        ['0', '0', original.settings],
      );
    });

    it('deletes rows older than a number of days', async () => {
      const run = h.engine.deleteOlderThan!.bind(h.engine);
      await assert.rejects(run(h.conn, source, 'logs', 'no_such_column', 30), hasCode('ColumnNotFound'));
      await assert.rejects(run(h.conn, source, 'no_such_table', 'at', 30), hasCode('TableNotFound'));
      await assert.rejects(
        run(h.conn, source, 'logs', 'at', -1),
        (e: unknown) => e instanceof BackupError && e.kind === 'invalid',
      );
      if (h.checksColumnType)
        await assert.rejects(run(h.conn, source, 'logs', 'msg', 30), hasCode('ColumnNotTimestamp'));
      assert.equal(await run(h.conn, source, 'logs', 'at', 30), LOGS_OLDER_THAN_30_DAYS);
      assert.equal(await run(h.conn, source, 'logs', 'at', 30), 0, 'idempotent');
      assert.equal((await h.fingerprint(source)).logs?.split(':')[0], String(ROWS.logs - LOGS_OLDER_THAN_30_DAYS));
    });

    if (h.label !== 'sqlite') {
      it('reports a server that does not answer as unavailable, so the run is retried', async () => {
        const conn = { ...h.conn, port: await freePort() };
        await assert.rejects(
          h.engine.resolveTables(conn, source, []),
          (e: unknown) => e instanceof BackupError && e.kind === 'unavailable' && e.retryable,
        );
        const dump = h.engine.dump(conn, source, { excludeTableData: [] });
        dump.stdout.resume();
        await assert.rejects(dump.done, (e: unknown) => e instanceof BackupError && e.kind === 'unavailable');
      });
    }
  });
}

describe('mariadb logins', () => {
  let db: string;
  let user: Awaited<ReturnType<typeof createMariadbUser>>;
  before(async () => {
    db = uniqueName('bp_eng');
    await mariadbAdmin(
      `CREATE DATABASE \`${db}\`; CREATE TABLE \`${db}\`.t (id INT PRIMARY KEY, v TEXT); INSERT INTO \`${db}\`.t VALUES (1, 'one');`,
    );
    user = await createMariadbUser([db]);
  });
  after(async () => {
    await user?.drop();
    await engines.mariadb.dropDatabase(mariadbConn(), db);
  });

  it('accepts a password full of quoting characters and refuses a wrong one as AuthenticationFailed', async () => {
    const good = mariadbConn({ user: user.user, password: user.password });
    assert.deepEqual(await engines.mariadb.resolveTables(good, db, ['t']), ['t']);
    const file = path.join(work, 'login.sql');
    await dumpToFile(engines.mariadb, good, db, [], file);

    const bad = mariadbConn({ user: user.user, password: `${user.password}x` });
    await assert.rejects(
      engines.mariadb.resolveTables(bad, db, []),
      (e: unknown) => hasCode('AuthenticationFailed')(e) && (e as BackupError).kind === 'auth',
    );
    const dump = engines.mariadb.dump(bad, db, { excludeTableData: [] });
    dump.stdout.resume();
    await assert.rejects(dump.done, hasCode('AuthenticationFailed'));
    await assert.rejects(
      engines.mariadb.restore(bad, db, createReadStream(file), { into: 'existing' }),
      hasCode('AuthenticationFailed'),
    );
    await assert.rejects(engines.mariadb.listDatabases(bad), hasCode('AuthenticationFailed'));
  });

  it('leaves no login file behind', async () => {
    const before = (await readdir(os.tmpdir())).filter((n) => n.startsWith('bp-my-'));
    await engines.mariadb.serverVersion(mariadbConn());
    const dump = engines.mariadb.dump(mariadbConn(), db, { excludeTableData: [] });
    dump.stdout.resume();
    await dump.done;
    const after = (await readdir(os.tmpdir())).filter((n) => n.startsWith('bp-my-'));
    assert.deepEqual(
      after.filter((n) => !before.includes(n)),
      [],
    );
  });
});

describe('sqlite files', () => {
  let folder: string;
  const conn = () => ({ ...sqliteConn(), host: folder });
  before(async () => {
    folder = await mkdtemp(path.join(os.tmpdir(), 'bp-sqlite-own-'));
  });
  after(async () => {
    await rm(folder, { recursive: true, force: true });
  });

  it('copies only what is committed while another connection is writing', async () => {
    const live = new DatabaseSync(path.join(folder, 'live.db'));
    live.exec(
      "PRAGMA journal_mode = WAL; CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT); INSERT INTO t VALUES (1, 'committed');",
    );
    const writer = new DatabaseSync(path.join(folder, 'live.db'));
    try {
      writer.exec("BEGIN IMMEDIATE; INSERT INTO t VALUES (2, 'in flight');");
      const file = path.join(folder, '.live.dump');
      await dumpToFile(engines.sqlite, conn(), 'live.db', [], file);
      writer.exec('ROLLBACK');
      await engines.sqlite.restore(conn(), 'copy.db', createReadStream(file), { into: 'new' });
      const copy = new DatabaseSync(path.join(folder, 'copy.db'));
      assert.deepEqual(
        copy
          .prepare('SELECT id, v FROM t')
          .all()
          .map((r) => ({ ...r })),
        [{ id: 1, v: 'committed' }],
      );
      copy.close();
    } finally {
      writer.close();
      live.close();
    }
    assert.deepEqual(
      (await readdir(folder)).filter((n) => n.includes('restore')),
      [],
      'no temporary file left',
    );
  });

  it('keeps database names inside its folder and says when the folder is missing', async () => {
    for (const name of ['../escape.db', '/etc/passwd', '.hidden.db', 'x.db-wal', '']) {
      await assert.rejects(engines.sqlite.resolveTables(conn(), name, []), hasCode('DatabaseNotFound'), name);
    }
    await assert.rejects(
      engines.sqlite.listDatabases({ ...conn(), host: path.join(folder, 'nope') }),
      hasCode('FolderNotFound'),
    );
    await assert.rejects(engines.sqlite.resolveTables(conn(), 'missing.db', []), hasCode('DatabaseNotFound'));
    assert.deepEqual(
      await readdir(folder).then((n) => n.includes('missing.db')),
      false,
      'looking does not create the file',
    );
  });
});

/** Keeps `table` in use from another session (a reader in an open transaction) until the returned function is called. */
async function holdTable(engine: string, database: string, table: string): Promise<() => Promise<void>> {
  if (engine === 'postgresql') {
    const sql = postgres(pgUrl(database), { max: 1, onnotice: () => {} });
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    let held!: () => void;
    const holding = new Promise<void>((r) => (held = r));
    const tx = sql.begin(async (q) => {
      await q.unsafe(`lock table ${table} in access share mode`);
      held();
      await released;
    });
    await holding;
    return async () => {
      release();
      await tx;
      await sql.end();
    };
  }
  // MariaDB: a query that reads the table for a while holds its metadata lock.
  const marker = `bp_hold_${randomUUID().slice(0, 8)}`;
  const query = mariadbAdmin(`SELECT SLEEP(60) AS ${marker} FROM \`${table}\` LIMIT 1;`, database).catch(
    () => undefined,
  );
  const running = async () =>
    (
      await mariadbAdmin(
        `SELECT ID FROM information_schema.PROCESSLIST WHERE INFO LIKE '%${marker}%' AND INFO NOT LIKE '%PROCESSLIST%';`,
      )
    ).map((r) => r[0]);
  for (let i = 0; i < 200 && (await running()).length === 0; i++) await new Promise((r) => setTimeout(r, 50));
  return async () => {
    for (const id of await running()) await mariadbAdmin(`KILL ${id};`).catch(() => undefined);
    await query;
  };
}
