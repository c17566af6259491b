// PostgreSQL: pg_dump's custom format out, pg_restore in, catalogue queries through postgres.js.
import { randomUUID } from 'node:crypto';
import postgres from 'postgres';
import { BackupError } from '../../common/errors.ts';
import type { TableCount } from '../../common/model.ts';
import type { ServerConnection } from '../site-config.ts';
import {
  checkDays,
  DEFAULT_EXACT_BELOW_ROWS,
  lockTimeoutOf,
  tableBusy,
  type DatabaseEngine,
  type DumpStream,
} from './engine.ts';
import { producedDump } from './dump-stream.ts';
import { findTool, pipeToolInto, runTool, toolMissing, type ToolRun } from './tools.ts';

/** Turns a libpq/pg_dump/pg_restore message into what the admin must do, and whether retrying can help. */
export function classifyPgError(message: string, conn: ServerConnection, database: string): BackupError {
  const m = message.toLowerCase();
  const first = message.trim().split('\n')[0] ?? '';
  const where = `server ${conn.host}:${conn.port ?? 5432}, user '${conn.user}'`;
  if (m.includes('password authentication failed') || m.includes('no password supplied') || m.includes('28p01')) {
    return new BackupError(
      'auth',
      `PostgreSQL refused the login (${where}): check the password for this server in the site configuration`,
      { code: 'AuthenticationFailed' },
    );
  }
  if (/database ".*" does not exist/.test(m) || m.includes('3d000')) {
    return new BackupError(
      'invalid',
      `database '${database}' does not exist on ${where}: fix the database list of the backup configuration`,
      { code: 'DatabaseNotFound' },
    );
  }
  if (/database ".*" already exists/.test(m) || m.includes('42p04')) {
    return new BackupError(
      'conflict',
      `database '${database}' already exists on ${where}: restore into a new name or into the existing database`,
      { code: 'DatabaseExists' },
    );
  }
  if (m.includes('permission denied') || m.includes('42501')) {
    return new BackupError(
      'invalid',
      `permission denied on ${where}: ${first}. Grant the backup user the access it needs`,
      { code: 'PermissionDenied' },
    );
  }
  if (m.includes('pg_hba.conf') || (m.includes('role') && m.includes('does not exist'))) {
    return new BackupError('auth', `PostgreSQL refused the connection (${where}): ${first}`, {
      code: 'AuthenticationFailed',
    });
  }
  if (m.includes('server version mismatch')) {
    return new BackupError(
      'invalid',
      `pg_dump at the site is older than the server (${where}): install the PostgreSQL client tools of the server's version at the site (${first})`,
      { code: 'DumpToolTooOld' },
    );
  }
  if (m.includes('unsupported version')) {
    // The archive is newer than the tool reading it: the backup is fine, the tool is not.
    return new BackupError(
      'invalid',
      `pg_restore at the site is older than the pg_dump that made this backup: install newer PostgreSQL client tools at the site (${first})`,
      { code: 'RestoreToolTooOld' },
    );
  }
  if (
    m.includes('did not find magic string') ||
    m.includes('does not appear to be a valid archive') ||
    m.includes('unexpected end of file')
  ) {
    return new BackupError('invalid', `the file is not a complete pg_dump custom-format dump (${first})`, {
      code: 'BadDumpFile',
    });
  }
  if (m.includes('55p03') || m.includes('lock timeout')) {
    return tableBusy(database, where);
  }
  if (m.includes('could not execute query')) {
    // The same statement fails again on retry: an object that exists already, a missing role or extension.
    const detail = message.split('\n').find((l) => /could not execute query/i.test(l)) ?? first ?? message;
    return new BackupError('invalid', `restoring into '${database}' on ${where} failed: ${detail.trim()}`, {
      code: 'RestoreFailed',
    });
  }
  return new BackupError('unavailable', `PostgreSQL (${where}): ${message.trim().split('\n').slice(-3).join(' ')}`);
}

const quoteIdent = (s: string) => `"${s.replaceAll('"', '""')}"`;
const MAINTENANCE_DB = 'postgres';

type Sql = postgres.Sql;

/** Opens one connection, runs `fn`, closes it; every failure leaves as a classified BackupError. */
async function withSql<T>(
  conn: ServerConnection,
  database: string,
  fn: (sql: Sql) => Promise<T>,
  forDatabase = database,
): Promise<T> {
  const sql = postgres({
    host: conn.host,
    port: conn.port ?? 5432,
    user: conn.user,
    password: conn.password,
    database,
    max: 1,
    connect_timeout: 10,
    onnotice: () => {},
    connection: { application_name: 'backup-site-worker' },
  });
  try {
    return await fn(sql);
  } catch (err) {
    if (err instanceof BackupError) throw err;
    const e = err as { code?: string; message?: string };
    throw classifyPgError(`${e.code ?? ''} ${e.message ?? String(err)}`, conn, forDatabase);
  } finally {
    await sql.end({ timeout: 2 });
  }
}

const tableNotFound = (table: string, database: string) =>
  new BackupError(
    'invalid',
    `table '${table}' does not exist in database '${database}': fix the tables of the backup configuration`,
    { code: 'TableNotFound' },
  );

/** Finds a table the way SQL would (`name` on the search path or `schema.name`, quotes allowed). */
async function findTable(
  sql: Sql | postgres.TransactionSql,
  table: string,
  database: string,
): Promise<{ oid: number; qualified: string; display: string }> {
  const rows = await sql<{ oid: number; schema: string; name: string }[]>`
    select c.oid::int8 as oid, n.nspname as schema, c.relname as name
    from pg_class c join pg_namespace n on n.oid = c.relnamespace
    where c.oid = to_regclass(${table}) and c.relkind in ('r', 'p')`.catch((e: { code?: string }) => {
    if (e.code === '42602') return []; // invalid name syntax: no table can have this name
    throw e;
  });
  const row = rows[0];
  if (!row) throw tableNotFound(table, database);
  return {
    oid: Number(row.oid),
    qualified: `${quoteIdent(row.schema)}.${quoteIdent(row.name)}`,
    display: `${row.schema}.${row.name}`,
  };
}

function toolEnv(conn: ServerConnection): NodeJS.ProcessEnv {
  // The password goes in the environment of the child only, never on its command line (visible in ps).
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    LANG: 'C',
    PGCONNECT_TIMEOUT: '10',
    PGAPPNAME: 'backup-site-worker',
  };
  if (conn.password !== undefined) env.PGPASSWORD = conn.password;
  return env;
}

function connArgs(conn: ServerConnection, database: string): string[] {
  const args = ['--no-password', `--dbname=${database}`, `--host=${conn.host}`, `--username=${conn.user}`];
  if (conn.port) args.push(`--port=${conn.port}`);
  return args;
}

const pgDump = () => process.env.PG_DUMP ?? findTool(['pg_dump']);
const pgRestore = () => process.env.PG_RESTORE ?? findTool(['pg_restore']);
const PG_HINT = 'Install the PostgreSQL client (pg_dump, pg_restore) at the site';

export const postgresEngine: DatabaseEngine = {
  name: 'postgresql',
  format: 'pgdump',

  async resolveTables(conn, database, tables) {
    return withSql(conn, database, async (sql) => {
      const resolved: string[] = [];
      for (const table of tables) resolved.push((await findTable(sql, table, database)).qualified);
      if (tables.length === 0) await sql`select 1`;
      return resolved;
    });
  },

  dump(conn, database, { excludeTableData, filter }): DumpStream {
    const classify = (msg: string) => classifyPgError(msg, conn, database);
    return producedDump(async (out, signal) => {
      const cmd = pgDump();
      if (!cmd) throw toolMissing('pg_dump', PG_HINT);
      const args = ['--format=custom', '--compress=0', ...connArgs(conn, database)];
      for (const t of excludeTableData) args.push(`--exclude-table-data=${t}`);
      await pipeToolInto({ cmd, args, env: toolEnv(conn) }, out, signal, classify, () =>
        toolMissing('pg_dump', PG_HINT),
      );
    }, filter);
  },

  async restore(conn, database, input, { into, signal }) {
    const cmd = pgRestore();
    if (!cmd) throw toolMissing('pg_restore', PG_HINT, 'RestoreToolMissing');
    // Replacing: the dump goes into a database of its own first. The old one is dropped, and the new one takes its
    // name, only once the restore has succeeded; until then the old one is as it was. (An ASCII name of fixed length:
    // a prefix of the target's could be cut inside a character at PostgreSQL's 63 bytes.)
    const target = into === 'replace' ? `bp_restore_${randomUUID().replaceAll('-', '').slice(0, 16)}` : database;
    if (into !== 'existing') {
      // template0: objects someone added to template1 would collide with the dump's own.
      await withSql(
        conn,
        MAINTENANCE_DB,
        (sql) => sql.unsafe(`create database ${quoteIdent(target)} template template0`),
        target,
      );
    }
    // One transaction: a failed restore leaves the database as it was, and --exit-on-error stops at the first error.
    const run: ToolRun = {
      cmd,
      args: ['--no-owner', '--no-privileges', '--exit-on-error', '--single-transaction', ...connArgs(conn, target)],
      env: toolEnv(conn),
    };
    try {
      await runTool(run, {
        input,
        signal,
        keepStdout: false,
        classify: (msg) => classifyPgError(msg, conn, database),
        missing: () => toolMissing('pg_restore', PG_HINT, 'RestoreToolMissing'),
      });
    } catch (err) {
      if (into !== 'existing') await postgresEngine.dropDatabase(conn, target).catch(() => {});
      throw err;
    }
    if (into !== 'replace') return;
    await postgresEngine.dropDatabase(conn, database).catch(async (err: unknown) => {
      // The old database stays (sessions in it, a missing right): the new one goes, or each retry would leave one.
      await postgresEngine.dropDatabase(conn, target).catch(() => {});
      throw err;
    });
    await withSql(
      conn,
      MAINTENANCE_DB,
      (sql) => sql.unsafe(`alter database ${quoteIdent(target)} rename to ${quoteIdent(database)}`),
      database,
    ).catch((err: unknown) => {
      // Not retried: a retry would find no database by the name, restore again and leave this complete one aside.
      throw new BackupError(
        'invalid',
        `the restored database is complete as '${target}' but could not be renamed to '${database}' (${err instanceof Error ? err.message : String(err)}): rename it by hand`,
        { code: 'RenameFailed' },
      );
    });
  },

  async listDatabases(conn) {
    return withSql(conn, MAINTENANCE_DB, async (sql) => {
      const rows = await sql<{ name: string }[]>`
        select datname as name from pg_database
        where datallowconn and not datistemplate and datname not in ('postgres', 'azure_maintenance', 'azure_sys', 'rdsadmin', 'cloudsqladmin')
        order by datname`;
      return rows.map((r) => r.name);
    });
  },

  async databaseExists(conn, database) {
    return withSql(
      conn,
      MAINTENANCE_DB,
      async (sql) => (await sql`select 1 from pg_database where datname = ${database}`).length > 0,
      database,
    );
  },

  async hasTables(conn, database) {
    return withSql(conn, database, async (sql) => {
      const [row] = await sql<{ found: boolean }[]>`
        select exists (
          select 1 from pg_class c join pg_namespace n on n.oid = c.relnamespace
          where c.relkind in ('r', 'p', 'v', 'm', 'S', 'f')
            and n.nspname not in ('pg_catalog', 'information_schema') and n.nspname not like 'pg\\_toast%' and n.nspname not like 'pg\\_temp%'
        ) as found`;
      return row!.found;
    });
  },

  async dropDatabase(conn, database) {
    await withSql(
      conn,
      MAINTENANCE_DB,
      async (sql) => {
        const [v] = await sql<{ num: number }[]>`select current_setting('server_version_num')::int as num`;
        // Sessions left open by a crashed drill must not keep its scratch database alive (FORCE exists from 13 on).
        await sql.unsafe(`drop database if exists ${quoteIdent(database)}${v!.num >= 130000 ? ' with (force)' : ''}`);
      },
      database,
    );
  },

  async estimateSize(conn, database) {
    return withSql(
      conn,
      MAINTENANCE_DB,
      async (sql) => {
        const [row] = await sql<{ size: string }[]>`select pg_database_size(${database})::text as size`;
        return Number(row!.size);
      },
      database,
    );
  },

  async serverVersion(conn) {
    return withSql(conn, MAINTENANCE_DB, async (sql) => {
      const [row] = await sql<{ v: string }[]>`select current_setting('server_version') as v`;
      return `PostgreSQL ${row!.v}`;
    });
  },

  async dumpToolVersion() {
    const cmd = pgDump();
    if (!cmd) throw toolMissing('pg_dump', PG_HINT);
    const out = await runTool(
      { cmd, args: ['--version'], env: { PATH: process.env.PATH, LANG: 'C' } },
      {
        classify: (msg) =>
          new BackupError('invalid', `pg_dump --version failed: ${msg.trim()}`, { code: 'DumpToolMissing' }),
        missing: () => toolMissing('pg_dump', PG_HINT),
      },
    );
    return out.trim();
  },

  async tableRowCounts(conn, database, opts = {}) {
    const limit = opts.exactBelowRows ?? DEFAULT_EXACT_BELOW_ROWS;
    return withSql(conn, database, async (sql) => {
      // reltuples is -1 until the first ANALYZE; the statistics' live-tuple count covers a freshly loaded table.
      const tables = await sql<{ schema: string; name: string; estimate: number; bytes: string }[]>`
        select n.nspname as schema, c.relname as name,
               case when c.reltuples >= 0 then c.reltuples::float8 else coalesce(s.n_live_tup, 0)::float8 end as estimate,
               pg_relation_size(c.oid)::text as bytes
        from pg_class c join pg_namespace n on n.oid = c.relnamespace
        left join pg_stat_user_tables s on s.relid = c.oid
        where c.relkind = 'r' and n.nspname not in ('pg_catalog', 'information_schema') and n.nspname not like 'pg\\_toast%'
        order by n.nspname, c.relname`;
      const result: TableCount[] = [];
      for (const t of tables) {
        // Counting reads every page: the size guards against statistics that lag behind a big load.
        if (t.estimate < limit && Number(t.bytes) < limit * 1024) {
          const [row] = await sql.unsafe<{ n: string }[]>(
            `select count(*)::text as n from ${quoteIdent(t.schema)}.${quoteIdent(t.name)}`,
          );
          result.push({ table: `${t.schema}.${t.name}`, rows: Number(row!.n), exact: true });
        } else {
          result.push({ table: `${t.schema}.${t.name}`, rows: Math.round(t.estimate), exact: false });
        }
      }
      return result;
    });
  },

  async truncateTables(conn, database, tables) {
    if (tables.length === 0) return 0;
    return withSql(conn, database, (sql) =>
      sql.begin(async (tx) => {
        const found = new Map<number, string>();
        for (const t of tables) {
          const r = await findTable(tx, t, database);
          found.set(r.oid, r.qualified);
        }
        const oids = [...found.keys()];
        // TRUNCATE would refuse too, but only after the caller learns nothing about which table is in the way.
        const refs = await tx<{ child: string; parent: string }[]>`
          select conrelid::regclass::text as child, confrelid::regclass::text as parent from pg_constraint
          where contype = 'f' and confrelid = any(${oids}::oid[]) and not conrelid = any(${oids}::oid[])`;
        if (refs.length > 0) {
          const list = refs.map((r) => `${r.child} → ${r.parent}`).join(', ');
          throw new BackupError(
            'invalid',
            `cannot truncate in '${database}': other tables reference them (${list}). Truncate the referencing tables too, or delete old rows instead`,
            { code: 'ForeignKeyViolation' },
          );
        }
        const list = [...found.values()].join(', ');
        // Locked first, so the count is exactly what TRUNCATE removes; not waiting long for a lock, since every query
        // of the application on these tables would queue behind ours.
        await tx.unsafe(`set local lock_timeout = '${lockTimeoutOf(conn)}s'`);
        await tx.unsafe(`lock table ${list} in access exclusive mode`);
        let rows = 0;
        for (const q of found.values())
          rows += Number((await tx.unsafe<{ n: string }[]>(`select count(*)::text as n from ${q}`))[0]!.n);
        await tx.unsafe(`truncate table ${list}`);
        return rows;
      }),
    );
  },

  async deleteOlderThan(conn, database, table, column, days) {
    checkDays(days);
    return withSql(conn, database, (sql) =>
      sql.begin(async (tx) => {
        const t = await findTable(tx, table, database);
        const [col] = await tx<{ type: string }[]>`
          select format_type(atttypid, null) as type from pg_attribute
          where attrelid = ${t.oid} and attname = ${column} and attnum > 0 and not attisdropped`;
        if (!col)
          throw new BackupError(
            'invalid',
            `column '${column}' does not exist in table '${t.display}' of database '${database}'`,
            { code: 'ColumnNotFound' },
          );
        if (!['date', 'timestamp without time zone', 'timestamp with time zone'].includes(col.type)) {
          throw new BackupError(
            'invalid',
            `column '${column}' of '${t.display}' is ${col.type}, not a date or timestamp: choose the column that holds the row's time`,
            { code: 'ColumnNotTimestamp' },
          );
        }
        await tx.unsafe(`set local lock_timeout = '${lockTimeoutOf(conn)}s'`);
        const res = await tx.unsafe(
          `delete from ${t.qualified} where ${quoteIdent(column)} < now() - make_interval(days => $1)`,
          [days],
        );
        return res.count;
      }),
    );
  },
};

/** Transitional: activities/site.ts imports it from here. New code imports `engines` from ./index.ts. */
export const engines = { postgresql: postgresEngine } as const;
