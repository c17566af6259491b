// The site worker's own configuration file: where backups go and how to reach each server, secrets included.
// It never leaves the site: activities receive a server's *name* and look its settings up here.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { ENGINES } from '../db/schema.ts';
import { SERVER_NAME_RE } from '../common/names.ts';
import { BackupError, invalid } from '../common/errors.ts';

const serverSchema = z
  .object({
    engine: z.enum(ENGINES),
    host: z.string().min(1).default('127.0.0.1'),
    port: z.number().int().min(1).max(65535).optional(),
    user: z.string().min(1),
    /** One of these three gives the password; a file or an environment variable keeps it out of this file. */
    password: z.string().optional(),
    passwordFile: z.string().optional(),
    passwordEnv: z.string().optional(),
  })
  .refine((s) => [s.password, s.passwordFile, s.passwordEnv].filter((v) => v !== undefined).length <= 1, {
    message: 'give at most one of password, passwordFile, passwordEnv',
  });

export const siteConfigSchema = z.object({
  /** The API the worker checks in with, using the connection key shown when the site was created. */
  apiUrl: z.string().url(),
  siteKey: z.string().min(20),
  backupsDir: z.string().min(1),
  servers: z.record(z.string().regex(SERVER_NAME_RE, 'server names are lower-case letters, digits, . _ -'), serverSchema),
});
export type SiteConfigFile = z.infer<typeof siteConfigSchema>;
export type ServerSettings = z.infer<typeof serverSchema>;

export interface ServerConnection {
  engine: ServerSettings['engine'];
  host: string;
  port: number | undefined;
  user: string;
  password: string | undefined;
}

export class SiteConfig {
  readonly file: SiteConfigFile;
  readonly sourcePath: string;
  constructor(file: SiteConfigFile, sourcePath: string) {
    this.file = file;
    this.sourcePath = sourcePath;
  }

  static async load(file: string): Promise<SiteConfig> {
    const raw = JSON.parse(await readFile(file, 'utf8')) as unknown;
    const parsed = siteConfigSchema.safeParse(raw);
    if (!parsed.success) {
      const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
      throw new Error(`Invalid site configuration ${file}:\n${lines.join('\n')}`);
    }
    const cfg = parsed.data;
    cfg.backupsDir = path.resolve(path.dirname(file), cfg.backupsDir);
    return new SiteConfig(cfg, file);
  }

  get backupsDir(): string {
    return this.file.backupsDir;
  }

  /** Connection settings for a server, password resolved now so a rotated secret is picked up without a restart. */
  async connection(serverName: string): Promise<ServerConnection> {
    const s = this.file.servers[serverName];
    if (!s) {
      throw invalid(`server '${serverName}' is not in this site's configuration (${this.sourcePath}): add it under "servers"`);
    }
    let password = s.password;
    if (s.passwordFile) password = (await readFile(s.passwordFile, 'utf8')).trimEnd();
    if (s.passwordEnv) {
      password = process.env[s.passwordEnv];
      if (password === undefined) throw invalid(`server '${serverName}': environment variable ${s.passwordEnv} is not set`);
    }
    return { engine: s.engine, host: s.host, port: s.port, user: s.user, password };
  }

  /** The folder of one database's backups at this site. */
  folder(serverName: string, database: string): string {
    if (!SERVER_NAME_RE.test(serverName)) throw new BackupError('invalid', `bad server name '${serverName}'`);
    return path.join(this.backupsDir, serverName, database);
  }
}
