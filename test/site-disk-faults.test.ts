// Issue 23 (faults): a full disk or a folder the site may not write fails the run once, with a message that names the
// folder and says what to do, and leaves no partial file. Real runs, on real mounts: a 1 MiB tmpfs as the site's
// Backups folder, and a tmpfs remounted read-only as the Backups folder and as a local destination.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, readdir } from 'node:fs/promises';
import { DatabaseSync } from 'node:sqlite';
import { Readable } from 'node:stream';
import path from 'node:path';
import { promisify } from 'node:util';
import { engineFor } from '../activities/engines/index.ts';
import type { ServerConnection } from '../activities/site-config.ts';
import { BackupError } from '../common/errors.ts';
import { after, before, describe, it } from 'node:test';
import { activityPayloads, createBulkyDatabase, createConfig, runNowAndWait, setUpSite } from './helpers/fixtures.ts';
import { settleAll, signup, startStack, type Stack } from './helpers/stack.ts';

const run = promisify(execFile);
const literally = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

describe('disk faults at the site', () => {
  let stack: Stack;
  let source: Awaited<ReturnType<typeof createBulkyDatabase>>;
  const mounts: string[] = [];

  /** A tmpfs of `size` at a new folder; read-only when asked. Unmounted in `after`, whatever happened. */
  const mountTmpfs = async (name: string, size: string, readOnly = false) => {
    const dir = path.join(stack.tmp, name);
    await mkdir(dir, { recursive: true });
    await run('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir]);
    mounts.push(dir);
    if (readOnly) await run('mount', ['-o', 'remount,ro', dir]);
    return dir;
  };

  before(async () => {
    await settleAll([
      startStack().then((x) => (stack = x)),
      // 20 000 rows of random hex: about 5 MB to dump, well over 1 MiB after compression.
      createBulkyDatabase(20_000).then((x) => (source = x)),
    ]);
  });
  after(async () => {
    for (const dir of mounts.reverse())
      await run('umount', [dir]).catch(() => run('umount', ['-l', dir]).catch((e: unknown) => console.error(e)));
    await source?.drop();
    await stack?.stop();
  });

  /** One run of a new configuration of `source` at a new site; its history row, the dump's folder and its attempts. */
  const runOnce = async (opts: Parameters<typeof setUpSite>[2], destination?: string) => {
    const { token } = await signup(stack);
    const { server, destinations } = await setUpSite(stack, token, opts);
    const config = await createConfig(stack, token, {
      serverId: server.id,
      databases: [source.name],
      ...(destination && {
        destinations: [{ destinationId: destinations[destination]!.id, retention: { keepLast: 3 } }],
      }),
    });
    const [row] = (await runNowAndWait(stack, token, config.id)) as any[];
    const attemptsOf = async (activity: string) => (await activityPayloads(stack, row.workflowId, activity)).attempts;
    return { token, row, folder: path.join(opts.backupsDir, 'main-pg', source.name), attemptsOf };
  };

  it('a full Backups folder fails the dump once, names the folder, says it is full, and leaves no partial file', async () => {
    const backupsDir = await mountTmpfs('full-disk', '1m');
    const { row, folder, attemptsOf } = await runOnce({ backupsDir });
    assert.equal(row.status, 'failed');
    assert.match(row.error, new RegExp(`the disk holding ${literally(folder)} is full \\(ENOSPC; [\\d.]+ [KM]iB free`));
    assert.match(row.error, /free space there, or choose another folder as backupsDir/);
    assert.deepEqual(await attemptsOf('dump'), [1], 'one attempt: a retry would only fill the disk again');
    assert.deepEqual(await readdir(folder), [], 'no partial file left');
  });

  it('a read-only Backups folder fails the dump once and says the folder is not writable', async () => {
    const backupsDir = await mountTmpfs('ro-backups', '1m', true);
    const { row, folder, attemptsOf } = await runOnce({ backupsDir });
    assert.equal(row.status, 'failed');
    assert.match(row.error, new RegExp(`cannot write to ${literally(folder)}: the folder is not writable \\(EROFS`));
    assert.doesNotMatch(row.error, /ENOENT/);
    assert.deepEqual(await attemptsOf('dump'), [1]);
  });

  it('a read-only local destination costs its copy once, with a message that names its folder', async () => {
    const ro = await mountTmpfs('ro-nas', '1m', true);
    const nas = path.join(ro, 'nas');
    const backupsDir = path.join(stack.tmp, 'site-with-ro-nas');
    const { row, token, attemptsOf } = await runOnce(
      { backupsDir, destinations: { nas: { type: 'local', path: nas } } },
      'nas',
    );
    assert.equal(row.status, 'partial', row.error);
    const copies = (await stack.api('GET', `/api/v1/backups/${row.id}/copies`, { token })).body.items as any[];
    const copy = copies.find((c) => c.target === 'nas');
    assert.equal(copy?.state, 'missing');
    assert.match(copy.error, new RegExp(`cannot write to ${literally(nas)}/\\S+: the folder is not writable \\(EROFS`));
    assert.match(copy.error, /choose another folder for it in the site configuration/);
    assert.deepEqual(await attemptsOf('upload'), [1], 'not retried');
  });

  it('a SQLite restore whose scratch file fills the server folder says so, and leaves nothing there', async () => {
    const folder = await mountTmpfs('sqlite-full', '1m');
    const conn: ServerConnection = { engine: 'sqlite', host: folder, port: undefined, user: '', password: undefined };
    // 2 MiB of bytes to restore: the scratch file beside the target cannot hold them.
    const input = Readable.from([randomBytes(1 << 20), randomBytes(1 << 20)]);
    await assert.rejects(engineFor('sqlite').restore(conn, 'shop.db', input, { into: 'new' }), (e: unknown) => {
      assert.ok(e instanceof BackupError);
      assert.equal(e.details.code, 'DiskFull');
      assert.equal(e.retryable, false);
      assert.match(e.message, new RegExp(`the disk holding ${literally(folder)} is full \\(ENOSPC`));
      return true;
    });
    assert.deepEqual(await readdir(folder), [], 'no scratch file left');
  });

  it("a SQLite dump whose consistent copy fills the worker's temporary folder names that folder and TMPDIR", async () => {
    const folder = path.join(stack.tmp, 'sqlite-server');
    await mkdir(folder, { recursive: true });
    const db = new DatabaseSync(path.join(folder, 'big.db'));
    db.exec(`create table blobs (id integer primary key, data blob);
      with recursive g(n) as (select 1 union all select n + 1 from g where n < 512)
      insert into blobs select n, randomblob(4096) from g;`);
    db.close();
    const scratch = await mountTmpfs('sqlite-tmp', '1m');
    const conn: ServerConnection = { engine: 'sqlite', host: folder, port: undefined, user: '', password: undefined };
    const tmpdir = process.env.TMPDIR;
    process.env.TMPDIR = scratch; // where os.tmpdir() points, as TMPDIR would for the site worker
    try {
      const dump = engineFor('sqlite').dump(conn, 'big.db', { excludeTableData: [] });
      dump.stdout.resume();
      await assert.rejects(dump.done, (e: unknown) => {
        assert.ok(e instanceof BackupError, String(e));
        assert.equal(e.details.code, 'DiskFull');
        assert.equal(e.retryable, false);
        assert.match(e.message, new RegExp(`the disk holding ${literally(scratch)} is full \\(SQLITE_FULL`));
        assert.match(e.message, /set TMPDIR of the site worker/);
        return true;
      });
    } finally {
      if (tmpdir === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = tmpdir;
    }
    assert.deepEqual(await readdir(scratch), [], 'no scratch copy left');
  });
});
