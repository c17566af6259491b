import { spawn } from 'node:child_process';
import postgres from 'postgres';
import { BackupError } from '../../common/errors.ts';
import type { ServerConnection } from '../site-config.ts';
import type { DatabaseEngine, DumpStream } from './engine.ts';

/** Turns a libpq/pg_dump message into what the admin must do, and whether retrying can help. */
export function classifyPgError(message: string, conn: ServerConnection, database: string): BackupError {
  const m = message.toLowerCase();
  const where = `server ${conn.host}:${conn.port ?? 5432}, user '${conn.user}'`;
  if (m.includes('password authentication failed') || m.includes('no password supplied') || m.includes('28p01')) {
    return new BackupError('auth', `PostgreSQL refused the login (${where}): check the password for this server in the site configuration`, { code: 'AuthenticationFailed' });
  }
  if (/database ".*" does not exist/.test(m) || m.includes('3d000')) {
    return new BackupError('invalid', `database '${database}' does not exist on ${where}: fix the database list of the backup configuration`, { code: 'DatabaseNotFound' });
  }
  if (m.includes('permission denied') || m.includes('42501')) {
    return new BackupError('invalid', `permission denied on ${where}: ${message.trim().split('\n')[0]}. Grant the backup user read access`, { code: 'PermissionDenied' });
  }
  if (m.includes('pg_hba.conf') || m.includes('role') && m.includes('does not exist')) {
    return new BackupError('auth', `PostgreSQL refused the connection (${where}): ${message.trim().split('\n')[0]}`, { code: 'AuthenticationFailed' });
  }
  return new BackupError('unavailable', `PostgreSQL (${where}): ${message.trim().split('\n').slice(-3).join(' ')}`);
}

const quoteIdent = (s: string) => `"${s.replaceAll('"', '""')}"`;

export const postgresEngine: DatabaseEngine = {
  name: 'postgresql',
  format: 'pgdump',

  async resolveTables(conn, database, tables) {
    const sql = postgres({
      host: conn.host, port: conn.port ?? 5432, user: conn.user, password: conn.password, database,
      max: 1, connect_timeout: 10, onnotice: () => {}, connection: { application_name: 'backup-site-worker' },
    });
    try {
      const resolved: string[] = [];
      for (const table of tables) {
        const rows = await sql<{ schema: string; name: string }[]>`
          select n.nspname as schema, c.relname as name
          from pg_class c join pg_namespace n on n.oid = c.relnamespace
          where c.oid = to_regclass(${table}) and c.relkind in ('r', 'p')`;
        const row = rows[0];
        if (!row) {
          throw new BackupError('invalid', `table '${table}' does not exist in database '${database}': fix the tables to clean in the backup configuration`, { code: 'TableNotFound' });
        }
        resolved.push(`${quoteIdent(row.schema)}.${quoteIdent(row.name)}`);
      }
      if (tables.length === 0) await sql`select 1`;
      return resolved;
    } catch (err) {
      if (err instanceof BackupError) throw err;
      const e = err as { code?: string; message?: string };
      throw classifyPgError(`${e.code ?? ''} ${e.message ?? String(err)}`, conn, database);
    } finally {
      await sql.end({ timeout: 2 });
    }
  },

  dump(conn, database, { excludeTableData }): DumpStream {
    const args = ['--format=custom', '--compress=0', '--no-password', `--dbname=${database}`, `--host=${conn.host}`, `--username=${conn.user}`];
    if (conn.port) args.push(`--port=${conn.port}`);
    for (const t of excludeTableData) args.push(`--exclude-table-data=${t}`);
    // The password goes in the environment of the child only, never on its command line (visible in ps).
    const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, LANG: 'C', PGCONNECT_TIMEOUT: '10', PGAPPNAME: 'backup-site-worker' };
    if (conn.password !== undefined) env.PGPASSWORD = conn.password;
    const child = spawn(process.env.PG_DUMP ?? 'pg_dump', args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-8000)));
    const done = new Promise<void>((resolve, reject) => {
      child.on('error', (e) => reject(new BackupError('invalid', `cannot run pg_dump: ${e.message}. Install the PostgreSQL client at the site`, { code: 'DumpToolMissing' })));
      child.on('close', (code, signal) => {
        if (code === 0) resolve();
        else reject(classifyPgError(stderr || `pg_dump ended with ${signal ?? `exit code ${code}`}`, conn, database));
      });
    });
    done.catch(() => {}); // observed by the caller; this keeps an early failure from being reported as unhandled
    return { stdout: child.stdout, done, kill: () => child.kill('SIGTERM') };
  },
};

export const engines = { postgresql: postgresEngine } as const;
