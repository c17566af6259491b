// GET /statistics (issue 17): per day per configuration and server, the succeeded and failed backups, their total size
// and mean duration; storage per target; the last successful drill per configuration. Rows are written straight into
// the metadata database so days, sizes and durations are known exactly.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { eq } from 'drizzle-orm';
import { backupCopies, backups, restores } from '../db/schema.ts';
import { createConfig } from './helpers/fixtures.ts';
import { signup, startStack, type Stack } from './helpers/stack.ts';

describe('statistics endpoint', () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack();
  });
  after(async () => {
    await stack?.stop();
  });

  it('groups backups per day, configuration and server; sums storage per target; names the last drills', async () => {
    const t = await signup(stack);
    const api = (p: string, token = t.token) => stack.api('GET', `/api/v1${p}`, { token });
    const site = (await stack.api('POST', '/api/v1/sites', { token: t.token, body: { name: 'hq' } })).body;
    const server = async (name: string) =>
      (
        await stack.api('POST', '/api/v1/servers', {
          token: t.token,
          body: { siteId: site.id, name, engine: 'postgresql' },
        })
      ).body;
    const [pg1, pg2] = [await server('pg1'), await server('pg2')];
    const [a, b] = [
      await createConfig(stack, t.token, { serverId: pg1.id, databases: ['shop'] }),
      await createConfig(stack, t.token, { serverId: pg2.id, databases: ['crm'] }),
    ];
    let n = 0;
    const row = (
      cfg: { id: string; serverId: string },
      start: string,
      seconds: number,
      size: number,
      status = 'succeeded',
    ) => ({
      tenantId: t.tenantId,
      configId: cfg.id,
      siteId: site.id,
      serverId: cfg.serverId,
      database: 'db',
      workflowId: `wf-${++n}`,
      runId: `r-${n}`,
      sizeBytes: status === 'succeeded' ? size : null,
      startedAt: new Date(start),
      finishedAt: new Date(Date.parse(start) + seconds * 1000),
      status: status as 'succeeded' | 'failed',
    });
    const day1 = '2026-11-02';
    const day2 = '2026-11-03';
    const inserted = await stack.db.db
      .insert(backups)
      .values([
        row(a, `${day1}T01:00:00Z`, 10, 100),
        row(a, `${day1}T13:00:00Z`, 20, 300),
        row(a, `${day1}T14:00:00Z`, 5, 0, 'failed'),
        row(b, `${day2}T23:59:59Z`, 40, 1000),
        row(a, '2026-10-01T00:00:00Z', 1, 7), // before the range asked for
        { ...row(a, `${day2}T05:00:00Z`, 1, 9), kind: 'dry-run' as const }, // not a backup
      ])
      .returning({ id: backups.id });
    const copy = (backupId: string, target: string, size: number, state: 'stored' | 'deleted') => ({
      tenantId: t.tenantId,
      backupId,
      target,
      objectKey: `k-${target}`,
      sizeBytes: size,
      state,
    });
    await stack.db.db
      .insert(backupCopies)
      .values([
        copy(inserted[0]!.id, 'site', 100, 'deleted'),
        copy(inserted[1]!.id, 'site', 300, 'stored'),
        copy(inserted[1]!.id, 'offsite', 300, 'stored'),
        copy(inserted[3]!.id, 'site', 1000, 'stored'),
      ]);
    const drill = (at: string, seconds: number, status: 'succeeded' | 'failed') => ({
      tenantId: t.tenantId,
      kind: 'drill' as const,
      configId: a.id,
      targetSiteId: site.id,
      targetServerId: pg1.id,
      targetDatabase: 'scratch',
      workflowId: `drill-${++n}`,
      status,
      startedAt: new Date(at),
      finishedAt: new Date(at),
      restoreSeconds: seconds,
    });
    await stack.db.db
      .insert(restores)
      .values([
        drill('2026-11-01T00:00:00Z', 12.5, 'succeeded'),
        drill('2026-11-04T00:00:00Z', 99, 'failed'),
        drill('2026-10-01T00:00:00Z', 3, 'succeeded'),
      ]);

    const range = 'from=2026-11-01T00:00:00Z&to=2026-11-05T00:00:00Z';
    const all = await api(`/statistics?${range}`);
    assert.equal(all.status, 200, JSON.stringify(all.body));
    assert.deepEqual(all.body.days, [
      { day: day1, configId: a.id, serverId: pg1.id, succeeded: 2, failed: 1, bytes: 400, avgSeconds: 15 },
      { day: day2, configId: b.id, serverId: pg2.id, succeeded: 1, failed: 0, bytes: 1000, avgSeconds: 40 },
    ]);
    assert.deepEqual(all.body.storage, [
      { target: 'offsite', copies: 1, bytes: 300 },
      { target: 'site', copies: 2, bytes: 1300 },
    ]);
    assert.deepEqual(all.body.drills, [{ configId: a.id, at: '2026-11-01T00:00:00.000Z', restoreSeconds: 12.5 }]);

    // A run is counted when it ends, once: a running row, then the same row succeeded.
    const [running] = await stack.db.db
      .insert(backups)
      .values({ ...row(b, `${day2}T10:00:00Z`, 20, 500), status: 'running', sizeBytes: null, finishedAt: null })
      .returning({ id: backups.id });
    assert.deepEqual(
      (await api(`/statistics?${range}`)).body.days,
      all.body.days,
      'a running backup counts nowhere yet',
    );
    await stack.db.db
      .update(backups)
      .set({ status: 'succeeded', sizeBytes: 500, finishedAt: new Date(`${day2}T10:00:20Z`) })
      .where(eq(backups.id, running!.id));
    const ended = await api(`/statistics?${range}`);
    assert.deepEqual(ended.body.days[1], { ...all.body.days[1], succeeded: 2, bytes: 1500, avgSeconds: 30 });

    // Per server (and per configuration): only its rows, its copies.
    const perServer = await api(`/statistics?${range}&serverId=${pg2.id}`);
    assert.deepEqual(
      perServer.body.days.map((d: any) => [d.day, d.bytes]),
      [[day2, 1500]],
    );
    assert.deepEqual(perServer.body.storage, [{ target: 'site', copies: 1, bytes: 1000 }]);
    const perConfig = await api(`/statistics?${range}&configId=${a.id}`);
    assert.deepEqual(
      perConfig.body.days.map((d: any) => d.configId),
      [a.id],
    );

    // Another tenant sees none of it; no token, no answer; a bad date is named.
    const other = await signup(stack);
    const theirs = await api(`/statistics?${range}`, other.token);
    assert.deepEqual([theirs.body.days, theirs.body.storage, theirs.body.drills], [[], [], []]);
    assert.equal((await stack.api('GET', '/api/v1/statistics')).status, 401);
    const bad = await api('/statistics?from=yesterday');
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error.issues[0].field, 'from');
  });
});
