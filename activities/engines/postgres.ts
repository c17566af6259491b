// PostgreSQL: pg_dump's custom format out, pg_restore in, catalogue queries through postgres.js.
import { randomUUID } from 'node:crypto';
import { BackupError } from '../../common/errors.ts';
import type { TableCount } from '../../common/model.ts';
import type { ServerConnection } from '../site-config.ts';
import { DEFAULT_EXACT_BELOW_ROWS, type DatabaseEngine, type DumpStream } from './engine.ts';
import { producedDump } from './dump-stream.ts';
import { deletePgRowsOlderThan, truncatePgTables } from './postgres-clean.ts';
import {
  dropPgDatabase,
  endPgRestoreSessions,
  markPgDatabase,
  ownPgRestore,
  readPgMark,
  swapPgStaging,
} from './postgres-restore.ts';
import { classifyPgError, findTable, MAINTENANCE_DB, quoteIdent, withSql } from './postgres-sql.ts';
import { markText, sessionName, stagingName } from './restore-mark.ts';
import { findTool, pipeToolInto, runTool, toolMissing, type ToolRun } from './tools.ts';

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

  async restore(conn, database, input, { into, signal, owner, keepOwners }) {
    const cmd = pgRestore();
    if (!cmd) throw toolMissing('pg_restore', PG_HINT, 'RestoreToolMissing');
    // Replacing: the dump goes into a staging database first. The old one is dropped, and the staging one takes its
    // name, only once the restore has succeeded; until then the old one is as it was. The staging name carries the
    // restore's tag, so a retry after a crash finds it (an ASCII name of fixed length: a prefix of the target's could
    // be cut inside a character at PostgreSQL's 63 bytes).
    const at = new Date();
    const tag = owner?.tag ?? randomUUID().replaceAll('-', '').slice(0, 16);
    const target = into === 'replace' ? stagingName(tag, at) : database;
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
    // The application name lets a later attempt find this pg_restore should it outlive its worker.
    const run: ToolRun = {
      cmd,
      args: [
        ...(keepOwners ? [] : ['--no-owner', '--no-privileges']),
        '--exit-on-error',
        '--single-transaction',
        ...connArgs(conn, target),
      ],
      env: { ...toolEnv(conn), ...(owner && { PGAPPNAME: sessionName(owner.tag) }) },
    };
    try {
      // The mark says which restore wrote here; on a database this restore did not create it is only a help (the
      // backup user may not own it), so a refusal there does not stop the restore.
      if (owner) {
        const marked = markPgDatabase(conn, target, markText(owner, at));
        await (into === 'existing' ? marked.catch(() => {}) : marked);
      }
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
    await swapPgStaging(conn, target, database).catch(async (err: unknown) => {
      // The old database stays (sessions in it, a missing right): the new one goes, or each retry would leave one.
      if (!(err instanceof BackupError && err.details.code === 'RenameFailed'))
        await postgresEngine.dropDatabase(conn, target).catch(() => {});
      throw err;
    });
  },

  readRestoreMark: readPgMark,

  async ownRestore(conn, database, restoreId) {
    return ownPgRestore(conn, database, restoreId, () => postgresEngine.hasTables(conn, database));
  },

  endRestoreSessions: endPgRestoreSessions,
  swapIn: swapPgStaging,

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
    await dropPgDatabase(conn, database);
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

  truncateTables: truncatePgTables,
  deleteOlderThan: deletePgRowsOlderThan,
};
