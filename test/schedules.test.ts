// Issue 2: each backup configuration owns one Temporal Schedule, kept in step on create, update, pause, resume
// and delete, with the configured spec and time zone.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ScheduleNotFoundError } from '@temporalio/client';
import type { TypedSearchAttributes } from '@temporalio/common';
import { eq } from 'drizzle-orm';
import { scheduleId, verifyScheduleId } from '../common/names.ts';
import { backupConfigs } from '../db/schema.ts';
import { zonedToUtc } from '../common/schedule.ts';
import { signup, startStack, type Stack } from './helpers/stack.ts';

describe('backup schedules in Temporal', () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack();
  });
  after(async () => stack?.stop());

  it('creates, updates, pauses, resumes and deletes the schedule with the configuration', async () => {
    const { token, tenantId } = await signup(stack);
    const site = (await stack.api('POST', '/api/v1/sites', { token, body: { name: 'berlin' } })).body;
    const server = (
      await stack.api('POST', '/api/v1/servers', {
        token,
        body: { siteId: site.id, name: 'erp', engine: 'postgresql' },
      })
    ).body;
    const created = await stack.api('POST', '/api/v1/configs', {
      token,
      body: {
        name: 'nightly',
        serverId: server.id,
        databases: ['erp', 'crm'],
        schedule: { kind: 'daily', time: '03:15' },
        timezone: 'Europe/Berlin',
      },
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const id = created.body.id as string;
    const handle = stack.temporal.client.schedule.getHandle(scheduleId(id));

    let d = await handle.describe();
    assert.equal(d.spec.timezone, 'Europe/Berlin');
    assert.deepEqual(d.spec.calendars?.[0]?.hour, [{ start: 3, end: 3, step: 1 }]);
    assert.deepEqual(d.spec.calendars?.[0]?.minute, [{ start: 15, end: 15, step: 1 }]);
    assert.equal(d.state.paused, false);
    assert.equal(d.policies.overlap, 'SKIP');
    assert.equal(d.action.type, 'startWorkflow');
    if (d.action.type !== 'startWorkflow') return;
    assert.equal(d.action.workflowType, 'backupWorkflow');
    assert.equal(d.action.taskQueue, stack.centralTaskQueue);
    const sa = Object.fromEntries(
      ((d.action.typedSearchAttributes as TypedSearchAttributes | undefined)?.getAll() ?? []).map((p) => [
        p.key.name,
        p.value,
      ]),
    );
    assert.deepEqual(sa, {
      BackupTenant: tenantId,
      BackupSite: site.id,
      BackupServer: 'erp',
      BackupDatabase: ['erp', 'crm'],
      BackupConfig: id,
    });
    // The next run is 03:15 on the wall clock in Berlin, whatever the season.
    const next = d.info.nextActionTimes[0]!;
    const berlin = new Intl.DateTimeFormat('en-GB', {
      timeZone: 'Europe/Berlin',
      hour: '2-digit',
      minute: '2-digit',
      hourCycle: 'h23',
    }).format(next);
    assert.equal(berlin, '03:15');

    // Update: monthly, another zone.
    let res = await stack.api('PATCH', `/api/v1/configs/${id}`, {
      token,
      body: { schedule: { kind: 'monthly', time: '22:30', dayOfMonth: 5 }, timezone: 'America/New_York' },
    });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    d = await handle.describe();
    assert.equal(d.spec.timezone, 'America/New_York');
    assert.deepEqual(d.spec.calendars?.[0]?.dayOfMonth, [{ start: 5, end: 5, step: 1 }]);
    assert.deepEqual(d.spec.calendars?.[0]?.hour, [{ start: 22, end: 22, step: 1 }]);

    // Every 14 days: on the chosen weekday and time in the zone.
    res = await stack.api('PATCH', `/api/v1/configs/${id}`, {
      token,
      body: { schedule: { kind: 'biweekly', time: '01:30', weekday: 2 }, timezone: 'UTC' },
    });
    assert.equal(res.status, 200);
    d = await handle.describe();
    assert.equal(d.spec.intervals?.[0]?.every, 14 * 86_400_000);
    const [n1, n2] = d.info.nextActionTimes;
    assert.equal(n2!.getTime() - n1!.getTime(), 14 * 86_400_000);
    assert.equal(n1!.getUTCDay(), 2);
    assert.equal(n1!.toISOString().slice(11, 16), '01:30');

    // A cron expression, and a rename of the server follows into the search attributes.
    res = await stack.api('PATCH', `/api/v1/configs/${id}`, {
      token,
      body: { schedule: { kind: 'cron', expression: '0 */6 * * *' }, timezone: 'Asia/Tokyo' },
    });
    assert.equal(res.status, 200);
    d = await handle.describe();
    assert.equal(d.spec.timezone, 'Asia/Tokyo');
    assert.deepEqual(d.spec.calendars?.[0]?.hour, [{ start: 0, end: 23, step: 6 }]);
    assert.equal(
      (await stack.api('PATCH', `/api/v1/servers/${server.id}`, { token, body: { name: 'erp-2' } })).status,
      200,
    );
    d = await handle.describe();
    if (d.action.type === 'startWorkflow')
      assert.equal(
        (d.action.typedSearchAttributes as TypedSearchAttributes).getAll().find((p) => p.key.name === 'BackupServer')
          ?.value,
        'erp-2',
      );

    // Pause and resume.
    res = await stack.api('POST', `/api/v1/configs/${id}/pause`, { token });
    assert.equal(res.status, 200);
    assert.equal(res.body.paused, true);
    assert.equal((await handle.describe()).state.paused, true);
    res = await stack.api('POST', `/api/v1/configs/${id}/resume`, { token });
    assert.equal(res.body.paused, false);
    assert.equal((await handle.describe()).state.paused, false);
    const state = await stack.api('GET', `/api/v1/configs/${id}/schedule`, { token });
    assert.equal(state.status, 200);
    assert.equal(state.body.nextRunTimes.length, 3);

    // A schedule Temporal rejects leaves the configuration as it was.
    res = await stack.api('PATCH', `/api/v1/configs/${id}`, {
      token,
      body: { schedule: { kind: 'cron', expression: '99 99 * * *' } },
    });
    assert.equal(res.status, 400, JSON.stringify(res.body));
    assert.equal(res.body.error.issues[0].field, 'schedule.expression');
    assert.deepEqual((await stack.api('GET', `/api/v1/configs/${id}`, { token })).body.schedule, {
      kind: 'cron',
      expression: '0 */6 * * *',
    });

    // Delete removes the schedule; the configuration is gone.
    assert.equal((await stack.api('DELETE', `/api/v1/configs/${id}`, { token })).status, 204);
    await assert.rejects(handle.describe(), ScheduleNotFoundError);
    assert.equal((await stack.api('GET', `/api/v1/configs/${id}`, { token })).status, 404);
  });

  it('rolls the row back when Temporal cannot take the schedule', async () => {
    const { token } = await signup(stack);
    const site = (await stack.api('POST', '/api/v1/sites', { token, body: { name: 'x' } })).body;
    const server = (
      await stack.api('POST', '/api/v1/servers', { token, body: { siteId: site.id, name: 'db', engine: 'postgresql' } })
    ).body;
    const res = await stack.api('POST', '/api/v1/configs', {
      token,
      body: {
        name: 'bad',
        serverId: server.id,
        databases: ['a'],
        schedule: { kind: 'cron', expression: '61 * * * *' },
        timezone: 'UTC',
      },
    });
    assert.equal(res.status, 400);
    assert.deepEqual((await stack.api('GET', '/api/v1/configs', { token })).body.items, []);
  });

  it('checks every schedule before writing any, naming the field, and takes back writes when a later one fails', async () => {
    const { token } = await signup(stack);
    const site = (await stack.api('POST', '/api/v1/sites', { token, body: { name: 'x' } })).body;
    const server = (
      await stack.api('POST', '/api/v1/servers', { token, body: { siteId: site.id, name: 'db', engine: 'postgresql' } })
    ).body;
    const scheduleIds = async () => {
      const ids: string[] = [];
      for await (const sched of stack.temporal.client.schedule.list()) ids.push(sched.scheduleId);
      return ids.sort();
    };
    const base = {
      serverId: server.id,
      databases: ['a'],
      schedule: { kind: 'daily', time: '03:15' },
      timezone: 'UTC',
      verification: { schedule: { kind: 'daily', time: '04:00' } },
    };

    // A cron the parser refuses, in any of the three schedules: 400 on that field, nothing written anywhere.
    const before = await scheduleIds();
    for (const [expression, where] of [
      ['61 3 * * *', 'drill'],
      ['0 24 * * *', 'verification'],
      ['0 3 * * 8', 'drill'],
      ['0 3 * 13 *', 'drill'],
      ['*/0 * * * *', 'drill'],
      ['0 5-2 * * *', 'drill'],
      ['0 3 ? * *', 'drill'],
      ['0 3 * ja *', 'drill'],
    ] as const) {
      const cron = { schedule: { kind: 'cron', expression } };
      const body = {
        ...base,
        name: `bad ${expression}`,
        ...(where === 'drill' ? { drill: cron } : { verification: cron }),
      };
      const res = await stack.api('POST', '/api/v1/configs', { token, body });
      assert.equal(res.status, 400, `${expression}: ${res.status} ${JSON.stringify(res.body)}`);
      assert.deepEqual(
        res.body.error.issues.map((i: { field: string }) => i.field),
        [`${where}.schedule.expression`],
        expression,
      );
    }
    assert.deepEqual(await scheduleIds(), before, 'no schedule left behind');
    assert.deepEqual((await stack.api('GET', '/api/v1/configs', { token })).body.items, []);
    // What Temporal takes, the check takes too: names, ranges, steps, lists, Sunday as 7.
    for (const expression of [
      '30 2 1-7/2 jan,jul mon-fri',
      '0 */6 * * 7',
      '5/15 0-23/3 * MAR-dec su,sa',
      '0 0 31 12 0',
    ]) {
      const res = await stack.api('POST', '/api/v1/configs', {
        token,
        body: { ...base, name: `good ${expression}`, drill: { schedule: { kind: 'cron', expression } } },
      });
      assert.equal(res.status, 201, `${expression}: ${JSON.stringify(res.body)}`);
      assert.equal((await stack.api('DELETE', `/api/v1/configs/${res.body.id}`, { token })).status, 204);
    }

    // A drill schedule Temporal refuses after the main one moved and the verification one was removed (a row written
    // before these checks existed): both are put back as they were, and the row is unchanged.
    const created = await stack.api('POST', '/api/v1/configs', { token, body: { ...base, name: 'c' } });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const id = created.body.id as string;
    const main = stack.temporal.client.schedule.getHandle(scheduleId(id));
    const verify = stack.temporal.client.schedule.getHandle(verifyScheduleId(id));
    await stack.db.db
      .update(backupConfigs)
      .set({ drill: { schedule: { kind: 'cron', expression: '61 * * * *' }, tolerancePercent: 0, assertions: [] } })
      .where(eq(backupConfigs.id, id));
    let res = await stack.api('PATCH', `/api/v1/configs/${id}`, {
      token,
      body: { schedule: { kind: 'daily', time: '05:45' }, verification: null },
    });
    assert.equal(res.status, 400, JSON.stringify(res.body));
    assert.equal(res.body.error.issues[0].field, 'drill.schedule');
    let d = await main.describe();
    assert.deepEqual(
      [d.spec.calendars?.[0]?.hour, d.spec.calendars?.[0]?.minute],
      [[{ start: 3, end: 3, step: 1 }], [{ start: 15, end: 15, step: 1 }]],
      'the main schedule is back at 03:15',
    );
    d = await verify.describe();
    assert.deepEqual(d.spec.calendars?.[0]?.hour, [{ start: 4, end: 4, step: 1 }], 'the verification schedule is back');
    assert.equal(d.action.type === 'startWorkflow' && d.action.workflowType, 'verifyWorkflow');
    assert.deepEqual((await stack.api('GET', `/api/v1/configs/${id}`, { token })).body.schedule, {
      kind: 'daily',
      time: '03:15',
    });
    // A schedule the failed save created is removed again.
    await main.delete();
    res = await stack.api('PATCH', `/api/v1/configs/${id}`, { token, body: { keepLocal: 3 } });
    assert.equal(res.status, 400, JSON.stringify(res.body));
    await assert.rejects(main.describe(), ScheduleNotFoundError);
  });

  it('converts wall-clock times in a zone to UTC across DST', () => {
    assert.equal(new Date(zonedToUtc(2026, 1, 15, 3, 0, 'Europe/Berlin')).toISOString(), '2026-01-15T02:00:00.000Z');
    assert.equal(new Date(zonedToUtc(2026, 7, 15, 3, 0, 'Europe/Berlin')).toISOString(), '2026-07-15T01:00:00.000Z');
    assert.equal(new Date(zonedToUtc(2026, 7, 15, 3, 0, 'America/New_York')).toISOString(), '2026-07-15T07:00:00.000Z');
  });
});
