// Opens the metadata database: a PostgreSQL server when DATABASE_URL is set, else embedded PGlite in DATA_DIR.
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core';
import * as schema from './schema.ts';
import type { DatabaseEnv } from '../common/config.ts';

export type Db = PgDatabase<PgQueryResultHKT, typeof schema>;
export type Tx = Parameters<Parameters<Db['transaction']>[0]>[0];

export interface DbHandle {
  db: Db;
  kind: 'postgres' | 'pglite';
  close(): Promise<void>;
}

export const MIGRATIONS_FOLDER = fileURLToPath(new URL('./migrations', import.meta.url));

export async function openDb(env: DatabaseEnv, opts: { migrate?: boolean } = {}): Promise<DbHandle> {
  let handle: DbHandle;
  if (env.DATABASE_URL) {
    const { default: postgres } = await import('postgres');
    const { drizzle } = await import('drizzle-orm/postgres-js');
    const client = postgres(env.DATABASE_URL, { max: 10, onnotice: () => {} });
    const db = drizzle({ client, schema });
    if (opts.migrate) {
      const { migrate } = await import('drizzle-orm/postgres-js/migrator');
      await migrate(db, { migrationsFolder: MIGRATIONS_FOLDER });
    }
    handle = { db: db as unknown as Db, kind: 'postgres', close: () => client.end({ timeout: 5 }) };
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
