// The platform's vocabulary: names, kinds and shapes that the API, the workers and the workflows share. No ORM here:
// the site worker and workflow code import this file, and `db/schema.ts` builds its tables on it.
import type { RetentionPolicy } from './retention.ts';

export const ROLES = ['viewer', 'operator', 'admin', 'owner'] as const;
export type Role = (typeof ROLES)[number];
export const ENGINES = ['postgresql', 'mariadb', 'sqlite', 'mongodb'] as const;
export type Engine = (typeof ENGINES)[number];
/** `partial`: the dump succeeded but at least one destination did not take its copy. */
export const BACKUP_STATUSES = ['running', 'succeeded', 'partial', 'failed', 'cancelled'] as const;
export type BackupStatus = (typeof BACKUP_STATUSES)[number];

export const DESTINATION_KINDS = ['local', 'azure', 'sftp', 's3'] as const;
export type DestinationKind = (typeof DESTINATION_KINDS)[number];
/** Where a tenant's alerts go (README "Notifications"). */
export const CHANNEL_KINDS = ['email', 'slack', 'teams', 'discord', 'telegram', 'webhook'] as const;
export type ChannelKind = (typeof CHANNEL_KINDS)[number];
/** What a channel may ask to hear of. */
export const NOTIFY_EVENTS = [
  'backup.failed',
  'backup.partial',
  'backup.missed',
  'copy.lost',
  'copy.corrupt',
  'drill.failed',
  'restore.finished',
  'restore.failed',
  'database.vanished',
  'mirror.failed',
  'site.offline',
  'site.online',
] as const;
export type NotifyEvent = (typeof NOTIFY_EVENTS)[number];
/** What the platform knows of one copy of a backup. `missing`: it should exist and does not (an upload failed, or
 * the object vanished); `corrupt`: it exists but its size or SHA-256 differs; `deleted`: retention removed it. */
export const COPY_STATES = ['stored', 'missing', 'corrupt', 'deleted'] as const;
export type CopyState = (typeof COPY_STATES)[number];
/** The copy in the site's own Backups folder is the target named `site`; every other target is a destination. */
export const SITE_TARGET = 'site';

export type ScheduleSpec =
  | { kind: 'daily'; time: string }
  | { kind: 'biweekly'; time: string; weekday: number }
  | { kind: 'monthly'; time: string; dayOfMonth: number }
  | { kind: 'cron'; expression: string };

/**
 * - `exclude`: keep the table's schema, leave its rows out of the backup; the source is not touched (the default).
 * - `truncate`: empty the table at the source before the dump. Destructive: needs the configuration's confirmation.
 * - `deleteOlderThan`: delete the source rows whose `column` is older than `days` days, then dump. Destructive too.
 */
export type CleanTable =
  | { table: string; mode: 'exclude' }
  | { table: string; mode: 'truncate' }
  | { table: string; mode: 'deleteOlderThan'; column: string; days: number };

export const COMPRESSIONS = ['zstd', 'gzip'] as const;
export type CompressionAlgorithm = (typeof COMPRESSIONS)[number];
export interface Compression {
  algorithm: CompressionAlgorithm;
  level: number;
  /**
   * zstd only: long-distance matching. At its low levels zstd looks back less than 2 MiB for a repeat; a database dump
   * repeats values (the same text, JSON, addresses) rows and megabytes apart, and with this zstd also finds repeats up
   * to 64 MiB back. Costs CPU (at level 1 about 1.8× zstd's own time) and 64 MiB more memory in the compressor and the
   * decompressor. Absent (configurations made before it existed): off.
   */
  long?: boolean;
}
/**
 * zstd level 1 with long-distance matching: smaller than `pg_dump -Fc`'s file while the dump keeps close to the pace of
 * the database producing it on a two-core site. No level gets there alone in that time: level 6, the first as small,
 * makes the dump 1.5× slower even on two threads; level 2 with the same matching costs 20% more CPU for 0.2% less
 * output (BENCHMARKS.md).
 */
export const DEFAULT_COMPRESSION: Compression = { algorithm: 'zstd', level: 1, long: true };
/** MongoDB's own databases: never listed for `"*"`, never a restore's target. */
export const MONGODB_SYSTEM_DATABASES: readonly string[] = ['admin', 'local', 'config'];
/** File extension of each engine's dump format. */
export const DUMP_FORMAT: Record<Engine, string> = {
  postgresql: 'pgdump',
  mariadb: 'sql',
  sqlite: 'sqlite',
  /** mongodump's `--archive` format. */
  mongodb: 'mongoarchive',
};

export interface DrillSpec {
  schedule: ScheduleSpec;
  /** How far a table's restored row count may differ from the count at backup time, in percent. */
  tolerancePercent: number;
  /** SQL run in the restored scratch database; each must return true (a single boolean-like value). */
  assertions: string[];
}

export const RESTORE_KINDS = ['restore', 'drill'] as const;
export type RestoreKind = (typeof RESTORE_KINDS)[number];

/** `globals`: a PostgreSQL server's roles, memberships, tablespaces and database grants, one per run (GLOBALS_DATABASE). */
export const BACKUP_KINDS = ['backup', 'dry-run', 'globals'] as const;
export type BackupKind = (typeof BACKUP_KINDS)[number];

/**
 * The `database` of a run's globals row and the folder of its files: not a name a configuration accepts
 * (DATABASE_NAME_RE), so it cannot be taken for one of the server's databases.
 */
export const GLOBALS_DATABASE = '@globals';
/** A configuration's PostgreSQL globals; null: none. Role passwords (their hashes) only in encrypted backups. */
export interface GlobalsSpec {
  rolePasswords: boolean;
}

export interface TableCount {
  table: string;
  rows: number;
  exact: boolean;
}

/** Retention per target, decided by `common/retention.ts` in the configuration's time zone. */
export type { RetentionPolicy };

export interface ConfigDestination {
  destinationId: string;
  retention: RetentionPolicy;
}

/**
 * A configuration's `databases: ["*"]`: every database the server has at the time of each run, less its
 * `excludeDatabases`. The engines leave out system databases (templates and `postgres`; MariaDB's mysql, sys and the
 * schemas).
 */
export const ALL_DATABASES = '*';
export const isAllDatabases = (databases: readonly string[]): boolean =>
  databases.length === 1 && databases[0] === ALL_DATABASES;

/**
 * What a backup holds. `full`: everything; `differential`: what changed since the last full; `incremental`: what
 * changed since the last backup of any type. A database dump is always full (README: engines and native increments).
 */
export const BACKUP_TYPES = ['full', 'differential', 'incremental'] as const;
export type BackupType = (typeof BACKUP_TYPES)[number];
