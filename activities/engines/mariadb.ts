// MariaDB and MySQL: mariadb-dump (or mysqldump) out, the mariadb (or mysql) client in, catalogue queries through
// the same client. No driver library: the site already needs the client tools, and one way to log in is one way to
// get the login wrong.
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
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

const SYSTEM_DATABASES = ['mysql', 'information_schema', 'performance_schema', 'sys'];
const HINT = 'Install the MariaDB client (mariadb, mariadb-dump) or the MySQL client (mysql, mysqldump) at the site';
const clientTool = () => process.env.MARIADB_CLIENT ?? findTool(['mariadb', 'mysql']);
const dumpTool = () => process.env.MARIADB_DUMP ?? findTool(['mariadb-dump', 'mysqldump']);
const clientMissing = () => toolMissing('mariadb or mysql', HINT, 'ClientToolMissing');
const dumpMissing = () => toolMissing('mariadb-dump or mysqldump', HINT);

/** Turns a client or dump tool message into what the admin must do, and whether retrying can help. */
export function classifyMariadbError(message: string, conn: ServerConnection, database: string): BackupError {
  const m = message.toLowerCase();
  const first =
    message
      .trim()
      .split('\n')
      .find((l) => /error|denied|unknown|couldn't/i.test(l))
      ?.trim() ?? message.trim();
  const where = `server ${conn.host}:${conn.port ?? 3306}, user '${conn.user}'`;
  const errno = Number(/(?:error |got error: )(\d{4})\b/i.exec(message)?.[1] ?? 0);
  if (errno === 1045 || (m.includes('access denied for user') && m.includes('using password'))) {
    return new BackupError(
      'auth',
      `MariaDB refused the login (${where}): check the password for this server in the site configuration`,
      { code: 'AuthenticationFailed' },
    );
  }
  if (errno === 1049 || m.includes('unknown database')) {
    return new BackupError(
      'invalid',
      `database '${database}' does not exist on ${where}: fix the database list of the backup configuration`,
      { code: 'DatabaseNotFound' },
    );
  }
  if (errno === 1007 || m.includes('database exists')) {
    return new BackupError(
      'conflict',
      `database '${database}' already exists on ${where}: restore into a new name or into the existing database`,
      { code: 'DatabaseExists' },
    );
  }
  if (errno === 1044) {
    return new BackupError(
      'invalid',
      `user '${conn.user}' may not use database '${database}' on ${where} (or it does not exist): grant the backup user access to it`,
      { code: 'PermissionDenied' },
    );
  }
  if ([1142, 1143, 1227, 1370].includes(errno) || m.includes('command denied') || m.includes('access denied')) {
    return new BackupError(
      'invalid',
      `permission denied on ${where}: ${first}. Grant the backup user the privileges it needs (SELECT, SHOW VIEW, TRIGGER, EVENT, LOCK TABLES)`,
      { code: 'PermissionDenied' },
    );
  }
  if (m.includes('unknown variable') || m.includes('unknown option')) {
    return new BackupError(
      'invalid',
      `the MariaDB/MySQL client at the site does not understand an option it was given (${first}): install the MariaDB client tools`,
      { code: 'DumpToolIncompatible' },
    );
  }
  if (m.includes("couldn't find table")) {
    return new BackupError('invalid', `a table to leave out does not exist in database '${database}': ${first}`, {
      code: 'TableNotFound',
    });
  }
  if (errno === 1205) {
    return tableBusy(database, where);
  }
  if ([1040, 1213, 2002, 2003, 2005, 2006, 2013].includes(errno)) {
    return new BackupError('unavailable', `MariaDB (${where}): ${first}`);
  }
  if (/error \d+ .* at line \d+/i.test(message) || /error at line \d+/i.test(message)) {
    // A statement of the dump failed: it fails the same way on retry.
    return new BackupError('invalid', `restoring into '${database}' on ${where} failed: ${first}`, {
      code: 'RestoreFailed',
    });
  }
  return new BackupError('unavailable', `MariaDB (${where}): ${message.trim().split('\n').slice(-3).join(' ')}`);
}

const quoteIdent = (s: string) => `\`${s.replaceAll('`', '``')}\``;
/** A string literal that no sql_mode (NO_BACKSLASH_ESCAPES, ANSI_QUOTES) can misread. */
export const lit = (s: string) =>
  s === '' ? "''" : `CONVERT(X'${Buffer.from(s, 'utf8').toString('hex')}' USING utf8mb4)`;

function checkDatabaseName(database: string): void {
  if (!database || database.includes('\0') || database.startsWith('-') || database.length > 64) {
    throw new BackupError('invalid', `'${database}' is not a valid MariaDB database name`, {
      code: 'DatabaseNotFound',
    });
  }
}

/** Option-file value: quoted, so `#`, spaces and quotes in a password survive. */
const optionValue = (s: string) =>
  `"${s.replaceAll('\\', '\\\\').replaceAll('"', '\\"').replaceAll('\n', '\\n').replaceAll('\r', '\\r').replaceAll('\t', '\\t')}"`;

/**
 * Writes the login to a private option file for the tools run in `fn`, and removes it afterwards. The password never
 * appears on a command line (ps) or in the environment (/proc/<pid>/environ). `--defaults-file` keeps a stray
 * ~/.my.cnf of the worker's user from changing which server or user is used.
 */
async function withLogin<T>(conn: ServerConnection, fn: (optionFile: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'bp-my-'));
  try {
    await chmod(dir, 0o700);
    const file = path.join(dir, 'login.cnf');
    const lines = ['[client]', `user=${optionValue(conn.user)}`, `host=${optionValue(conn.host)}`];
    if (conn.port) lines.push(`port=${conn.port}`);
    if (conn.password !== undefined) lines.push(`password=${optionValue(conn.password)}`);
    lines.push('[mysql]', 'connect-timeout=10'); // the client knows it, the dump tools do not
    await writeFile(file, lines.join('\n') + '\n', { mode: 0o600, flag: 'wx' });
    return await fn(file);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const toolEnv = (): NodeJS.ProcessEnv => ({ PATH: process.env.PATH, LANG: 'C' });

function clientRun(optionFile: string, database: string | undefined, extra: string[] = []): ToolRun {
  const cmd = clientTool();
  if (!cmd) throw clientMissing();
  const args = [`--defaults-file=${optionFile}`, '--default-character-set=utf8mb4', ...extra];
  if (database !== undefined) args.push(`--database=${database}`);
  return { cmd, args, env: toolEnv() };
}

/** The client's batch output: tab-separated rows, with tab, newline, backslash and NUL escaped. */
function parseBatch(out: string): string[][] {
  const unescape = (f: string) =>
    f.replace(/\\(.)/g, (_, c: string) => ({ t: '\t', n: '\n', '0': '\0', '\\': '\\' })[c] ?? c);
  return out
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => l.split('\t').map(unescape));
}

/**
 * Runs SQL through the client and returns the rows of its result sets, all in one list. Several statements run on one
 * connection and stop at the first error, which closes it: an open transaction is then rolled back.
 * `database` undefined connects without choosing one; otherwise an unknown database fails as DatabaseNotFound.
 */
export async function mariadbQuery(
  conn: ServerConnection,
  database: string | undefined,
  sql: string,
  forDatabase = database ?? '',
): Promise<string[][]> {
  if (database !== undefined) checkDatabaseName(database);
  return withLogin(conn, async (file) => {
    const out = await runTool(clientRun(file, database, ['--batch', '--skip-column-names']), {
      input: sql,
      classify: (msg) => classifyMariadbError(msg, conn, forDatabase),
      missing: clientMissing,
    });
    return parseBatch(out);
  });
}

async function baseTables(conn: ServerConnection, database: string): Promise<string[]> {
  const rows = await mariadbQuery(
    conn,
    database,
    `SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = ${lit(database)} AND TABLE_TYPE IN ('BASE TABLE', 'SYSTEM VERSIONED') ORDER BY TABLE_NAME;`,
  );
  return rows.map((r) => r[0]!);
}

/** `name` or `<database>.name`; exact first, then case-insensitively when that is unambiguous (lower_case_table_names). */
function matchTable(all: string[], table: string, database: string): string {
  const name = table.startsWith(`${database}.`) && !all.includes(table) ? table.slice(database.length + 1) : table;
  const bare =
    name.length > 1 && name.startsWith('`') && name.endsWith('`') ? name.slice(1, -1).replaceAll('``', '`') : name;
  if (all.includes(bare)) return bare;
  const folded = all.filter((t) => t.toLowerCase() === bare.toLowerCase());
  if (folded.length === 1) return folded[0]!;
  throw new BackupError(
    'invalid',
    `table '${table}' does not exist in database '${database}': fix the tables of the backup configuration`,
    { code: 'TableNotFound' },
  );
}

const dumpOptions = (optionFile: string) => [
  `--defaults-file=${optionFile}`,
  '--single-transaction',
  '--hex-blob',
  '--default-character-set=utf8mb4',
  '--no-tablespaces',
];

export const mariadbEngine: DatabaseEngine = {
  name: 'mariadb',
  format: 'sql',

  async resolveTables(conn, database, tables) {
    const all = await baseTables(conn, database);
    return tables.map((t) => matchTable(all, t, database));
  },

  /**
   * Without --databases, so the dump restores into any database name. Tables whose data stays out are dumped first,
   * schema only (views of the main part may select from them), then everything else with data. The two passes are
   * two snapshots: only DDL between them could differ, and the first holds no rows.
   */
  dump(conn, database, { excludeTableData, filter }): DumpStream {
    const classify = (msg: string) => classifyMariadbError(msg, conn, database);
    return producedDump(async (out, signal) => {
      checkDatabaseName(database);
      const cmd = dumpTool();
      if (!cmd) throw dumpMissing();
      await withLogin(conn, async (file) => {
        const env = toolEnv();
        if (excludeTableData.length > 0) {
          const schemaOnly = [
            ...dumpOptions(file),
            '--no-data',
            '--skip-routines',
            '--skip-events',
            '--triggers',
            '--',
            database,
            ...excludeTableData,
          ];
          await pipeToolInto({ cmd, args: schemaOnly, env }, out, signal, classify, dumpMissing);
        }
        const full = [...dumpOptions(file), '--routines', '--triggers', '--events'];
        for (const t of excludeTableData) full.push(`--ignore-table=${database}.${t}`);
        await pipeToolInto({ cmd, args: [...full, '--', database], env }, out, signal, classify, dumpMissing);
      });
    }, filter);
  },

  async restore(conn, database, input, { into, signal }) {
    checkDatabaseName(database);
    // MariaDB cannot rename a database and its DDL commits as it goes, so replacing one drops it first (the client
    // that restores is the one that drops: a site without it fails before anything is dropped).
    if (into === 'replace') await mariadbEngine.dropDatabase(conn, database);
    const create = into !== 'existing';
    if (create)
      await mariadbQuery(conn, undefined, `CREATE DATABASE ${quoteIdent(database)} CHARACTER SET utf8mb4;`, database);
    try {
      await withLogin(conn, (file) =>
        runTool(clientRun(file, database, ['--batch']), {
          input,
          signal,
          keepStdout: false,
          classify: (msg) => classifyMariadbError(msg, conn, database),
          missing: clientMissing,
        }),
      );
    } catch (err) {
      // DDL commits as it goes: a half-restored database is only removed when this restore made it.
      if (create) await mariadbEngine.dropDatabase(conn, database).catch(() => {});
      throw err;
    }
  },

  async listDatabases(conn) {
    const rows = await mariadbQuery(
      conn,
      undefined,
      `SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME NOT IN (${SYSTEM_DATABASES.map(lit).join(', ')}) ORDER BY SCHEMA_NAME;`,
    );
    return rows.map((r) => r[0]!);
  },

  async databaseExists(conn, database) {
    const rows = await mariadbQuery(
      conn,
      undefined,
      `SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ${lit(database)};`,
      database,
    );
    return rows[0]?.[0] !== '0';
  },

  async hasTables(conn, database) {
    const rows = await mariadbQuery(
      conn,
      database,
      `SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ${lit(database)};`,
    );
    return rows[0]?.[0] !== '0';
  },

  async dropDatabase(conn, database) {
    checkDatabaseName(database);
    await mariadbQuery(conn, undefined, `DROP DATABASE IF EXISTS ${quoteIdent(database)};`, database);
  },

  async estimateSize(conn, database) {
    const rows = await mariadbQuery(
      conn,
      database,
      `SELECT COALESCE(SUM(DATA_LENGTH + INDEX_LENGTH), 0) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ${lit(database)};`,
    );
    return Number(rows[0]?.[0] ?? 0);
  },

  async serverVersion(conn) {
    const v = (await mariadbQuery(conn, undefined, 'SELECT VERSION();'))[0]?.[0] ?? '';
    return v.includes('MariaDB') ? `MariaDB ${v}` : `MySQL ${v}`;
  },

  async dumpToolVersion() {
    const cmd = dumpTool();
    if (!cmd) throw dumpMissing();
    const out = await runTool(
      { cmd, args: ['--version'], env: toolEnv() },
      {
        classify: (msg) =>
          new BackupError('invalid', `${path.basename(cmd)} --version failed: ${msg.trim()}`, {
            code: 'DumpToolMissing',
          }),
        missing: dumpMissing,
      },
    );
    return out.trim().replace(/\s+/g, ' ');
  },

  async tableRowCounts(conn, database, opts = {}) {
    const limit = opts.exactBelowRows ?? DEFAULT_EXACT_BELOW_ROWS;
    const stats = await mariadbQuery(
      conn,
      database,
      `SELECT TABLE_NAME, COALESCE(TABLE_ROWS, 0), COALESCE(DATA_LENGTH, 0) FROM information_schema.TABLES
      WHERE TABLE_SCHEMA = ${lit(database)} AND TABLE_TYPE IN ('BASE TABLE', 'SYSTEM VERSIONED') ORDER BY TABLE_NAME;`,
    );
    const result: TableCount[] = stats.map(([table, estimate, bytes]) => {
      const rows = Number(estimate);
      return { table: table!, rows, exact: rows < limit && Number(bytes) < limit * 1024 };
    });
    const exact = result.map((r, i) => ({ r, i })).filter(({ r }) => r.exact);
    if (exact.length > 0) {
      // InnoDB's TABLE_ROWS is a sample-based guess even for small tables: count those, all in one round trip.
      const counts = await mariadbQuery(
        conn,
        database,
        exact.map(({ r, i }) => `SELECT ${i}, COUNT(*) FROM ${quoteIdent(r.table)}`).join(' UNION ALL ') + ';',
      );
      for (const [i, n] of counts) result[Number(i)]!.rows = Number(n);
    }
    return result;
  },

  /**
   * TRUNCATE commits on its own in MariaDB, so "all or none" comes from checking first (every table exists, no other
   * table references them) and holding write locks on all of them while they are counted and emptied.
   */
  async truncateTables(conn, database, tables) {
    if (tables.length === 0) return 0;
    const all = await baseTables(conn, database);
    const names = [...new Set(tables.map((t) => matchTable(all, t, database)))];
    const refs = await mariadbQuery(
      conn,
      database,
      `SELECT CONSTRAINT_SCHEMA, TABLE_NAME, REFERENCED_TABLE_NAME FROM information_schema.REFERENTIAL_CONSTRAINTS
      WHERE UNIQUE_CONSTRAINT_SCHEMA = ${lit(database)} AND REFERENCED_TABLE_NAME IN (${names.map(lit).join(', ')});`,
    );
    const outside = refs.filter(([schema, table]) => schema !== database || !names.includes(table!));
    if (outside.length > 0) {
      const list = outside.map(([s, t, r]) => `${s}.${t} → ${r}`).join(', ');
      throw new BackupError(
        'invalid',
        `cannot truncate in '${database}': other tables reference them (${list}). Truncate the referencing tables too, or delete old rows instead`,
        { code: 'ForeignKeyViolation' },
      );
    }
    const quoted = names.map(quoteIdent);
    // References among the listed tables only: all of them end up empty, so the checks can be off for this session.
    const script = [
      'SET SESSION FOREIGN_KEY_CHECKS = 0;',
      // Not waiting long for a table the application uses: its own queries would queue behind ours.
      `SET SESSION lock_wait_timeout = ${lockTimeoutOf(conn)};`,
      `LOCK TABLES ${quoted.map((q) => `${q} WRITE`).join(', ')};`,
      ...quoted.map((q) => `SELECT COUNT(*) FROM ${q};`),
      ...quoted.map((q) => `TRUNCATE TABLE ${q};`),
      'UNLOCK TABLES;',
    ].join('\n');
    const rows = await mariadbQuery(conn, database, script);
    return rows.reduce((sum, r) => sum + Number(r[0]), 0);
  },

  async deleteOlderThan(conn, database, table, column, days) {
    checkDays(days);
    const name = matchTable(await baseTables(conn, database), table, database);
    const cols = await mariadbQuery(
      conn,
      database,
      `SELECT COLUMN_NAME, DATA_TYPE FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ${lit(database)} AND TABLE_NAME = ${lit(name)};`,
    );
    // Column names are case-insensitive in MariaDB and MySQL.
    const col = cols.find(([c]) => c!.toLowerCase() === column.toLowerCase());
    if (!col)
      throw new BackupError(
        'invalid',
        `column '${column}' does not exist in table '${name}' of database '${database}'`,
        { code: 'ColumnNotFound' },
      );
    if (!['date', 'datetime', 'timestamp'].includes(col[1]!.toLowerCase())) {
      throw new BackupError(
        'invalid',
        `column '${column}' of '${name}' is ${col[1]}, not a date or timestamp: choose the column that holds the row's time`,
        { code: 'ColumnNotTimestamp' },
      );
    }
    const rows = await mariadbQuery(
      conn,
      database,
      [
        `SET SESSION lock_wait_timeout = ${lockTimeoutOf(conn)}, SESSION innodb_lock_wait_timeout = ${lockTimeoutOf(conn)};`,
        'START TRANSACTION;',
        `DELETE FROM ${quoteIdent(name)} WHERE ${quoteIdent(col[0]!)} < NOW() - INTERVAL ${days} DAY;`,
        'SELECT ROW_COUNT();',
        'COMMIT;',
      ].join('\n'),
    );
    return Number(rows[0]?.[0] ?? 0);
  },
};
