// The schedule belongs to the configuration: operators may pause and resume it in the Temporal Web UI or CLI (the
// row adopts that), but a schedule deleted, re-timed or given another action outside the API is put back. Every
// read of one configuration reconciles, and says what it found, so the API never reports a state Temporal does not
// have.
import { eq } from 'drizzle-orm';
import { ScheduleNotFoundError, type ScheduleDescription } from '@temporalio/client';
import { scheduleId } from '../../common/names.ts';
import { backupConfigs, servers } from '../../db/schema.ts';
import type { Services } from '../lib/services.ts';
import { scheduleError } from '../temporal/errors.ts';
import type { ConfigRow } from './schemas.ts';

export async function reconcileSchedule(s: Services, row: ConfigRow): Promise<{ row: ConfigRow; found: string[] }> {
  const found: string[] = [];
  const before = await describe(s, row.id);
  let current = row;
  if (!before) found.push('the schedule was missing in Temporal: recreated');
  else {
    if (before.state.paused !== row.paused) {
      const [adopted] = await s.db
        .update(backupConfigs)
        .set({ paused: before.state.paused, updatedAt: new Date() })
        .where(eq(backupConfigs.id, row.id))
        .returning();
      current = adopted ?? row;
      const note = before.state.note ? ` ("${before.state.note}")` : '';
      found.push(`${before.state.paused ? 'paused' : 'resumed'} in Temporal${note}: adopted`);
    }
    const action = before.action;
    const args = action.type === 'startWorkflow' ? (action.args as { configId?: string }[] | undefined) : undefined;
    if (
      action.type !== 'startWorkflow' ||
      action.workflowType !== 'backupWorkflow' ||
      action.taskQueue !== s.centralTaskQueue ||
      args?.[0]?.configId !== row.id
    )
      found.push('its action was changed outside the API: put back');
  }
  const [server] = await s.db.select().from(servers).where(eq(servers.id, current.serverId));
  await s.schedules.upsert({ ...current, siteId: server!.siteId, serverName: server!.name });
  const after = await describe(s, row.id);
  if (before && after && JSON.stringify(before.spec) !== JSON.stringify(after.spec))
    found.push('its timing was changed outside the API: put back');
  if (found.length > 0)
    s.logger.warn({ labels: { tenant_id: row.tenantId, config_id: row.id }, found }, 'schedule reconciled');
  return { row: current, found };
}

async function describe(s: Services, configId: string): Promise<ScheduleDescription | undefined> {
  try {
    return await s.temporal.client.schedule.getHandle(scheduleId(configId)).describe();
  } catch (err) {
    if (err instanceof ScheduleNotFoundError) return undefined;
    throw scheduleError(err);
  }
}
