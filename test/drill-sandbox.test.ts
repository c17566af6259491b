// Issue 16: drill assertions are a tenant's SQL. The site's login here is a superuser (PostgreSQL's postgres,
// MariaDB's root), so each escape below would work if the assertion ran as that login; under the drill's own login
// each fails, leaves nothing behind, and its error says no value.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import postgres from 'postgres';
import { assertionHolds } from '../activities/engines/assertions.ts';
import type { ServerConnection } from '../activities/site-config.ts';
import { createTempDatabase, PG_HOST, PG_PORT, PG_USER } from '../ops/services/pg.ts';
import { createTempMariadbDatabase, mariadbAdmin, mariadbConn } from './helpers/mariadb.ts';

const SECRET = 'canary-7f3a-not-for-the-api';
const rejectsQuietly = async (p: Promise<unknown>, what: string) =>
  assert.rejects(
    p,
    (err: any) =>
      err.details?.code === 'AssertionInvalid' &&
      !String(err.message).includes(SECRET) &&
      !/root:x:0/.test(err.message),
    what,
  );

describe('drill assertions cannot leave the database they check (issue 16)', () => {
  const marker = path.join(os.tmpdir(), `bp-drill-escape-${process.pid}`);
  after(() => rm(marker, { force: true }));

  describe('PostgreSQL', () => {
    let db: Awaited<ReturnType<typeof createTempDatabase>>;
    const conn: ServerConnection = {
      engine: 'postgresql',
      host: PG_HOST,
      port: PG_PORT,
      user: PG_USER,
      password: undefined,
    };
    before(async () => {
      db = await createTempDatabase('bp_drill');
      const sql = postgres(db.url, { onnotice: () => {} });
      await sql.unsafe(`create table secrets (v text); insert into secrets values ('${SECRET}')`);
      await sql.end();
    });
    after(() => db?.drop());

    it('reads the restored tables', async () => {
      assert.deepEqual(await assertionHolds(conn, db.name, 'select count(*) = 1 from secrets'), {
        ok: true,
        value: 'true',
      });
    });

    it('cannot run a program, read or write a file, take a superuser role, or echo a value in an error', async () => {
      await rejectsQuietly(assertionHolds(conn, db.name, `copy (select 1) to program 'touch ${marker}'`), 'program');
      await rejectsQuietly(assertionHolds(conn, db.name, `copy (select 1) to '${marker}'`), 'file write');
      await rejectsQuietly(assertionHolds(conn, db.name, "select pg_read_file('/etc/passwd') is not null"), 'read');
      await rejectsQuietly(assertionHolds(conn, db.name, "select pg_ls_dir('/') is not null"), 'list');
      await rejectsQuietly(assertionHolds(conn, db.name, "select set_config('role', 'postgres', false) = ''"), 'role');
      await rejectsQuietly(assertionHolds(conn, db.name, 'select v::int > 0 from secrets'), 'value echo');
      assert.equal(existsSync(marker), false, 'no file was written');
    });

    it('leaves no drill role behind', async () => {
      const sql = postgres({ host: PG_HOST, port: PG_PORT, user: PG_USER, database: 'postgres', onnotice: () => {} });
      const [row] = await sql`select count(*)::int as n from pg_roles where rolname like 'bp_drill_%'`;
      await sql.end();
      assert.equal(row!.n, 0);
    });
  });

  describe('MariaDB', () => {
    let db: Awaited<ReturnType<typeof createTempMariadbDatabase>>;
    const conn = mariadbConn();
    before(async () => {
      db = await createTempMariadbDatabase('bp_drill');
      await mariadbAdmin(`create table secrets (v text); insert into secrets values ('${SECRET}');`, db.name);
    });
    after(() => db?.drop());

    it('reads the restored tables', async () => {
      assert.deepEqual(await assertionHolds(conn, db.name, 'select count(*) = 1 from secrets'), {
        ok: true,
        value: '1',
      });
    });

    it('cannot write a file, read one, reach another database, or echo a value in an error', async () => {
      await rejectsQuietly(assertionHolds(conn, db.name, `select 1 into outfile '${marker}'`), 'into outfile');
      await rejectsQuietly(
        assertionHolds(conn, db.name, `select v from secrets into dumpfile '${marker}'`),
        'dumpfile',
      );
      const read = await assertionHolds(conn, db.name, "select load_file('/etc/passwd') is not null");
      assert.equal(read.ok, false, 'load_file gives nothing without FILE');
      await rejectsQuietly(assertionHolds(conn, db.name, 'select count(*) > 0 from mysql.user'), 'another database');
      await rejectsQuietly(
        assertionHolds(conn, db.name, `select * from secrets where v = (select 1 union select 2)`),
        'error',
      );
      assert.equal(existsSync(marker), false, 'no file was written');
    });

    it('leaves no drill user behind', async () => {
      const rows = await mariadbAdmin("select count(*) from mysql.user where user like 'bp\\_drill\\_%'");
      assert.equal(rows[0]?.[0], '0');
    });
  });
});
