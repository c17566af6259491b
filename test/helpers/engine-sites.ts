// A site of any engine mix, registered through the API with its worker running, and the site's own `restore`
// activity run in the SDK's activity context against the same configuration (same backupsDir, same servers).
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger as SdkLogger } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createLogger } from '../../common/logger.ts';
import { createSiteActivities } from '../../activities/site/index.ts';
import type { RestoreResult } from '../../activities/contracts.ts';
import { SiteConfig, siteConfigSchema, type SiteConfigInput } from '../../activities/site-config.ts';
import type { DestinationSettings } from '../../activities/storage/index.ts';
import { LogCapture, type SiteWorkerProcess, type Stack } from './stack.ts';
export { historyText } from './stack.ts';

export interface EngineSite {
  site: { id: string; name: string; key: string; [k: string]: unknown };
  /** API rows of the servers, by name. */
  servers: Record<string, { id: string; name: string; engine: string }>;
  destinations: Record<string, { id: string; name: string; kind: string }>;
  worker: SiteWorkerProcess;
  siteConfig: SiteConfigInput;
}

/**
 * Site → its worker (which checks in and reports the engines it has tools for) → the servers and destinations in the
 * API. The servers' settings, secrets included, go only into the site's own file.
 */
export async function setUpEngineSite(
  stack: Stack,
  token: string,
  opts: {
    backupsDir: string;
    servers: SiteConfigInput['servers'];
    encryption?: SiteConfigInput['encryption'];
    minFreeBytes?: number;
    destinations?: Record<string, DestinationSettings & { maxBytesPerSecond?: number }>;
    /** Extra environment of the worker process (e.g. a PATH without some dump tools). */
    env?: Record<string, string>;
  },
): Promise<EngineSite> {
  const site = await stack.api('POST', '/api/v1/sites', {
    token,
    body: { name: `site-${Math.random().toString(36).slice(2, 8)}` },
  });
  if (site.status !== 201) throw new Error(`site: ${site.status} ${JSON.stringify(site.body)}`);
  const siteConfig: SiteConfigInput = {
    apiUrl: stack.baseUrl,
    siteKey: site.body.key as string,
    backupsDir: opts.backupsDir,
    servers: opts.servers,
    destinations: opts.destinations ?? {},
    ...(opts.encryption && { encryption: opts.encryption }),
    ...(opts.minFreeBytes !== undefined && { minFreeBytes: opts.minFreeBytes }),
  };
  const worker = await stack.startSiteWorker(siteConfig, opts.env ? { env: opts.env } : undefined);
  const servers: EngineSite['servers'] = {};
  for (const [name, settings] of Object.entries(opts.servers)) {
    const res = await stack.api('POST', '/api/v1/servers', {
      token,
      body: { siteId: site.body.id, name, engine: settings.engine },
    });
    if (res.status !== 201) throw new Error(`server ${name}: ${res.status} ${JSON.stringify(res.body)}`);
    servers[name] = res.body;
  }
  const destinations: EngineSite['destinations'] = {};
  for (const [name, settings] of Object.entries(opts.destinations ?? {})) {
    const d = await stack.api('POST', '/api/v1/destinations', {
      token,
      body: { siteId: site.body.id, name, kind: settings.type },
    });
    if (d.status !== 201) throw new Error(`destination ${name}: ${d.status} ${JSON.stringify(d.body)}`);
    destinations[name] = d.body;
  }
  return { site: site.body, servers, destinations, worker, siteConfig };
}

/** The site activities built from a site configuration, as its worker builds them, with their log captured. */
export function siteActivitiesOf(siteConfig: SiteConfigInput, identity = { tenantId: 'test', siteId: 'test' }) {
  const config = new SiteConfig(
    siteConfigSchema.parse(siteConfig),
    path.join(path.dirname(siteConfig.backupsDir), 'site-config.json'),
  );
  const logs = new LogCapture();
  return { acts: createSiteActivities({ config, identity, logger: createLogger('test-site', logs) }), logs, config };
}

const quiet: SdkLogger = { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error() {} };

/**
 * Runs one activity in the SDK's activity context (attempt 1); its failures arrive as the ApplicationFailure it throws.
 * The SDK's own "Activity failed" lines stay quiet: the tests assert on the failures themselves.
 */
export function runActivity<A extends unknown[], R>(fn: (...args: A) => Promise<R>, ...args: A): Promise<R> {
  const mock = new MockActivityEnvironment({ attempt: 1, heartbeatTimeoutMs: 30_000 }, { logger: quiet });
  return (mock.run.bind(mock) as (f: unknown, ...a: unknown[]) => Promise<R>)(fn, ...args);
}

export interface BackupRow {
  fileName: string;
  sizeBytes: number;
  sha256: string;
  location: string;
}

/** The site copy's key (relative to backupsDir), from the history row's `site:<key>` location. */
export const siteKeyOf = (b: BackupRow) => {
  if (!b.location?.startsWith('site:')) throw new Error(`not a site copy: ${b.location}`);
  return b.location.slice('site:'.length);
};

/** Restores a backup's site copy into `database` of `serverName` with the site's real `restore` activity. */
export async function restoreBackup(
  siteConfig: SiteConfigInput,
  backup: BackupRow,
  target: { serverName: string; database: string; overwrite?: boolean; sha256?: string; sizeBytes?: number },
): Promise<RestoreResult> {
  const { acts } = siteActivitiesOf(siteConfig);
  return runActivity(acts.restore, {
    source: { target: 'site', key: siteKeyOf(backup) },
    sizeBytes: target.sizeBytes ?? backup.sizeBytes,
    sha256: target.sha256 ?? backup.sha256,
    fileName: backup.fileName,
    serverName: target.serverName,
    database: target.database,
    overwrite: target.overwrite ?? false,
  });
}

/** Every file under a folder, relative to it (none when the folder does not exist). */
export async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries
    .filter((e) => e.isFile())
    .map((e) => path.relative(dir, path.join(e.parentPath, e.name)))
    .sort();
}

/**
 * A run's Temporal history as text with its payloads decoded. `JSON.stringify` alone writes payload bytes as base64,
 * where a secret in an activity's input or result would go unseen.
 */

export interface ChildRestore {
  /** The process's exit code: not 0 when an exception nobody caught ended it. */
  code: number | null;
  outcome:
    | { ok: true; result: RestoreResult }
    | { ok: false; type: string | null; nonRetryable: boolean | null; message: string }
    | undefined;
  stderr: string;
}

/** `restoreBackup` in a child process: a failure that would crash a site worker shows as its exit code. */
export async function restoreInChild(
  siteConfig: SiteConfigInput,
  backup: BackupRow,
  target: Parameters<typeof restoreBackup>[2],
): Promise<ChildRestore> {
  const child = spawn(
    process.execPath,
    [fileURLToPath(new URL('./restore-child.ts', import.meta.url)), JSON.stringify({ siteConfig, backup, target })],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const [code] = (await once(child, 'close')) as [number | null];
  const line = stdout.split('\n').find((l) => l.startsWith('{'));
  return { code, outcome: line ? JSON.parse(line) : undefined, stderr };
}
