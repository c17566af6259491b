// What a backup run works from: a snapshot of its configuration, read once at the start so an edit made mid-run does
// not change it, and the deployment's timeouts and retry pacing.
import { and, eq, inArray } from 'drizzle-orm';
import { BackupError } from '../../common/errors.ts';
import { DUMP_FORMAT, type RetentionPolicy } from '../../common/model.ts';
import { backupConfigs, destinations, servers, sites } from '../../db/schema.ts';
import type { BackupPlan, PlanDestination, RunTuning } from '../contracts.ts';
import { asActivity } from '../failure.ts';
import type { CentralContext } from './context.ts';

export function createRunTuning(central: CentralContext) {
  /** The timeouts and retry pacing of this deployment, for workflows that have no configuration to load. */
  return async function runTuning(): Promise<{ tuning: RunTuning }> {
    return { tuning: central.tuning };
  };
}

export function createLoadBackupPlan(central: CentralContext) {
  return async function loadBackupPlan(input: { configId: string }): Promise<BackupPlan> {
    return asActivity(async () => {
      const row = await configWithServer(central, input.configId, 'schedule');
      return {
        tenantId: row.config.tenantId,
        configId: row.config.id,
        configName: row.config.name,
        siteId: row.site.id,
        siteName: row.site.name,
        taskQueue: row.site.taskQueue,
        serverId: row.server.id,
        serverName: row.server.name,
        engine: row.server.engine,
        databases: row.config.databases,
        excludeDatabases: row.config.excludeDatabases,
        cleanTables: row.config.cleanTables,
        keepLocal: row.config.keepLocal,
        timezone: row.config.timezone,
        format: DUMP_FORMAT[row.server.engine],
        compression: row.config.compression,
        encrypt: row.config.encrypt,
        ...(row.config.globals && row.server.engine === 'postgresql' && { globals: row.config.globals }),
        destinations: await planDestinations(central, row.config.destinations, row.site.id),
        tuning: central.tuning,
      };
    });
  };
}

/** A configuration with its server and site; gone means its schedule outlived it, which the admin should remove. */
export async function configWithServer(central: CentralContext, configId: string, schedule: string) {
  const [row] = await central.db
    .select({ config: backupConfigs, server: servers, site: sites })
    .from(backupConfigs)
    .innerJoin(servers, eq(servers.id, backupConfigs.serverId))
    .innerJoin(sites, eq(sites.id, servers.siteId))
    .where(eq(backupConfigs.id, configId));
  if (!row)
    throw new BackupError('invalid', `backup configuration ${configId} no longer exists; delete its ${schedule}`, {
      code: 'ConfigNotFound',
    });
  return row;
}

/** The configuration's destinations with their names; one deleted since the configuration was saved is an error to fix. */
async function planDestinations(
  central: CentralContext,
  wanted: { destinationId: string; retention: RetentionPolicy }[],
  siteId: string,
): Promise<PlanDestination[]> {
  if (wanted.length === 0) return [];
  const rows = await central.db
    .select()
    .from(destinations)
    .where(
      and(
        eq(destinations.siteId, siteId),
        inArray(
          destinations.id,
          wanted.map((w) => w.destinationId),
        ),
      ),
    );
  return wanted.map((w) => {
    const d = rows.find((r) => r.id === w.destinationId);
    if (!d)
      throw new BackupError(
        'invalid',
        `destination ${w.destinationId} of this configuration no longer exists at its site: edit the configuration`,
        { code: 'DestinationNotFound' },
      );
    return { id: d.id, name: d.name, kind: d.kind, retention: w.retention };
  });
}
