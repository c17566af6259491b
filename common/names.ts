// Names shared by the API, the workers and the workflows. Pure functions only: workflows import this file.
import { defineSearchAttributeKey, SearchAttributeType, type SearchAttributePair } from '@temporalio/common';

export const CENTRAL_TASK_QUEUE = 'backup-central';

export const siteTaskQueue = (siteId: string): string => `site-${siteId}`;
export const scheduleId = (configId: string): string => `backup-config-${configId}`;
/** The Temporal Schedule of an object mirror. */
export const mirrorScheduleId = (mirrorId: string) => `mirror-config-${mirrorId}`;
/** The schedule appends its own timestamp to this id for each run it starts. */
export const backupWorkflowIdPrefix = (configId: string): string => `backup-${configId}`;

export const SearchAttr = {
  tenant: defineSearchAttributeKey('BackupTenant', SearchAttributeType.KEYWORD),
  site: defineSearchAttributeKey('BackupSite', SearchAttributeType.KEYWORD),
  server: defineSearchAttributeKey('BackupServer', SearchAttributeType.KEYWORD),
  database: defineSearchAttributeKey('BackupDatabase', SearchAttributeType.KEYWORD_LIST),
  config: defineSearchAttributeKey('BackupConfig', SearchAttributeType.KEYWORD),
} as const;

/** What operators filter a configuration's runs by; a check of copies knows no site, server or database. */
export interface RunSearchKeys {
  tenantId: string;
  configId: string;
  siteId?: string;
  serverName?: string;
  databases?: string[];
}

/**
 * The typed search attributes of a configuration's runs, whether the schedule starts them or the run sets them itself:
 * each key given, in one order.
 */
export function runSearchAttributes(keys: RunSearchKeys): SearchAttributePair[] {
  const pairs: SearchAttributePair[] = [{ key: SearchAttr.tenant, value: keys.tenantId }];
  if (keys.siteId !== undefined) pairs.push({ key: SearchAttr.site, value: keys.siteId });
  if (keys.serverName !== undefined) pairs.push({ key: SearchAttr.server, value: keys.serverName });
  if (keys.databases !== undefined) pairs.push({ key: SearchAttr.database, value: keys.databases });
  pairs.push({ key: SearchAttr.config, value: keys.configId });
  return pairs;
}

const pad = (n: number, width = 2) => String(n).padStart(width, '0');

/** File extension of each compression algorithm. */
export const COMPRESSION_EXT = { zstd: 'zst', gzip: 'gz' } as const;

/**
 * `<database>_<yyyyMMdd>_<HHmmss>[_<run>].<format>[.<compression>][.enc]`, the time in UTC. `run` (8 hex characters
 * of the workflow run, `runTag`) keeps apart the files of two configurations of one database, or two runs, started in
 * the same second: without it they shared one name, and one run adopted (and its retention deleted) another's file.
 */
export function backupFileName(
  database: string,
  at: Date,
  format: string,
  compression?: string,
  encrypted = false,
  run?: string,
): string {
  const date = `${at.getUTCFullYear()}${pad(at.getUTCMonth() + 1)}${pad(at.getUTCDate())}`;
  const time = `${pad(at.getUTCHours())}${pad(at.getUTCMinutes())}${pad(at.getUTCSeconds())}`;
  const stem = [database, date, time, run].filter(Boolean).join('_');
  return [stem, format, compression, encrypted ? 'enc' : undefined].filter(Boolean).join('.');
}

/** The part of a run id that goes into its files' names: its last 8 hex digits (random in every UUID version). */
export const runTag = (runId: string): string => runId.replaceAll('-', '').slice(-8).toLowerCase();

const FILE_RE =
  /^(.+?)_(\d{4})(\d{2})(\d{2})_(\d{2})(\d{2})(\d{2})(?:_([0-9a-f]{8}))?\.([a-z0-9]+)(?:\.([a-z0-9]+))?(?:\.(enc))?$/;

export interface ParsedBackupFileName {
  database: string;
  takenAt: Date;
  format: string;
  compression: string | undefined;
  encrypted: boolean;
  /** The run's tag; undefined for files named before runs were tagged. */
  run: string | undefined;
}

export function parseBackupFileName(name: string): ParsedBackupFileName | undefined {
  const m = FILE_RE.exec(name);
  if (!m) return undefined;
  const [, database, y, mo, d, h, mi, s, run, format, compression, enc] = m;
  const takenAt = new Date(Date.UTC(+y!, +mo! - 1, +d!, +h!, +mi!, +s!));
  return { database: database!, takenAt, format: format!, compression, encrypted: enc === 'enc', run };
}

/**
 * PostgreSQL/MySQL identifiers we accept for table names: `table` or `schema.table`, each part a plain identifier.
 * Quoted identifiers with arbitrary characters are refused on purpose: they reach a command line and SQL.
 */
export const TABLE_NAME_RE = /^[A-Za-z_][A-Za-z0-9_$]{0,62}(\.[A-Za-z_][A-Za-z0-9_$]{0,62})?$/;
export const DATABASE_NAME_RE = /^[A-Za-z_][A-Za-z0-9_$.-]{0,62}$/;
/** A server's name is how the site worker finds its connection settings, and a folder name at the site. */
export const SERVER_NAME_RE = /^[a-z0-9][a-z0-9._-]{0,62}$/;

/** Off-site object key of a backup file: `<tenant>/<site>/<server>/<database>/<file>`. */
export const offsiteKey = (
  tenantId: string,
  siteId: string,
  serverName: string,
  database: string,
  fileName: string,
): string => [tenantId, siteId, serverName, database, fileName].join('/');

export const syncWorkflowId = (tenantId: string | undefined, at: Date): string =>
  `sync-${tenantId ?? 'all'}-${at.toISOString()}`;
export const dryRunWorkflowId = (configId: string, at: Date): string => `dryrun-${configId}-${at.toISOString()}`;
export const pruneWorkflowId = (configId: string, at: Date): string => `prune-${configId}-${at.toISOString()}`;
export const transferWorkflowId = (transferId: string): string => `download-${transferId}`;
export const verifyWorkflowId = (configId: string, at: Date): string => `verify-${configId}-${at.toISOString()}`;
export const drillWorkflowId = (configId: string, at: Date): string => `drill-${configId}-${at.toISOString()}`;
export const verifyScheduleId = (configId: string): string => `verify-config-${configId}`;
export const drillScheduleId = (configId: string): string => `drill-config-${configId}`;
export const restoreWorkflowId = (restoreId: string): string => `restore-${restoreId}`;
/** Hourly: alerts on configurations whose schedule stopped producing backups. */
export const WATCHDOG_SCHEDULE_ID = 'backup-watchdog';
/** One schedule checks every copy of every tenant. */
export const SYNC_SCHEDULE_ID = 'backup-sync';
/** Every minute: sites that stopped polling (site.offline) and came back (site.online). */
export const SITE_WATCH_SCHEDULE_ID = 'backup-site-watch';
export const channelTestWorkflowId = (channelId: string, nonce: string): string => `channel-test-${channelId}-${nonce}`;
