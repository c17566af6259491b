// What the cases share for one bench run: where to put files, the site configuration the activities are called
// with, and how the PostgreSQL tools reach the server.
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { SiteConfigInput } from '../../activities/site-config.ts';
import { PG_HOST, PG_PORT, PG_USER } from '../services/pg.ts';
import type { Cleanup } from './lib.ts';
import type { Results } from './report.ts';

/** The server name the direct activity calls use in their site configuration. */
export const SERVER = 'pg';

export interface BenchContext {
  cleanup: Cleanup;
  results: Results;
  /** Removed at the end, with everything in it. */
  tmp: string;
  runs: number;
  size: number;
  log: (msg: string) => void;
  /** A site configuration for calling site activities directly: the machine's PostgreSQL, a key, Azurite if any. */
  siteConfigPath: string;
  backupsDir: string;
  writeSiteConfig(extra?: Partial<SiteConfigInput>): Promise<void>;
}

export async function siteConfigWriter(
  tmp: string,
): Promise<Pick<BenchContext, 'siteConfigPath' | 'backupsDir' | 'writeSiteConfig'>> {
  const siteConfigPath = path.join(tmp, 'site.json');
  const backupsDir = path.join(tmp, 'backups');
  // A throw-away tenant key: the encrypted runs only need one that is the right size.
  const key = randomBytes(32).toString('hex');
  const writeSiteConfig = async (extra: Partial<SiteConfigInput> = {}) => {
    const config: SiteConfigInput = {
      apiUrl: 'http://127.0.0.1:9',
      siteKey: 'bench-'.padEnd(40, 'x'),
      backupsDir,
      encryption: { key },
      servers: { [SERVER]: { engine: 'postgresql', host: PG_HOST, port: PG_PORT, user: PG_USER } },
      ...extra,
    };
    await writeFile(siteConfigPath, JSON.stringify(config, null, 2));
  };
  await writeSiteConfig();
  return { siteConfigPath, backupsDir, writeSiteConfig };
}

/** The same connection arguments the platform's PostgreSQL engine gives its tools. */
export const pgArgs = (database: string) => [
  '--no-password',
  `--dbname=${database}`,
  `--host=${PG_HOST}`,
  `--port=${PG_PORT}`,
  `--username=${PG_USER}`,
];
export const toolEnv = () => ({ PATH: process.env.PATH, LANG: 'C' });
