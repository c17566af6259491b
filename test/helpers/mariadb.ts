// MariaDB for tests: throw-away databases and users on the machine's server, through the engine's own client helper.
import { randomUUID } from 'node:crypto';
import { mariadbQuery } from '../../activities/engines/mariadb-sql.ts';
import type { ServerConnection } from '../../activities/site-config.ts';
import { uniqueName } from '../../ops/services/pg.ts';

export const MARIADB_HOST = process.env.TEST_MARIADB_HOST ?? '127.0.0.1';
export const MARIADB_PORT = Number(process.env.TEST_MARIADB_PORT ?? 3306);
export const MARIADB_USER = process.env.TEST_MARIADB_USER ?? 'root';
export const MARIADB_PASSWORD = process.env.TEST_MARIADB_PASSWORD || undefined;

/** db/schema.ts ENGINES does not list 'mariadb' yet; the engines do not read `engine` anyway. */
export const mariadbConn = (over: Partial<Omit<ServerConnection, 'engine'>> = {}): ServerConnection => ({
  engine: 'mariadb' as ServerConnection['engine'],
  host: MARIADB_HOST,
  port: MARIADB_PORT,
  user: MARIADB_USER,
  password: MARIADB_PASSWORD,
  ...over,
});

/** Runs SQL as the test's administrator; `database` undefined runs it without choosing one. */
export const mariadbAdmin = (sql: string, database?: string) => mariadbQuery(mariadbConn(), database, sql);

const quote = (s: string) => `'${s.replaceAll('\\', '\\\\').replaceAll("'", "''")}'`;

/** An empty database with a unique name; `drop()` removes it. */
export async function createTempMariadbDatabase(prefix = 'bp_test') {
  const name = uniqueName(prefix);
  await mariadbAdmin(`CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4;`);
  return { name, drop: () => mariadbAdmin(`DROP DATABASE IF EXISTS \`${name}\`;`).then(() => {}) };
}

/** A login of its own with a password full of characters that need quoting, allowed into `databases` only. */
export async function createMariadbUser(databases: string[]) {
  const user = uniqueName('bp_u').slice(0, 32);
  const password = `p"w\\ #'${randomUUID().slice(0, 8)} ü`;
  await mariadbAdmin(`CREATE USER ${quote(user)}@'%' IDENTIFIED BY ${quote(password)};`);
  for (const db of databases) await mariadbAdmin(`GRANT ALL PRIVILEGES ON \`${db}\`.* TO ${quote(user)}@'%';`);
  return { user, password, drop: () => mariadbAdmin(`DROP USER IF EXISTS ${quote(user)}@'%';`).then(() => {}) };
}
