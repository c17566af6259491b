// dryRun: everything a backup of a configuration needs, checked at the site without storing a byte. Each check
// passes or says why it fails; the report is the result, not an error.
import { statfs } from 'node:fs/promises';
import { BackupError } from '../../common/errors.ts';
import type { CleanTable } from '../../common/model.ts';
import type { DryRunCheck, DryRunReport } from '../contracts.ts';
import type { DatabaseEngine } from '../engines/engine.ts';
import { makeFolder } from '../disk-faults.ts';
import { asActivity } from '../failure.ts';
import { keyId } from '../pipeline/envelope.ts';
import type { ServerConnection, SiteConfig } from '../site-config.ts';
import type { SiteContext } from './context.ts';
import { formatBytes } from '../../common/format.ts';

export interface DryRunInput {
  serverName: string;
  databases: string[];
  tables: CleanTable[];
  destinations: string[];
  encrypt: boolean;
}

/** A planning figure for the duration estimate: dump, compress and hash on one core move about this much. */
const DUMP_BYTES_PER_SECOND = 100 * 1024 * 1024;

/** Runs one check and records its verdict: what `fn` answers, described, or the message it failed with. */
type Check = <T>(name: string, fn: () => Promise<T>, describe: (v: T) => string) => Promise<T | undefined>;

export function createDryRun(site: SiteContext) {
  const { config, identity } = site;
  /** Everything a backup needs, checked without storing a byte: each check passes or says why it fails. */
  return async function dryRun(input: DryRunInput): Promise<DryRunReport> {
    return asActivity(async () => {
      const checks: DryRunCheck[] = [];
      const check: Check = async (name, fn, describe) => {
        try {
          const v = await fn();
          checks.push({ name, ok: true, detail: describe(v) });
          return v;
        } catch (err) {
          checks.push({ name, ok: false, detail: err instanceof Error ? err.message : String(err) });
          return undefined;
        }
      };
      const settings = await check(
        'server configuration',
        () => site.engineFor(input.serverName),
        ({ engine }) => `${engine.name} server '${input.serverName}' is in the site configuration`,
      );
      const estimatedBytes = settings ? await checkServer(check, settings, input) : 0;
      const freeBytes = await checkFreeSpace(check, config, estimatedBytes);
      if (input.encrypt)
        await check(
          'encryption key',
          () => site.requireMasterKey().then(keyId),
          (id) => `tenant key ${id}`,
        );
      for (const name of input.destinations) {
        await check(
          `destination ${name}`,
          () =>
            site.withStorage(name, async (s) => {
              await s.probeWritable(`${identity.tenantId}/${identity.siteId}`);
              return s.locationOf(`${identity.tenantId}/${identity.siteId}`);
            }),
          (where) => `writable: ${where}`,
        );
      }
      const report = {
        ok: checks.every((c) => c.ok),
        checks,
        estimatedBytes,
        estimatedSeconds: Math.ceil(estimatedBytes / DUMP_BYTES_PER_SECOND),
        freeBytes,
      };
      site
        .runLogger({ server: input.serverName })
        .info(
          { dry_run: { ok: report.ok, failed: checks.filter((c) => !c.ok).map((c) => c.name) } },
          'dry run finished',
        );
      return report;
    });
  };
}

/** The login, the dump tool against the server's version, and each database; answers the databases' total size. */
async function checkServer(
  check: Check,
  { conn, engine }: { conn: ServerConnection; engine: DatabaseEngine },
  input: DryRunInput,
): Promise<number> {
  let estimatedBytes = 0;
  const server = await check(
    'connection',
    () => engine.serverVersion(conn),
    (v) => `logged in; server version ${v}`,
  );
  await check(
    'dump tool',
    async () => {
      const tool = await engine.dumpToolVersion();
      if (server) compareVersions(engine.name, tool, server);
      return tool;
    },
    (v) => v,
  );
  for (const database of input.databases) {
    const ok = await check(
      `database ${database}`,
      async () => {
        if (!(await engine.databaseExists(conn, database)))
          throw new BackupError('invalid', `database '${database}' does not exist`);
        return engine.estimateSize(conn, database);
      },
      (n) => `exists, about ${formatBytes(n)}`,
    );
    if (ok === undefined) continue;
    estimatedBytes += ok;
    if (input.tables.length > 0)
      await check(
        `tables to clean in ${database}`,
        () =>
          engine.resolveTables(
            conn,
            database,
            input.tables.map((t) => t.table),
          ),
        (t) => `${t.length} found`,
      );
    // Counting rows reads every table the dump reads: a missing grant shows up here.
    await check(
      `read access to ${database}`,
      () => engine.tableRowCounts(conn, database, { exactBelowRows: 10_000 }),
      (t) => `${t.length} tables readable`,
    );
  }
  return estimatedBytes;
}

/** Room for the dump in the site's Backups folder, beyond what the site keeps free; answers the free bytes. */
async function checkFreeSpace(check: Check, config: SiteConfig, estimatedBytes: number): Promise<number> {
  let freeBytes = 0;
  await check(
    'free space at the site',
    async () => {
      await makeFolder({
        folder: config.backupsDir,
        otherwise: `choose another folder as backupsDir in the site configuration (${config.sourcePath})`,
      });
      const fs = await statfs(config.backupsDir);
      freeBytes = fs.bavail * fs.bsize;
      const usable = freeBytes - config.file.minFreeBytes;
      // Uncompressed size is the honest upper bound: compression ratios vary too much to plan on.
      if (usable < estimatedBytes)
        throw new BackupError(
          'invalid',
          `${formatBytes(usable)} usable in ${config.backupsDir} (free ${formatBytes(freeBytes)} less the ${formatBytes(config.file.minFreeBytes)} kept free), but the databases hold about ${formatBytes(estimatedBytes)}`,
        );
      return usable;
    },
    (n) => `${formatBytes(n)} usable for about ${formatBytes(estimatedBytes)}`,
  );
  return freeBytes;
}

/** pg_dump refuses a server newer than itself; other tools are reported as they are. */
function compareVersions(engine: string, tool: string, server: string): void {
  if (engine !== 'postgresql') return;
  const major = (s: string) => Number(/(\d+)(?:\.\d+)?/.exec(s)?.[1] ?? NaN);
  if (major(tool) < major(server))
    throw new BackupError(
      'invalid',
      `${tool} cannot dump a PostgreSQL ${major(server)} server: install the PostgreSQL ${major(server)} client tools at the site`,
    );
}

/** Bytes in binary units, as the dry run's messages show them. */
