// Opens the metadata database: a PostgreSQL server when DATABASE_URL is set, else embedded PGlite in DATA_DIR.
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core';
import * as schema from './schema.ts';
import type { DatabaseEnv } from '../common/config.ts';
import { answerWatchdog } from './outage.ts';

export type Db = PgDatabase<PgQueryResultHKT, typeof schema>;
export type Tx = Parameters<Parameters<Db['transaction']>[0]>[0];

export interface DbHandle {
  db: Db;
  kind: 'postgres' | 'pglite';
  close(): Promise<void>;
}

export const MIGRATIONS_FOLDER = fileURLToPath(new URL('./migrations', import.meta.url));

export interface OpenDbOptions {
  migrate?: boolean;
  /**
   * A server that leaves a query unanswered this long ends that connection (the query fails, the pool opens another):
   * the API's requests must not wait on a hung server. Unset for the workers, whose long queries may take their time.
   */
  answerTimeoutMs?: number;
}

/**
 * How the pool meets a server that is away: a closed connection is opened again after at most half a second (the
 * driver's default wait grows with every failed attempt in the pool up to 20 s, which a query sits through even once
 * the server is back), a new connection that gets no answer in 5 s gives up, and idle connections are closed after a
 * minute, so one that died unseen is not kept.
 */
const POOL_OPTIONS = {
  max: 10,
  connect_timeout: 5,
  idle_timeout: 60,
  backoff: (retries: number) => Math.min(0.05 * 2 ** retries, 0.5),
  onnotice: () => {},
};

export async function openDb(env: DatabaseEnv, opts: OpenDbOptions = {}): Promise<DbHandle> {
  let handle: DbHandle;
  if (env.DATABASE_URL) {
    const { default: postgres } = await import('postgres');
    const { drizzle } = await import('drizzle-orm/postgres-js');
    const watchdog = opts.answerTimeoutMs ? answerWatchdog(opts.answerTimeoutMs) : undefined;
    const client = postgres(env.DATABASE_URL, { ...POOL_OPTIONS, ...(watchdog && { socket: watchdog.socket }) });
    const db = drizzle({ client, schema });
    if (opts.migrate) {
      const { migrate } = await import('drizzle-orm/postgres-js/migrator');
      await migrate(db, { migrationsFolder: MIGRATIONS_FOLDER });
    }
    watchdog?.arm();
    const close = async () => {
      watchdog?.stop();
      await client.end({ timeout: 5 });
    };
    handle = { db: db as unknown as Db, kind: 'postgres', close };
  } else {
    const { PGlite } = await import('@electric-sql/pglite');
    const { drizzle } = await import('drizzle-orm/pglite');
    const dir = path.resolve(env.DATA_DIR, 'metadata');
    await mkdir(dir, { recursive: true });
    const client = new PGlite(dir);
    const db = drizzle({ client, schema });
    if (opts.migrate) {
      const { migrate } = await import('drizzle-orm/pglite/migrator');
      await migrate(db, { migrationsFolder: MIGRATIONS_FOLDER });
    }
    handle = { db: db as unknown as Db, kind: 'pglite', close: () => client.close() };
  }
  return handle;
}
