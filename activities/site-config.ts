// The site worker's own configuration file: where backups go and how to reach each server, secrets included.
// It never leaves the site: activities receive a server's *name* and look its settings up here.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { ENGINES, GLOBALS_DATABASE } from '../common/model.ts';
import { DATABASE_NAME_RE, SERVER_NAME_RE } from '../common/names.ts';
import { BackupError, invalid } from '../common/errors.ts';
import { destinationSettingsSchema, type DestinationSettings } from './storage/index.ts';
import { parseMasterKey } from './pipeline/crypto.ts';
import { secret } from './secrets.ts';

/** Seconds cleaning tables waits for a table another session is using, unless the server's settings say. */
export const DEFAULT_LOCK_TIMEOUT_SECONDS = 30;

const serverSchema = z
  .object({
    engine: z.enum(ENGINES),
    host: z.string().min(1).default('127.0.0.1'),
    port: z.number().int().min(1).max(65535).optional(),
    /** SQLite: the folder that holds the database files (a database is a file name in it); relative to this file. */
    folder: z.string().min(1).optional(),
    user: z.string().min(1).optional(),
    /** One of these three gives the password; a file or an environment variable keeps it out of this file. */
    password: z.string().optional(),
    passwordFile: z.string().optional(),
    passwordEnv: z.string().optional(),
    /** How long cleaning tables waits for a table another session is using before it gives up (and retries later). */
    lockTimeoutSeconds: z.number().int().min(1).max(3600).default(DEFAULT_LOCK_TIMEOUT_SECONDS),
  })
  .refine((s) => [s.password, s.passwordFile, s.passwordEnv].filter((v) => v !== undefined).length <= 1, {
    message: 'give at most one of password, passwordFile, passwordEnv',
  })
  // MongoDB servers often run without access control: no user means no login.
  .refine((s) => s.engine === 'sqlite' || s.engine === 'mongodb' || s.user !== undefined, {
    message: 'give the user to log in as',
    path: ['user'],
  })
  .refine((s) => s.engine !== 'sqlite' || s.folder !== undefined, {
    message: 'a SQLite server is a folder of database files: give "folder"',
    path: ['folder'],
  });

/** The tenant's key: it wraps each backup's data key. Every site of the tenant that restores needs the same key. */
const encryptionSchema = z
  .object({ key: z.string().optional(), keyFile: z.string().optional(), keyEnv: z.string().optional() })
  .refine((k) => [k.key, k.keyFile, k.keyEnv].filter((v) => v !== undefined).length === 1, {
    message: 'give exactly one of key, keyFile, keyEnv',
  });

export const siteConfigSchema = z.object({
  /** The API the worker checks in with, using the connection key shown when the site was created. */
  apiUrl: z.string().url(),
  siteKey: z.string().min(20),
  backupsDir: z.string().min(1),
  /** Space a backup must leave free in backupsDir; a dry run fails when the estimated size would cut into it. */
  minFreeBytes: z.number().int().min(0).default(0),
  encryption: encryptionSchema.optional(),
  servers: z.record(
    z.string().regex(SERVER_NAME_RE, 'server names are lower-case letters, digits, . _ -'),
    serverSchema,
  ),
  /**
   * Object mirrors fetch the signed URLs an application wrote into its own table: only public addresses, unless
   * listed here (hostnames, IPs or CIDR ranges of an object store on the site's own network).
   */
  mirrorAllow: z.array(z.string().min(1)).default([]),
  /** Where object mirrors keep their versions (`<root>/<bucket>/…`); backupsDir unless given. */
  mirrorRoot: z.string().min(1).optional(),
  /**
   * Folder trees this site backs up (file backups), by the name the API knows them by: absolute paths, and globs
   * (relative to each path) of what to include and exclude.
   */
  fileSources: z
    .record(
      z.string().regex(SERVER_NAME_RE, 'file source names are lower-case letters, digits, . _ -'),
      z.object({
        paths: z.array(z.string().startsWith('/', 'an absolute path')).min(1),
        include: z.array(z.string().min(1)).default([]),
        exclude: z.array(z.string().min(1)).default([]),
      }),
    )
    .default({}),
  /** Where file backups are restored: a restore names a new folder under it. Default: `restores` beside backupsDir. */
  restoresDir: z.string().min(1).optional(),
  /** Off-site places this site sends copies to, by the name the API knows them by; secrets stay here. */
  destinations: z
    .record(
      z
        .string()
        .regex(SERVER_NAME_RE, 'destination names are lower-case letters, digits, . _ -')
        .refine((n) => n !== 'site', "'site' names the site's own Backups folder"),
      z.intersection(
        destinationSettingsSchema,
        z.object({ maxBytesPerSecond: z.number().int().positive().optional() }),
      ),
    )
    .default({}),
});
export type SiteConfigFile = z.infer<typeof siteConfigSchema>;
/** The file as written (defaults not yet applied). */
export type SiteConfigInput = z.input<typeof siteConfigSchema>;
export type ServerSettings = z.infer<typeof serverSchema>;

export interface ServerConnection {
  engine: ServerSettings['engine'];
  host: string;
  port: number | undefined;
  user: string;
  password: string | undefined;
  /** The longest wait for a table lock; waiting longer would stall the application's own queries queued behind it. */
  lockTimeoutSeconds?: number;
}

export class SiteConfig {
  readonly file: SiteConfigFile;
  readonly sourcePath: string;
  constructor(file: SiteConfigFile, sourcePath: string) {
    this.file = file;
    this.sourcePath = sourcePath;
  }

  static async load(file: string): Promise<SiteConfig> {
    const text = await readFile(file, 'utf8');
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch (err) {
      // JSON.parse quotes the text around the fault, and this file holds secrets: at most the line goes out (when
      // the parser gives a position).
      const at = /position (\d+)/.exec(err instanceof Error ? err.message : '')?.[1];
      const where = at === undefined ? '' : ` at line ${text.slice(0, Number(at)).split('\n').length}`;
      throw new Error(`Invalid site configuration ${file}: not valid JSON${where}`);
    }
    const parsed = siteConfigSchema.safeParse(raw);
    if (!parsed.success) {
      const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
      throw new Error(`Invalid site configuration ${file}:\n${lines.join('\n')}`);
    }
    const cfg = parsed.data;
    cfg.backupsDir = path.resolve(path.dirname(file), cfg.backupsDir);
    cfg.mirrorRoot = path.resolve(path.dirname(file), cfg.mirrorRoot ?? cfg.backupsDir);
    if (cfg.restoresDir) cfg.restoresDir = path.resolve(path.dirname(file), cfg.restoresDir);
    for (const s of Object.values(cfg.servers)) if (s.folder) s.folder = path.resolve(path.dirname(file), s.folder);
    return new SiteConfig(cfg, file);
  }

  get backupsDir(): string {
    return this.file.backupsDir;
  }

  /** Connection settings for a server, password resolved now so a rotated secret is picked up without a restart. */
  async connection(serverName: string): Promise<ServerConnection> {
    const s = this.file.servers[serverName];
    if (!s) {
      throw invalid(
        `server '${serverName}' is not in this site's configuration (${this.sourcePath}): add it under "servers"`,
      );
    }
    // A file's trailing newline is not part of the password; spaces it begins with may be.
    const given = secret(`servers.${serverName}.password`, s.password, s.passwordEnv, s.passwordFile, false);
    const password = s.passwordFile ? given?.trimEnd() : given;
    // An SQLite "server" is its folder: the engine finds the database files there.
    return {
      engine: s.engine,
      host: s.engine === 'sqlite' ? s.folder! : s.host,
      port: s.port,
      user: s.user ?? '',
      password,
      lockTimeoutSeconds: s.lockTimeoutSeconds,
    };
  }

  /** The tenant's key, read at each use (a rotated key needs no restart); `undefined` when the site has none. */
  async masterKey(): Promise<Buffer | undefined> {
    const e = this.file.encryption;
    if (!e) return undefined;
    return parseMasterKey(secret('encryption.key', e.key, e.keyEnv, e.keyFile)!);
  }

  /** Connection settings of a destination, as the storage backends take them. */
  destination(name: string): DestinationSettings {
    const d = this.file.destinations[name];
    if (!d)
      throw new BackupError(
        'invalid',
        `destination '${name}' is not in this site's configuration (${this.sourcePath}): add it under "destinations"`,
        { code: 'DestinationNotFound' },
      );
    return d;
  }

  /** The bandwidth limit of a destination, if it has one. */
  destinationLimit(name: string): number | undefined {
    return this.file.destinations[name]?.maxBytesPerSecond;
  }

  /** A folder tree of the site configuration, for a file backup. */
  fileSource(name: string): SiteConfigFile['fileSources'][string] {
    const f = this.file.fileSources[name];
    if (!f)
      throw invalid(
        `file source '${name}' is not in this site's configuration (${this.sourcePath}): add it under "fileSources"`,
      );
    return f;
  }

  get restoresDir(): string {
    return this.file.restoresDir ?? path.join(path.dirname(this.backupsDir), 'restores');
  }

  /** The folder of one database's backups at this site. */
  folder(serverName: string, database: string): string {
    if (!SERVER_NAME_RE.test(serverName)) throw new BackupError('invalid', `bad server name '${serverName}'`);
    if (database !== GLOBALS_DATABASE && !DATABASE_NAME_RE.test(database))
      throw new BackupError('invalid', `bad database name ${JSON.stringify(database)}`);
    return path.join(this.backupsDir, serverName, database);
  }
}
