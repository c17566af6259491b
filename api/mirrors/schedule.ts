// One Temporal Schedule per object mirror (`mirror-config-<id>`): an interval of the mirror's poll time, overlap SKIP
// (a long first sync is not doubled), paused with the mirror. Each write is recorded with how to take it back.
import {
  ScheduleAlreadyRunning,
  ScheduleNotFoundError,
  ScheduleOverlapPolicy,
  type Client,
  type ScheduleDescription,
} from '@temporalio/client';
import { BackupError } from '../../common/errors.ts';
import { runSearchAttributes } from '../../common/names.ts';
import { scheduleError } from '../temporal/errors.ts';
import { scheduledStart } from '../temporal/runs.ts';
import type { ScheduleWrites } from '../temporal/schedule-writes.ts';
import { mirrorScheduleId } from '../../common/names.ts';
import type { MirrorRow } from './schemas.ts';

export async function upsertMirrorSchedule(
  client: Client,
  taskQueue: string,
  m: MirrorRow & { siteId: string; serverName: string },
  writes: ScheduleWrites,
): Promise<void> {
  const id = mirrorScheduleId(m.id);
  const opts = {
    spec: { intervals: [{ every: m.pollSeconds * 1000 }] },
    action: scheduledStart('mirrorWorkflow', {
      workflowId: `mirror-${m.id}`,
      taskQueue,
      args: [{ mirrorId: m.id }],
      typedSearchAttributes: runSearchAttributes({
        tenantId: m.tenantId,
        siteId: m.siteId,
        serverName: m.serverName,
        databases: [m.database],
        configId: m.id,
      }),
    }),
    policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: '1 hour' as const, pauseOnFailure: false },
  };
  const state = { paused: m.paused, note: m.paused ? 'paused by an admin' : '' };
  const handle = client.schedule.getHandle(id);
  let before: ScheduleDescription | undefined;
  try {
    await handle.update((prev) => {
      before = prev;
      return { ...prev, ...opts, state: { ...prev.state, ...state } };
    });
    writes.add(() => handle.update(() => ({ ...before! })));
  } catch (err) {
    if (!(err instanceof ScheduleNotFoundError)) throw scheduleError(err, 'pollSeconds');
    try {
      await client.schedule.create({ scheduleId: id, ...opts, state });
      writes.add(() => handle.delete());
    } catch (e) {
      if (!(e instanceof ScheduleAlreadyRunning)) throw scheduleError(e, 'pollSeconds');
    }
  }
}

export async function removeMirrorSchedule(client: Client, mirrorId: string): Promise<void> {
  await client.schedule
    .getHandle(mirrorScheduleId(mirrorId))
    .delete()
    .catch((err: unknown) => {
      if (!(err instanceof ScheduleNotFoundError)) throw scheduleError(err);
    });
}

/** A run now through the schedule (SKIP applies): 409 while one is running. */
export async function runMirrorNow(client: Client, mirrorId: string): Promise<void> {
  const handle = client.schedule.getHandle(mirrorScheduleId(mirrorId));
  const desc = await handle.describe().catch((e: unknown) => {
    throw scheduleError(e);
  });
  const running = desc.info.runningActions[0];
  if (running)
    throw new BackupError('conflict', `a run of this mirror is in progress (${running.workflow.workflowId})`);
  await handle.trigger(ScheduleOverlapPolicy.SKIP).catch((e: unknown) => {
    throw scheduleError(e);
  });
}
