// Drill assertions are SQL a tenant wrote. The site's login can do far more than read the restored copy (superuser
// on many servers: run programs, read and write files), so an assertion never runs as that login: each drill gets a
// login of its own that may only read the one database it checks, made just before and dropped right after.
import { randomBytes } from 'node:crypto';
import { BackupError } from '../../common/errors.ts';
import type { ServerConnection } from '../site-config.ts';
import { mariadbQuery, quoteIdent as quoteMariadb } from './mariadb-sql.ts';
import { quoteIdent as quotePg, withSql } from './postgres-sql.ts';

/** The longest an assertion may run (it also stops a tenant's query from holding the server). */
export const ASSERTION_TIMEOUT_SECONDS = 30;

const drillLogin = () => ({
  user: `bp_drill_${randomBytes(6).toString('hex')}`,
  // Hex only, so it can stand in a statement without quoting rules of its own.
  password: randomBytes(24).toString('hex'),
});

const cannotCreate = (engine: string, err: unknown) =>
  new BackupError(
    'invalid',
    `drill assertions run under a login of their own, and the site's ${engine} login could not make one ` +
      `(${(err as { code?: string }).code ?? (err as Error).message}): grant it CREATEROLE (PostgreSQL) or ` +
      `CREATE USER and GRANT OPTION (MariaDB), or remove the drill's assertions`,
    { code: 'DrillRoleRefused' },
  );

/**
 * PostgreSQL: a role with LOGIN and nothing else (no superuser, no inherited rights, no pg_read_server_files or
 * pg_execute_server_program), CONNECT on `database` and SELECT on its tables, a statement timeout; dropped after.
 */
export async function withPgDrillLogin<T>(
  conn: ServerConnection,
  database: string,
  fn: (login: ServerConnection) => Promise<T>,
): Promise<T> {
  const { user, password } = drillLogin();
  const role = quotePg(user);
  await withSql(conn, database, async (sql) => {
    try {
      await sql.unsafe(
        `create role ${role} login password '${password}' nosuperuser nocreatedb nocreaterole noinherit ` +
          `noreplication nobypassrls connection limit 2 valid until '${new Date(Date.now() + 3600_000).toISOString()}'`,
      );
    } catch (err) {
      throw cannotCreate('PostgreSQL', err);
    }
    await sql.unsafe(`alter role ${role} set statement_timeout = '${ASSERTION_TIMEOUT_SECONDS}s'`);
    await sql.unsafe(`grant connect on database ${quotePg(database)} to ${role}`);
    const schemas = await sql<{ name: string }[]>`
      select nspname as name from pg_namespace
      where nspname not in ('pg_catalog', 'information_schema', 'pg_toast') and nspname not like 'pg_temp%'
        and nspname not like 'pg_toast_temp%'`;
    for (const { name } of schemas) {
      await sql.unsafe(`grant usage on schema ${quotePg(name)} to ${role}`);
      await sql.unsafe(`grant select on all tables in schema ${quotePg(name)} to ${role}`);
    }
  });
  try {
    return await fn({ ...conn, user, password });
  } finally {
    await withSql(conn, database, async (sql) => {
      await sql`select pg_terminate_backend(pid) from pg_stat_activity where usename = ${user}`;
      await sql.unsafe(`drop owned by ${role}`);
      await sql.unsafe(`drop role ${role}`);
    });
  }
}

/** MariaDB: a user with SELECT on `database` only (no FILE, no PROCESS, nothing global) and a statement time limit. */
export async function withMariadbDrillLogin<T>(
  conn: ServerConnection,
  database: string,
  fn: (login: ServerConnection) => Promise<T>,
): Promise<T> {
  const { user, password } = drillLogin();
  // The drill connects as the site does, so the host part of the site's own account is the one that matches it.
  const [[found] = []] = await mariadbQuery(conn, undefined, "select substring_index(current_user(), '@', -1)");
  // Account names take plain quoted strings only; the name and password are hex, the host is checked.
  const host = found && /^[A-Za-z0-9._%:-]+$/.test(found) ? found : '%';
  const account = `'${user}'@'${host}'`;
  try {
    await mariadbQuery(
      conn,
      undefined,
      `create user ${account} identified by '${password}' with max_statement_time ${ASSERTION_TIMEOUT_SECONDS};\n` +
        `grant select, show view on ${quoteMariadb(database)}.* to ${account};`,
    );
  } catch (err) {
    await mariadbQuery(conn, undefined, `drop user if exists ${account}`).catch(() => undefined);
    throw cannotCreate('MariaDB', err);
  }
  try {
    return await fn({ ...conn, user, password });
  } finally {
    await mariadbQuery(conn, undefined, `drop user if exists ${account}`);
  }
}
