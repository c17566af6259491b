// Issue 2: the site worker dies in the middle of a dump (SIGKILL) and comes back; the run still ends with exactly
// one good backup and no temporary file.
import assert from 'node:assert/strict';
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createConfig, createShopDatabase, execFileP, setUpSite, sha256OfFile, unzstd } from './helpers/fixtures.ts';
import { signup, startStack, waitFor, type Stack } from './helpers/stack.ts';

describe('site worker crash during a dump', () => {
  let stack: Stack;
  let source: Awaited<ReturnType<typeof createShopDatabase>>;

  before(async () => {
    stack = await startStack();
    // About 180 MB of rows: pg_dump needs a few seconds, long enough to be caught mid-stream (the test says so if not).
    source = await createShopDatabase({ events: 600_000, eventPadding: 8 });
  });
  after(async () => {
    await source?.drop().catch(() => {});
    await stack?.stop();
  });

  it('retries the dump on the restarted worker and leaves one complete file', async () => {
    const { token } = await signup(stack);
    const backupsDir = path.join(stack.tmp, 'crash-backups');
    const { server, worker, siteConfig } = await setUpSite(stack, token, { backupsDir });
    const config = await createConfig(stack, token, { serverId: server.id, databases: [source.name], keepLocal: 3 });
    const dir = path.join(backupsDir, 'main-pg', source.name);

    const run = await stack.api('POST', `/api/v1/configs/${config.id}/run`, { token });
    assert.equal(run.status, 202);
    // Wait until the dump is streaming into its partial file, then kill the worker where it stands.
    const partial = await waitFor(
      async () => {
        const names = await readdir(dir).catch(() => [] as string[]);
        const p = names.find((n) => n.endsWith('.partial'));
        if (!p) return undefined;
        const s = await stat(path.join(dir, p)).catch(() => undefined);
        return s && s.size > 512 * 1024 ? p : undefined;
      },
      120_000,
      'a partial dump file',
    );
    await worker.kill();
    const finished = (await readdir(dir)).filter((n) => !n.startsWith('.'));
    assert.deepEqual(finished, [], `the dump had already finished (${partial}); the test needs a bigger database`);

    await stack.startSiteWorker(siteConfig);
    const [row] = (await runNowAndWaitForExisting(stack, token, config.id)) as any[];
    assert.equal(row.status, 'succeeded', `backup failed: ${row.error}`);

    const names = await readdir(dir);
    assert.deepEqual(names, [row.fileName], 'exactly the one backup file, no partial left behind');
    const file = path.join(dir, row.fileName);
    assert.equal(await sha256OfFile(file), row.sha256);
    assert.equal((await stat(file)).size, row.sizeBytes);
    // The file decompresses to the end and pg_restore reads its table of contents.
    const dump = path.join(stack.tmp, 'crash.pgdump');
    await unzstd(file, dump);
    const { stdout } = await execFileP('pg_restore', ['--list', dump]);
    assert.match(stdout, /TABLE DATA public events /);

    // The history shows one dump activity whose successful attempt was not the first: Temporal retried it.
    const history = await stack.temporal.client.workflow.getHandle(row.workflowId).fetchHistory();
    const events = history.events ?? [];
    const dumpScheduled = events.filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'dump');
    assert.equal(dumpScheduled.length, 1);
    const started = events.find(
      (e) =>
        e.activityTaskStartedEventAttributes &&
        Number(e.activityTaskStartedEventAttributes.scheduledEventId) === Number(dumpScheduled[0]!.eventId),
    );
    assert.ok((started?.activityTaskStartedEventAttributes?.attempt ?? 0) >= 2, 'the dump was retried after the crash');

    const rows = (await stack.api('GET', `/api/v1/backups?configId=${config.id}`, { token })).body.items;
    assert.equal(rows.length, 1, 'one history row for the run');
  });
});

describe('cancelling a run during a dump', () => {
  let stack: Stack;
  let source: Awaited<ReturnType<typeof createShopDatabase>>;
  before(async () => {
    stack = await startStack();
    source = await createShopDatabase({ events: 600_000, eventPadding: 8 });
  });
  after(async () => {
    await source?.drop().catch(() => {});
    await stack?.stop();
  });

  it('stops pg_dump, removes the partial file and records the run as cancelled', async () => {
    const { token } = await signup(stack);
    const backupsDir = path.join(stack.tmp, 'cancel-backups');
    const { server, worker } = await setUpSite(stack, token, { backupsDir });
    // zstd's slowest level keeps the dump running well past the cancellation's way to the site (a heartbeat, throttled
    // to 2.4 s here), on any machine: the cancel must land while pg_dump is still writing.
    const config = await createConfig(stack, token, {
      serverId: server.id,
      databases: [source.name],
      compression: { algorithm: 'zstd', level: 19 },
    });
    const dir = path.join(backupsDir, 'main-pg', source.name);
    assert.equal((await stack.api('POST', `/api/v1/configs/${config.id}/run`, { token })).status, 202);
    await waitFor(
      async () => (await readdir(dir).catch(() => [] as string[])).some((n) => n.endsWith('.partial')),
      120_000,
      'a partial dump file',
    );
    const [running] = (await stack.api('GET', `/api/v1/backups?configId=${config.id}`, { token })).body.items;
    await stack.temporal.client.workflow.getHandle(running.workflowId).cancel();

    const [row] = (await runNowAndWaitForExisting(stack, token, config.id)) as any[];
    assert.equal(row.status, 'cancelled');
    assert.deepEqual(await readdir(dir), [], 'no partial file, no backup');
    await waitFor(
      () =>
        worker.logs.lines.some(
          (l) => l.message === 'dump failed; partial file removed' && (l as any).backup?.cancelled === true,
        ),
      30_000,
      'the cancellation at the site',
    );
  });
});

/** The run was started before the crash; wait for its row to settle. */
async function runNowAndWaitForExisting(stack: Stack, token: string, configId: string) {
  return waitFor(
    async () => {
      const items = (await stack.api('GET', `/api/v1/backups?configId=${configId}`, { token })).body.items as {
        status: string;
      }[];
      return items.length > 0 && items.every((i) => i.status !== 'running') ? items : undefined;
    },
    180_000,
    'the retried run to finish',
  );
}
