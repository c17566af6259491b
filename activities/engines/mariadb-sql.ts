// Talking to MariaDB or MySQL through their own client: the tools and where to find them, the login in a private
// option file, statements run in batch mode with their rows parsed, names quoted and matched, and what a client or
// dump tool message means for the admin.
import { chmod, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { BackupError } from '../../common/errors.ts';
import type { ServerConnection } from '../site-config.ts';
import { tableBusy } from './engine.ts';
import { findTool, runTool, toolMissing, type ToolRun } from './tools.ts';

const HINT = 'Install the MariaDB client (mariadb, mariadb-dump) or the MySQL client (mysql, mysqldump) at the site';
const clientTool = () => process.env.MARIADB_CLIENT ?? findTool(['mariadb', 'mysql']);
export const dumpTool = () => process.env.MARIADB_DUMP ?? findTool(['mariadb-dump', 'mysqldump']);
export const clientMissing = () => toolMissing('mariadb or mysql', HINT, 'ClientToolMissing');
export const dumpMissing = () => toolMissing('mariadb-dump or mysqldump', HINT);

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

export const quoteIdent = (s: string) => `\`${s.replaceAll('`', '``')}\``;
/** A string literal that no sql_mode (NO_BACKSLASH_ESCAPES, ANSI_QUOTES) can misread. */
export const lit = (s: string) =>
  s === '' ? "''" : `CONVERT(X'${Buffer.from(s, 'utf8').toString('hex')}' USING utf8mb4)`;

export function checkDatabaseName(database: string): void {
  if (!database || database.includes('\0') || database.startsWith('-') || database.length > 64) {
    throw new BackupError('invalid', `'${database}' is not a valid MariaDB database name`, {
      code: 'DatabaseNotFound',
    });
  }
}

/** Option-file value: quoted, so `#`, spaces and quotes in a password survive. */
const optionValue = (s: string) =>
  `"${s.replaceAll('\\', '\\\\').replaceAll('"', '\\"').replaceAll('\n', '\\n').replaceAll('\r', '\\r').replaceAll('\t', '\\t')}"`;

/** Whether a process lives (EPERM: it does, under another user). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

let orphansRemoved: Promise<void> | undefined;

/**
 * Login folders of processes that died before their `finally` ran (a site worker killed mid-restore): the first login
 * of a process after that removes them, so a password does not stay on disk for good. The folder names its process.
 */
function removeOrphanedLogins(): Promise<void> {
  orphansRemoved ??= (async () => {
    for (const name of await readdir(os.tmpdir()).catch(() => [] as string[])) {
      const pid = Number(/^bp-my-(\d+)-/.exec(name)?.[1] ?? 0);
      if (pid > 0 && pid !== process.pid && !alive(pid))
        await rm(path.join(os.tmpdir(), name), { recursive: true, force: true }).catch(() => {});
    }
  })();
  return orphansRemoved;
}

/**
 * Writes the login to a private option file for the tools run in `fn`, and removes it afterwards. The password never
 * appears on a command line (ps) or in the environment (/proc/<pid>/environ). `--defaults-file` keeps a stray
 * ~/.my.cnf of the worker's user from changing which server or user is used.
 */
export async function withLogin<T>(conn: ServerConnection, fn: (optionFile: string) => Promise<T>): Promise<T> {
  await removeOrphanedLogins();
  const dir = await mkdtemp(path.join(os.tmpdir(), `bp-my-${process.pid}-`));
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

export const toolEnv = (): NodeJS.ProcessEnv => ({ PATH: process.env.PATH, LANG: 'C' });

export function clientRun(optionFile: string, database: string | undefined, extra: string[] = []): ToolRun {
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

export async function baseTables(conn: ServerConnection, database: string): Promise<string[]> {
  const rows = await mariadbQuery(
    conn,
    database,
    `SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = ${lit(database)} AND TABLE_TYPE IN ('BASE TABLE', 'SYSTEM VERSIONED') ORDER BY TABLE_NAME;`,
  );
  return rows.map((r) => r[0]!);
}

/** `name` or `<database>.name`; exact first, then case-insensitively when that is unambiguous (lower_case_table_names). */
export function matchTable(all: string[], table: string, database: string): string {
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
