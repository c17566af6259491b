// Issue 20, PostgreSQL globals: a configuration with `globals` dumps the server's roles, memberships, role settings,
// tablespaces and database grants beside its dumps (a history row of kind `globals`, copied and retained like a
// dump); a restore with `applyGlobals` makes the roles again and keeps owners and privileges. Role password hashes
// only when asked, and only into encrypted backups.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import { after, before, describe, it } from 'node:test';
import { createZstdDecompress } from 'node:zlib';
import postgres from 'postgres';
import { applyPgDatabase, applyPgRoles } from '../activities/engines/postgres-globals-apply.ts';
import { GLOBALS_FORMAT, parsePgGlobals, type PgGlobals } from '../activities/engines/postgres-globals.ts';
import { openSealed } from '../activities/pipeline/envelope.ts';
import type { ServerConnection } from '../activities/site-config.ts';
import { createTempDatabase, pgUrl, startPrivatePostgres, type PrivatePostgres } from '../ops/services/pg.ts';
import { createConfig, runNowAndWait } from './helpers/fixtures.ts';
import { historyText, setUpEngineSite, siteKeyOf, type EngineSite } from './helpers/engine-sites.ts';
import { settleAll, signup, startStack, waitFor, type Stack } from './helpers/stack.ts';

type Api = Stack['api'];

describe('PostgreSQL globals: roles, memberships and grants backed up and applied on restore', () => {
  let stack: Stack;
  let pg: PrivatePostgres;
  let token: string;
  let site: EngineSite;
  const masterKey = randomBytes(32);
  const backupsDir = () => path.join(stack.tmp, 'globals-site');
  const cleanups: (() => Promise<unknown>)[] = [];

  const admin = (database = 'postgres') =>
    postgres(pgUrl(database, pg.port, pg.user, pg.password), { max: 1, onnotice: () => {} });
  /** Runs SQL as the cluster's superuser, in `database`. */
  async function su<T>(fn: (sql: postgres.Sql) => Promise<T>, database = 'postgres'): Promise<T> {
    const sql = admin(database);
    try {
      return await fn(sql);
    } finally {
      await sql.end();
    }
  }
  const dropDatabase = (name: string) => su((sql) => sql.unsafe(`drop database if exists "${name}" with (force)`));
  const dropRoles = (names: string[]) =>
    su(async (sql) => {
      for (const n of names) await sql.unsafe(`drop role if exists "${n}"`);
    });

  before(async () => {
    await settleAll([startStack().then((x) => (stack = x)), startPrivatePostgres().then((x) => (pg = x))]);
    ({ token } = await signup(stack));
    site = await setUpEngineSite(stack, token, {
      backupsDir: backupsDir(),
      encryption: { key: masterKey.toString('hex') },
      servers: {
        pg: { engine: 'postgresql', host: '127.0.0.1', port: pg.port, user: pg.user, password: pg.password },
      },
      destinations: { nas: { type: 'local', path: path.join(stack.tmp, 'globals-nas') } },
    });
  });
  after(async () => {
    // Roles are the cluster's: each test's go even when it failed half way (the private cluster goes after).
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
    await pg?.stop();
    await stack?.stop();
  });

  /** A database whose table belongs to `owner`, `reader` may read it (and connect), and `reader` is in `group`. */
  async function sourceWithRoles(uniq: string) {
    const roles = {
      owner: `bp_owner_${uniq}`,
      reader: `bp_reader_${uniq}`,
      group: `bp_group_${uniq}`,
    };
    const readerPassword = `pw-${randomBytes(8).toString('hex')}`;
    cleanups.push(() => dropRoles([roles.reader, roles.group, roles.owner]));
    await su(async (sql) => {
      await sql.unsafe(`create role "${roles.owner}" nologin`);
      await sql.unsafe(`create role "${roles.group}" nologin`);
      await sql.unsafe(`create role "${roles.reader}" login password '${readerPassword}' connection limit 5`);
      await sql.unsafe(`grant "${roles.group}" to "${roles.reader}"`);
      await sql.unsafe(`alter role "${roles.reader}" set statement_timeout = '5s'`);
    });
    const db = await createTempDatabase('bp_glob', pg.port, pg.user, pg.password);
    cleanups.push(() => dropDatabase(db.name));
    await su(async (sql) => {
      await sql.unsafe(`alter database "${db.name}" owner to "${roles.owner}"`);
      await sql.unsafe(`revoke all on database "${db.name}" from public`);
      await sql.unsafe(`grant connect on database "${db.name}" to "${roles.reader}"`);
      await sql.unsafe(`alter database "${db.name}" set work_mem = '7MB'`);
    });
    await su(async (sql) => {
      await sql.unsafe(`create table items (id int primary key, name text);
        insert into items select g, 'item ' || g from generate_series(1, 25) g;
        alter table items owner to "${roles.owner}";
        grant select on items to "${roles.reader}";`);
    }, db.name);
    return { db, roles, readerPassword };
  }

  /** What the restore must bring back, read from the catalogue of `database`. */
  async function catalogue(database: string, roles: { owner: string; reader: string; group: string }) {
    return su(async (sql) => {
      const [t] = await sql<{ owner: string }[]>`select tableowner as owner from pg_tables where tablename = 'items'`;
      const [p] = await sql<{ select: boolean }[]>`
        select has_table_privilege(${roles.reader}, 'public.items', 'SELECT') as select`;
      const [d] = await sql<{ owner: string; acl: string[] | null; settings: string[] | null }[]>`
        select pg_get_userbyid(d.datdba) as owner, d.datacl::text[] as acl,
               (select setconfig from pg_db_role_setting s where s.setrole = 0 and s.setdatabase = d.oid) as settings
        from pg_database d where datname = ${database}`;
      const [n] = await sql<{ n: number }[]>`select count(*)::int as n from items`;
      return { tableOwner: t?.owner, readerSelects: p?.select, database: d!, rows: n!.n };
    }, database);
  }

  const roleFacts = (roles: { owner: string; reader: string; group: string }) =>
    su(async (sql) => {
      const found = await sql<{ name: string; login: boolean; connlimit: number; config: string[] | null }[]>`
        select rolname as name, rolcanlogin as login, rolconnlimit as connlimit, rolconfig as config
        from pg_roles where rolname in (${roles.owner}, ${roles.reader}, ${roles.group}) order by rolname`;
      const [m] = await sql<{ n: number }[]>`
        select count(*)::int as n from pg_auth_members a
        where a.roleid = (select oid from pg_roles where rolname = ${roles.group})
          and a.member = (select oid from pg_roles where rolname = ${roles.reader})`;
      const [pw] = await sql<{ set: boolean }[]>`
        select rolpassword is not null as set from pg_authid where rolname = ${roles.reader}`;
      return { roles: found, member: m!.n === 1, readerHasPassword: pw?.set };
    });

  async function restoreAndWait(api: Api, body: Record<string, unknown>) {
    const started = await api('POST', '/api/v1/restores', { token, body });
    assert.equal(started.status, 202, JSON.stringify(started.body));
    await stack.temporal.client.workflow
      .getHandle(started.body.workflowId)
      .result()
      .catch(() => undefined);
    return (await api('GET', `/api/v1/restores/${started.body.id}`, { token })).body;
  }

  async function globalsRows(configId: string) {
    const res = await stack.api('GET', `/api/v1/backups?configId=${configId}&kind=globals`, { token });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    return res.body.items as any[];
  }

  /** The globals file at the site, decrypted (with the tenant key) and decompressed. */
  async function globalsDocument(row: any): Promise<{ text: string; json: any }> {
    const bytes = await readFile(path.join(backupsDir(), siteKeyOf(row)));
    const steps = [...(row.encrypted ? [openSealed(masterKey)] : []), createZstdDecompress()];
    const out = steps.reduce<NodeJS.ReadableStream>((from, s) => from.pipe(s), Readable.from([bytes]));
    const body = await text(out as Readable);
    return { text: body, json: JSON.parse(body) };
  }

  it('a whole-server restore with applyGlobals brings back the roles, memberships, owner and grants', async () => {
    const uniq = randomBytes(5).toString('hex');
    const { db, roles } = await sourceWithRoles(uniq);
    const config = await createConfig(stack, token, {
      serverId: site.servers.pg!.id,
      databases: [db.name],
      globals: {},
      keepLocal: 5,
      destinations: [{ destinationId: site.destinations.nas!.id, retention: { keepLast: 5 } }],
    });
    assert.deepEqual(config.globals, { rolePasswords: false });
    const [backup] = (await runNowAndWait(stack, token, config.id)) as any[];
    assert.equal(backup.status, 'succeeded', backup.error);

    // The globals are a row of their own in the run, with a file copied to the destination like the dump.
    const [g] = await globalsRows(config.id);
    assert.ok(g, 'a globals row');
    assert.equal(g.status, 'succeeded', g.error);
    assert.equal(g.runId, backup.runId);
    assert.equal(g.database, '@globals');
    assert.match(g.fileName, /^@globals_\d{8}_\d{6}_[0-9a-f]{8}\.json\.zst$/);
    const copies = (await stack.api('GET', `/api/v1/backups/${g.id}/copies`, { token })).body.items as any[];
    assert.deepEqual(copies.map((c) => `${c.target}:${c.state}`).sort(), ['nas:stored', 'site:stored']);
    // The default listing is the databases' backups only.
    const listed = (await stack.api('GET', `/api/v1/backups?configId=${config.id}`, { token })).body.items as any[];
    assert.deepEqual(
      listed.map((r) => r.database),
      [db.name],
    );

    // No password hash in the file unless the configuration asks for one (the reader has a password).
    const doc = await globalsDocument(g);
    assert.ok(doc.json.roles.some((r: any) => r.name === roles.reader));
    assert.equal(doc.json.rolePasswords, false);
    assert.doesNotMatch(doc.text, /SCRAM-SHA-256|md5[0-9a-f]{32}|"password"/);

    const before = await catalogue(db.name, roles);
    assert.equal(before.tableOwner, roles.owner);
    assert.equal(before.readerSelects, true);

    // The server loses the database and the roles.
    await dropDatabase(db.name);
    await dropRoles([roles.reader, roles.group, roles.owner]);
    assert.equal((await roleFacts(roles)).roles.length, 0, 'the roles are gone');

    const restored = await restoreAndWait(stack.api, { backupId: backup.id, applyGlobals: true });
    assert.equal(restored.status, 'succeeded', restored.error);
    assert.equal(restored.globalsBackupId, g.id);
    const after = await catalogue(db.name, roles);
    assert.equal(after.tableOwner, roles.owner, 'the table belongs to its owner again');
    assert.equal(after.readerSelects, true, 'the reader may read it again');
    assert.equal(after.rows, 25);
    assert.equal(after.database.owner, roles.owner, "the database's owner is back");
    assert.deepEqual([...after.database.acl!].sort(), [...before.database.acl!].sort(), 'its grants are back');
    assert.ok(!after.database.acl!.some((a) => a.startsWith('=')), "PUBLIC's connect stays revoked");
    assert.deepEqual(after.database.settings, ['work_mem=7MB']);
    const facts = await roleFacts(roles);
    assert.deepEqual(
      [...facts.roles].map((r) => [r.name, r.login, r.connlimit, r.config]),
      [
        [roles.group, false, -1, null],
        [roles.owner, false, -1, null],
        [roles.reader, true, 5, ['statement_timeout=5s']],
      ],
    );
    assert.ok(facts.member, 'the reader is in the group again');
    assert.equal(facts.readerHasPassword, false, 'no password was backed up, so none is restored');

    // Existing roles are left as they are: a second restore with globals (beside it) alters none of them.
    await su((sql) => sql.unsafe(`alter role "${roles.reader}" connection limit 3`));
    const beside = `${db.name}_b`;
    cleanups.push(() => dropDatabase(beside));
    const again = await restoreAndWait(stack.api, { backupId: backup.id, targetDatabase: beside, applyGlobals: true });
    assert.equal(again.status, 'succeeded', again.error);
    assert.equal((await roleFacts(roles)).roles.find((r) => r.name === roles.reader)!.connlimit, 3);
    assert.equal((await catalogue(beside, roles)).tableOwner, roles.owner);

    // Without applyGlobals, a restore is what it was: everything belongs to the site's login, no grants.
    const bare = `${db.name}_c`;
    cleanups.push(() => dropDatabase(bare));
    const without = await restoreAndWait(stack.api, { backupId: backup.id, targetDatabase: bare });
    assert.equal(without.status, 'succeeded', without.error);
    assert.equal(without.globalsBackupId, null);
    const bareCat = await catalogue(bare, roles);
    assert.equal(bareCat.tableOwner, pg.user);
    assert.equal(bareCat.readerSelects, false);
    assert.equal(bareCat.rows, 25);
  });

  it('refuses applyGlobals where the run has no globals, and globals on a non-PostgreSQL server (400)', async () => {
    const db = await createTempDatabase('bp_glob_none', pg.port, pg.user, pg.password);
    cleanups.push(() => db.drop());
    await su((sql) => sql.unsafe('create table t (id int)'), db.name);
    const config = await createConfig(stack, token, { serverId: site.servers.pg!.id, databases: [db.name] });
    const [backup] = (await runNowAndWait(stack, token, config.id)) as any[];
    assert.equal(backup.status, 'succeeded', backup.error);
    assert.deepEqual(await globalsRows(config.id), []);
    const res = await stack.api('POST', '/api/v1/restores', {
      token,
      body: { backupId: backup.id, targetDatabase: `${db.name}_x`, applyGlobals: true },
    });
    assert.equal(res.status, 400);
    assert.equal(res.body.error.issues[0].field, 'applyGlobals');
    assert.match(res.body.error.issues[0].reason, /has no globals/);

    const lite = await stack.api('POST', '/api/v1/servers', {
      token,
      body: { siteId: site.site.id, name: `lite-${randomBytes(3).toString('hex')}`, engine: 'sqlite' },
    });
    assert.equal(lite.status, 201, JSON.stringify(lite.body));
    const onSqlite = await stack.api('POST', '/api/v1/configs', {
      token,
      body: {
        name: `lite-${randomBytes(3).toString('hex')}`,
        serverId: lite.body.id,
        databases: ['app.db'],
        schedule: { kind: 'daily', time: '03:00' },
        timezone: 'UTC',
        globals: {},
      },
    });
    assert.equal(onSqlite.status, 400, JSON.stringify(onSqlite.body));
    assert.equal(onSqlite.body.error.issues[0].field, 'globals');
    assert.match(onSqlite.body.error.issues[0].reason, /PostgreSQL's roles and grants; this server is sqlite/);
  });

  it('role passwords: refused without encryption (400); with it, in the encrypted file only, and restored', async () => {
    const post = (body: Record<string, unknown>) =>
      stack.api('POST', '/api/v1/configs', {
        token,
        body: {
          name: `pw-${randomBytes(3).toString('hex')}`,
          schedule: { kind: 'daily', time: '03:00' },
          timezone: 'UTC',
          ...body,
        },
      });
    const uniq = randomBytes(5).toString('hex');
    const { db, roles, readerPassword } = await sourceWithRoles(uniq);
    const base = { serverId: site.servers.pg!.id, databases: [db.name] };

    const refused = await post({ ...base, globals: { rolePasswords: true } });
    assert.equal(refused.status, 400, JSON.stringify(refused.body));
    assert.equal(refused.body.error.issues[0].field, 'globals.rolePasswords');
    assert.match(refused.body.error.issues[0].reason, /only into encrypted backups/);

    const ok = await post({ ...base, globals: { rolePasswords: true }, encrypt: true, keepLocal: 1 });
    assert.equal(ok.status, 201, JSON.stringify(ok.body));
    // Turning encryption off later is refused the same way.
    const patch = await stack.api('PATCH', `/api/v1/configs/${ok.body.id}`, { token, body: { encrypt: false } });
    assert.equal(patch.status, 400);
    assert.equal(patch.body.error.issues[0].field, 'globals.rolePasswords');

    const firstRunSecond = Math.floor(Date.now() / 1000);
    const [backup] = (await runNowAndWait(stack, token, ok.body.id)) as any[];
    assert.equal(backup.status, 'succeeded', backup.error);
    const [g] = await globalsRows(ok.body.id);
    assert.equal(g.status, 'succeeded', g.error);
    assert.equal(g.encrypted, true);
    assert.match(g.fileName, /\.json\.zst\.enc$/);
    const raw = await readFile(path.join(backupsDir(), siteKeyOf(g)));
    assert.ok(!raw.includes('SCRAM-SHA-256'), 'the file is encrypted');
    const doc = await globalsDocument(g);
    const reader = doc.json.roles.find((r: any) => r.name === roles.reader);
    assert.match(reader.password, /^SCRAM-SHA-256\$/);
    // The hash never travels through Temporal.
    assert.ok(!(await historyText(stack, g.workflowId)).includes(reader.password));

    await dropDatabase(db.name);
    await dropRoles([roles.reader, roles.group, roles.owner]);
    const restored = await restoreAndWait(stack.api, { backupId: backup.id, applyGlobals: true });
    assert.equal(restored.status, 'succeeded', restored.error);
    // The restored role logs in with its old password (the private cluster checks passwords).
    const asReader = postgres(pgUrl(db.name, pg.port, roles.reader, readerPassword), { max: 1, onnotice: () => {} });
    try {
      const [row] = await asReader<{ n: number }[]>`select count(*)::int as n from items`;
      assert.equal(row!.n, 25);
    } finally {
      await asReader.end();
    }

    // Retention removes the globals with their run: keepLocal 1, a second run, the first run's globals file goes.
    // A run's workflow id is its start to the second: the second run starts in a later one.
    await waitFor(() => Math.floor(Date.now() / 1000) > firstRunSecond, 5_000, 'the next second');
    await runNowAndWait(stack, token, ok.body.id, 2);
    const rows = await globalsRows(ok.body.id);
    assert.equal(rows.length, 2);
    const first = rows.find((r) => r.id === g.id)!;
    const firstCopies = (await stack.api('GET', `/api/v1/backups/${first.id}/copies`, { token })).body.items as any[];
    assert.deepEqual(
      firstCopies.map((c) => `${c.target}:${c.state}`),
      ['site:deleted'],
    );
    await assert.rejects(readFile(path.join(backupsDir(), siteKeyOf(g))), /ENOENT/);
  });

  it("a hostile globals file: refused unless it has the platform's shape; names quoted, code-loading settings skipped", async () => {
    const uniq = randomBytes(5).toString('hex');
    const evil = `bp_evil_${uniq}" superuser; create role "bp_pwn_${uniq}`;
    const plainRole = {
      superuser: false,
      inherit: true,
      createRole: false,
      createDb: false,
      login: false,
      replication: false,
      bypassRls: false,
      connectionLimit: -1,
      validUntil: null,
    };
    const doc: PgGlobals = {
      format: GLOBALS_FORMAT,
      version: 1,
      serverVersion: '15',
      rolePasswords: false,
      roles: [{ name: evil, ...plainRole }],
      memberships: [],
      roleSettings: [
        {
          role: evil,
          database: null,
          settings: ['session_preload_libraries=evil', "bp.note=x'; drop role postgres; --"],
        },
      ],
      tablespaces: [{ name: `bp_ts_${uniq}`, owner: 'postgres', location: '/etc', acl: null }],
      databases: [],
    };
    // What the platform did not write is refused before anything runs.
    const tampered = (change: (d: any) => void) => {
      const d = structuredClone(doc) as any;
      change(d);
      return () => parsePgGlobals(JSON.stringify(d));
    };
    assert.throws(
      tampered((d) => (d.roles[0].sql = 'drop database x')),
      /BadGlobals|not one this platform wrote/,
    );
    assert.throws(
      tampered((d) => (d.roles[0].password = 'plain text')),
      /a password hash/,
    );
    assert.throws(
      tampered((d) => (d.roleSettings[0].settings = ['x; drop=1'])),
      /a setting/,
    );
    assert.throws(
      tampered((d) => (d.version = 2)),
      /not one this platform wrote/,
    );
    assert.throws(() => parsePgGlobals('select 1'), /not JSON/);

    const conn: ServerConnection = {
      engine: 'postgresql',
      host: '127.0.0.1',
      port: pg.port,
      user: pg.user,
      password: pg.password,
    };
    cleanups.push(() => dropRoles([evil, `bp_pwn_${uniq}`]));
    const db = await createTempDatabase('bp_glob_evil', pg.port, pg.user, pg.password);
    cleanups.push(() => db.drop());
    const applied = await applyPgRoles(conn, parsePgGlobals(JSON.stringify(doc)));
    assert.deepEqual(applied.created, [evil]);
    assert.deepEqual(applied.skippedSettings, [`${evil}: session_preload_libraries`]);
    assert.deepEqual(applied.missingTablespaces, [`bp_ts_${uniq}`]);
    const found = await su(
      (sql) => sql<{ name: string; superuser: boolean; config: string[] | null }[]>`
        select rolname as name, rolsuper as superuser, rolconfig as config from pg_roles where rolname like ${`bp_%${uniq}%`}`,
    );
    assert.deepEqual(
      [...found].map((r) => [r.name, r.superuser, r.config]),
      [[evil, false, ["bp.note=x'; drop role postgres; --"]]],
      'one role, named literally, no superuser, no second role, the setting a value',
    );
    assert.equal((await su((sql) => sql`select 1 from pg_tablespace where spcname = ${`bp_ts_${uniq}`}`)).length, 0);
    // Run twice, it changes nothing: the role exists and is kept.
    assert.deepEqual((await applyPgRoles(conn, doc)).kept, [evil]);

    // Database grants to such a name are quoted too; an unknown privilege letter is refused.
    const withDb = {
      ...doc,
      databases: [{ name: 'src', owner: evil, acl: [`"${evil.replaceAll('"', '""')}"=c/postgres`], settings: [] }],
    };
    const dbApplied = await applyPgDatabase(conn, withDb, 'src', db.name);
    assert.equal(dbApplied.owner, evil);
    assert.equal(dbApplied.grants, 1);
    const [can] = await su(
      (sql) => sql<{ c: boolean }[]>`select has_database_privilege(${evil}, ${db.name}, 'CONNECT') as c`,
    );
    assert.equal(can!.c, true);
    await assert.rejects(
      applyPgDatabase(
        conn,
        { ...withDb, databases: [{ ...withDb.databases[0]!, acl: ['x=cX/postgres'] }] },
        'src',
        db.name,
      ),
      /unknown database privilege/,
    );
  });
});
