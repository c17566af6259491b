// Issue 19, part 1: the object mirror through the whole platform on real parts: the application's table in
// PostgreSQL (read by a read-only login), its objects in Azurite fetched through real SAS URLs (via a proxy that
// counts GETs), the platform's Temporal server, and a site worker process that the test kills mid-mirror.
import assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { after, before, describe, it } from 'node:test';
import { gunzipSync } from 'node:zlib';
import postgres from 'postgres';
import { sharedPace } from '../activities/site/mirror-fetch.ts';
import { readDueDeletions, readNewFiles } from '../activities/site/mirror-source.ts';
import { mariadbQuery } from '../activities/engines/mariadb-sql.ts';
import { DEFAULT_MIRROR_LAYOUT, mirrorKey, normalizeSha256 } from '../common/mirror.ts';
import { startAzurite, type Azurite } from '../ops/services/azurite.ts';
import { uniqueName } from '../ops/services/pg.ts';
import { createTempMariadbDatabase, mariadbAdmin, mariadbConn } from './helpers/mariadb.ts';
import { randomContent, startCountingProxy, startObjectApp, type CountingProxy } from './helpers/object-app.ts';
import { activityPayloads, setUpSite, startWebhook } from './helpers/fixtures.ts';
import { settleAll, signup, startStack, waitFor, type SiteWorkerProcess, type Stack } from './helpers/stack.ts';

const BUCKET = 'car-erp';
const DAY = 86_400_000;

describe('object mirror', () => {
  let stack: Stack;
  let azurite: Azurite;
  let proxy: CountingProxy;
  let app: Awaited<ReturnType<typeof startObjectApp>>;
  let webhook: Awaited<ReturnType<typeof startWebhook>>;
  let token: string;
  let mirrorId: string;
  let root: string;
  let worker: SiteWorkerProcess;
  let siteConfig: Awaited<ReturnType<typeof setUpSite>>['siteConfig'];

  before(async () => {
    await settleAll([
      startStack().then((x) => (stack = x)),
      startAzurite().then((x) => (azurite = x)),
      startWebhook().then((x) => (webhook = x)),
    ]);
    proxy = await startCountingProxy(azurite.blobUrl);
    app = await startObjectApp(azurite, proxy, BUCKET);
    ({ token } = await signup(stack));
    await stack.api('PATCH', '/api/v1/tenant', { token, body: { webhookUrl: webhook.url } });
    root = path.join(stack.tmp, 'mirror-backups');
    const site = await setUpSite(stack, token, {
      backupsDir: root,
      serverName: 'app-pg',
      connection: { user: app.reader.user, password: app.reader.password },
      // The object store is on loopback: the site allows it, as an on-premise store would be allowed.
      siteExtra: { mirrorAllow: ['127.0.0.1'] },
    });
    ({ worker, siteConfig } = site);
    const res = await stack.api('POST', '/api/v1/mirrors', {
      token,
      body: {
        name: 'car-erp files',
        serverId: site.server.id,
        database: app.db.name,
        pollSeconds: 3600,
        deleteGraceDays: 7,
        concurrency: 2,
      },
    });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    mirrorId = res.body.id;
  });
  after(async () => {
    await Promise.all([stack?.stop(), webhook?.stop(), proxy?.stop()]);
    await Promise.all([azurite?.stop(), app?.stop().catch(() => {})]);
  });

  /** Run now, and wait for the run's row to end; answers it. */
  async function runMirror(): Promise<any> {
    const known = (await stack.api('GET', `/api/v1/mirrors/${mirrorId}/runs`, { token })).body.items.length;
    await waitFor(
      async () => {
        const r = await stack.api('POST', `/api/v1/mirrors/${mirrorId}/run`, { token });
        if (r.status === 409) return false; // the last run is still settling in the schedule
        assert.equal(r.status, 202, JSON.stringify(r.body));
        return true;
      },
      30_000,
      'the run to start',
    );
    return waitFor(
      async () => {
        const items = (await stack.api('GET', `/api/v1/mirrors/${mirrorId}/runs`, { token })).body.items;
        return items.length > known && items[0].status !== 'running' ? items[0] : undefined;
      },
      180_000,
      'the mirror run to end',
    );
  }

  const versions = async () =>
    (await stack.api('GET', `/api/v1/mirrors/${mirrorId}/versions`, { token })).body.items as any[];
  const versionOf = async (p: string, v: number) => (await versions()).find((x) => x.path === p && x.version === v);
  const fileAt = (...parts: string[]) => path.join(root, BUCKET, ...parts);
  const gunzipFile = async (file: string) => gunzipSync(await readFile(file));

  it('stores each version at <bucket>/<path without extension>/v<N>.gzip; a bad hash, an expired URL, a 404 and hostile rows are recorded, alerted once, and the rest go on', async () => {
    const thumb = randomContent(100 * 1024);
    await app.upload('/cars/id-1/thumbnail.png', 1, thumb);
    await app.upload('/cars/id-2/photo.jpg', 1, randomContent(5000), { hash: 'ab'.repeat(32) });
    await app.upload('/cars/id-3/manual.pdf', 1, randomContent(5000), {
      url: app.signedUrl('cars/id-3/manual.pdf@v1', -60_000),
    });
    await app.row('/cars/id-4/gone.txt', 1, app.signedUrl('cars/id-4/never-uploaded'));
    await app.row('/../../../etc/cron.d/x', 1, app.signedUrl('x'));
    await app.row('/cars/id-5/a.txt', 1, app.signedUrl('x'), '../outside');
    await app.row('/cars/id-6/meta.json', 1, 'http://169.254.169.254/latest/meta-data');
    await app.row('/cars/id-7/local.txt', 1, 'file:///etc/passwd');
    const docs = randomContent(30_000);
    await app.upload('/cars/id-8/docs/spec.v2.pdf', 3, docs);

    const run = await runMirror();
    assert.equal(run.status, 'partial', JSON.stringify(run));
    assert.equal(run.fetched, 2);
    assert.equal(run.failed, 7);

    // The exact layout, and the content is the object's, gzip-compressed.
    const first = fileAt('cars', 'id-1', 'thumbnail', 'v1.gzip');
    assert.deepEqual(await gunzipFile(first), thumb);
    assert.deepEqual(await gunzipFile(fileAt('cars', 'id-8', 'docs', 'spec.v2', 'v3.gzip')), docs);
    assert.deepEqual((await readdir(root)).sort(), [BUCKET], 'nothing outside the bucket folder, no work file');
    assert.deepEqual((await readdir(path.join(root, BUCKET, 'cars'))).sort(), ['id-1', 'id-8']);

    const v1 = await versionOf('/cars/id-1/thumbnail.png', 1);
    assert.equal(v1.state, 'stored');
    assert.equal(v1.key, 'car-erp/cars/id-1/thumbnail/v1.gzip');
    assert.equal(v1.sha256, createHash('sha256').update(thumb).digest('hex'));
    assert.equal(v1.sourceBytes, thumb.length);
    assert.ok(v1.storedAt);
    const failure = async (p: string) => {
      const v = (await versions()).find((x) => x.path === p);
      return [v.state, v.failure];
    };
    assert.deepEqual(await failure('/cars/id-2/photo.jpg'), ['failed', 'hash']);
    assert.deepEqual(await failure('/cars/id-3/manual.pdf'), ['failed', 'expired']);
    assert.deepEqual(await failure('/cars/id-4/gone.txt'), ['failed', 'not_found']);
    assert.deepEqual(await failure('/../../../etc/cron.d/x'), ['failed', 'bad_path']);
    assert.deepEqual(await failure('/cars/id-5/a.txt'), ['failed', 'bad_path']);
    assert.deepEqual(await failure('/cars/id-6/meta.json'), ['failed', 'refused']);
    assert.deepEqual(await failure('/cars/id-7/local.txt'), ['failed', 'refused']);
    assert.equal(proxy.gets.get(app.blobPath('x')), undefined, 'a hostile row is refused before any fetch');

    // One alert names the failures; a second run fetches nothing again and alerts nothing again.
    const alerts = () => webhook.received.filter((a) => a.type === 'mirror.failed');
    await waitFor(() => alerts().length === 1, 20_000, 'the alert');
    assert.match(alerts()[0]!.message, /7 object versions not mirrored/);
    assert.match(alerts()[0]!.message, /photo\.jpg v1: the content's SHA-256 is/);
    const getsBefore = [...proxy.gets.values()].reduce((a, b) => a + b, 0);
    const again = await runMirror();
    assert.equal(again.status, 'succeeded');
    assert.equal(again.fetched + again.failed, 0);
    assert.equal(
      [...proxy.gets.values()].reduce((a, b) => a + b, 0),
      getsBefore,
      'no GET on a run with no new rows',
    );
    assert.equal(alerts().length, 1, 'each failure is alerted once');
  });

  it('keeps only the latest version when asked', async () => {
    // An operator may pause and resume a mirror, nothing else: a pause smuggling a change is refused whole.
    const email = `operator-${randomUUID().slice(0, 6)}@example.test`;
    const made = await stack.api('POST', '/api/v1/users', {
      token,
      body: { email, password: 'long enough password', role: 'operator' },
    });
    assert.equal(made.status, 201, JSON.stringify(made.body));
    const login = await stack.api('POST', '/api/v1/auth/login', { body: { email, password: 'long enough password' } });
    const operator = login.body.token as string;
    const smuggled = await stack.api('PATCH', `/api/v1/mirrors/${mirrorId}`, {
      token: operator,
      body: { paused: false, keepVersions: 1, deleteGraceDays: 0 },
    });
    assert.equal(smuggled.status, 403, JSON.stringify(smuggled.body));
    const resume = await stack.api('PATCH', `/api/v1/mirrors/${mirrorId}`, {
      token: operator,
      body: { paused: false },
    });
    assert.equal(resume.status, 200, JSON.stringify(resume.body));
    const patch = await stack.api('PATCH', `/api/v1/mirrors/${mirrorId}`, { token, body: { keepVersions: 1 } });
    assert.equal(patch.status, 200, JSON.stringify(patch.body));
    const v2 = randomContent(20_000);
    await app.upload('/cars/id-1/thumbnail.png', 2, v2);
    const run = await runMirror();
    assert.equal(run.status, 'succeeded', JSON.stringify(run));
    assert.equal(run.pruned, 1);
    assert.deepEqual(await readdir(fileAt('cars', 'id-1', 'thumbnail')), ['v2.gzip']);
    assert.deepEqual(await gunzipFile(fileAt('cars', 'id-1', 'thumbnail', 'v2.gzip')), v2);
    assert.equal((await versionOf('/cars/id-1/thumbnail.png', 1)).state, 'pruned');
    assert.equal((await versionOf('/cars/id-1/thumbnail.png', 2)).state, 'stored');
  });

  it('applies a deletion only once its grace period has passed (time injected by the workflow input)', async () => {
    const id = await app.upload('/cars/id-9/contract.pdf', 1, randomContent(4000));
    assert.equal((await runMirror()).status, 'succeeded');
    const dir = fileAt('cars', 'id-9', 'contract');
    assert.deepEqual(await readdir(dir), ['v1.gzip']);
    const deletedAt = new Date();
    await app.logDeletion(id, deletedAt);

    const at = async (asOf: Date) => {
      const h = await stack.temporal.client.workflow.start('mirrorWorkflow', {
        taskQueue: stack.centralTaskQueue,
        workflowId: `mirror-test-${mirrorId}-${asOf.getTime()}`,
        args: [{ mirrorId, asOf: asOf.toISOString() }],
      });
      return h.result();
    };
    // Six days after the deletion (grace 7): kept. A schedule's run (now) keeps it too.
    assert.equal((await at(new Date(deletedAt.getTime() + 6 * DAY))).deleted, 0);
    assert.equal((await runMirror()).deleted, 0);
    assert.deepEqual(await readdir(dir), ['v1.gzip']);
    assert.equal((await versionOf('/cars/id-9/contract.pdf', 1)).state, 'stored');
    // Seven days and a minute after: gone, and recorded.
    assert.equal((await at(new Date(deletedAt.getTime() + 7 * DAY + 60_000))).deleted, 1);
    await assert.rejects(readdir(dir), { code: 'ENOENT' });
    const v = await versionOf('/cars/id-9/contract.pdf', 1);
    assert.equal(v.state, 'deleted');
    assert.ok(v.removedAt);
  });

  it('resumes after the site worker is killed mid-mirror without fetching finished versions again', async () => {
    const n = 24;
    const contents = new Map<string, Buffer>();
    for (let i = 0; i < n; i++) {
      const c = randomContent(8000 + i);
      contents.set(`/fleet/car-${i}/photo.jpg`, c);
      await app.upload(`/fleet/car-${i}/photo.jpg`, 1, c);
    }
    proxy.state.delayMs = 400; // two at a time, 0.4 s each: the batch takes about 5 s
    const r = await stack.api('POST', `/api/v1/mirrors/${mirrorId}/run`, { token });
    assert.equal(r.status, 202);
    const stored = async () => {
      const out: string[] = [];
      for (const p of contents.keys()) {
        const names = await readdir(
          fileAt(
            p
              .slice(1)
              .replace(/\.jpg$/, '')
              .replace(/^/, ''),
          ),
        ).catch(() => []);
        if ((names as string[]).includes('v1.gzip')) out.push(p);
      }
      return out;
    };
    const before = await waitFor(
      async () => {
        const s = await stored();
        return s.length >= 4 ? s : undefined;
      },
      60_000,
      'some versions stored',
    );
    await worker.kill();
    const finished = await stored();
    assert.ok(finished.length < n, 'the batch had already finished; the test needs slower fetches');
    proxy.state.delayMs = 0;
    worker = await stack.startSiteWorker(siteConfig);
    const run = await waitFor(
      async () => {
        const items = (await stack.api('GET', `/api/v1/mirrors/${mirrorId}/runs`, { token })).body.items;
        return items[0].status !== 'running' ? items[0] : undefined;
      },
      180_000,
      'the resumed run',
    );
    assert.equal(run.status, 'succeeded', JSON.stringify(run));
    const { attempts } = await activityPayloads(stack, run.workflowId, 'mirrorObjects');
    assert.ok(Math.max(...attempts) >= 2, 'the batch was retried on the restarted worker');
    for (const p of finished)
      assert.equal(proxy.gets.get(app.blobPath(`${p.slice(1)}@v1`)), 1, `${p} was fetched again after the crash`);
    for (const [p, c] of contents)
      assert.deepEqual(await gunzipFile(fileAt(p.slice(1).replace(/\.jpg$/, ''), 'v1.gzip')), c);
    assert.ok(before.length >= 4);
    const names = await readdir(fileAt('fleet', 'car-0', 'photo'));
    assert.deepEqual(names, ['v1.gzip'], 'no work file left behind');
  });

  it("reads the application's database as a read-only user: a write through it fails", async () => {
    const sql = postgres(app.readerUrl(), { max: 1, onnotice: () => {} });
    try {
      const [row] = await sql`select count(*)::int as n from "ObjectStorageFiles"`;
      assert.ok(row!.n > 0);
      await assert.rejects(sql`insert into "ObjectStorageDeleteLog" ("FileId") values (1)`, /permission denied/);
      await assert.rejects(sql`update "ObjectStorageFiles" set "Hash" = 'x'`, /permission denied/);
    } finally {
      await sql.end();
    }
    // The site worker logged in as that user.
    assert.equal(siteConfig.servers['app-pg']!.user, app.reader.user);
  });
});

describe('object mirror: the layout on disk (hostile paths)', () => {
  it('maps a row to <bucket>/<path without extension>/v<N>.gzip and refuses anything that could leave the root', () => {
    assert.deepEqual(mirrorKey('car-erp', '/cars/id-1/thumbnail.png', 1), {
      key: 'car-erp/cars/id-1/thumbnail/v1.gzip',
    });
    assert.deepEqual(mirrorKey('b', 'noext', 7), { key: 'b/noext/v7.gzip' });
    assert.deepEqual(mirrorKey('b', '/a//b/archive.tar.gz', 2), { key: 'b/a/b/archive.tar/v2.gzip' });
    for (const [bucket, p] of [
      ['b', '/../x.png'],
      ['b', '/a/../../x.png'],
      ['b', 'a/./x.png'],
      ['b', 'a\\..\\x.png'],
      ['b', 'a/x\0.png'],
      ['b', '/'],
      ['b', '/a/.hidden'],
      ['..', '/a.png'],
      ['a/b', '/a.png'],
      ['/etc', '/a.png'],
      ['', '/a.png'],
    ] as const)
      assert.ok('problem' in mirrorKey(bucket, p, 1), `${bucket} ${p} was accepted`);
    assert.ok('problem' in mirrorKey('b', '/a.png', -1));
  });

  it('reads a SHA-256 written as hex or base64', () => {
    const hex = createHash('sha256').update('x').digest('hex');
    const b64 = createHash('sha256').update('x').digest('base64');
    assert.equal(normalizeSha256(hex.toUpperCase()), hex);
    assert.equal(normalizeSha256(b64), hex);
    assert.equal(normalizeSha256('not a hash'), undefined);
  });
});

describe('object mirror: a MariaDB source read by a read-only user', () => {
  let db: Awaited<ReturnType<typeof createTempMariadbDatabase>>;
  const user = uniqueName('bp_ro').slice(0, 32);
  const password = `ro'"${randomUUID().slice(0, 8)}`;
  const lit = (s: string) => `'${s.replaceAll('\\', '\\\\').replaceAll("'", "''")}'`;

  before(async () => {
    db = await createTempMariadbDatabase('bp_app');
    await mariadbAdmin(
      `CREATE TABLE ObjectStorageFiles (Id BIGINT AUTO_INCREMENT PRIMARY KEY, Name TEXT, Path TEXT NOT NULL, Storage TEXT NOT NULL, Version INT NOT NULL, Hash TEXT NOT NULL, SignedDownloadUrl TEXT NOT NULL);
       CREATE TABLE ObjectStorageDeleteLog (Id BIGINT AUTO_INCREMENT PRIMARY KEY, FileId BIGINT NOT NULL, DeletedAt DATETIME(3) NOT NULL);
       INSERT INTO ObjectStorageFiles (Name, Path, Storage, Version, Hash, SignedDownloadUrl) VALUES
         ('thumbnail.png', '/cars/id-1/thumbnail.png', 'car-erp', 1, 'aa', 'https://example.test/1'),
         ('thumbnail.png', '/cars/id-1/thumbnail.png', 'car-erp', 2, 'bb', 'https://example.test/2'),
         (NULL, '/cars/id-2/it''s\ttab.png', 'car-erp', 1, 'cc', 'https://example.test/3');
       INSERT INTO ObjectStorageDeleteLog (FileId, DeletedAt) VALUES (1, '2026-01-01 10:00:00'), (3, '2026-01-20 10:00:00');`,
      db.name,
    );
    await mariadbAdmin(`CREATE USER ${lit(user)}@'%' IDENTIFIED BY ${lit(password)};
      GRANT SELECT ON \`${db.name}\`.* TO ${lit(user)}@'%';`);
  });
  after(async () => {
    await mariadbAdmin(`DROP USER IF EXISTS ${lit(user)}@'%';`).catch(() => {});
    await db?.drop();
  });

  it('reads the rows after the cursor and the deletions due, and cannot write', async () => {
    const conn = mariadbConn({ user, password });
    const first = await readNewFiles(conn, db.name, DEFAULT_MIRROR_LAYOUT, null, 2);
    assert.deepEqual(
      first.map((r) => [r.id, r.path, r.storage, r.version, r.hash]),
      [
        ['1', '/cars/id-1/thumbnail.png', 'car-erp', 1, 'aa'],
        ['2', '/cars/id-1/thumbnail.png', 'car-erp', 2, 'bb'],
      ],
    );
    const rest = await readNewFiles(conn, db.name, DEFAULT_MIRROR_LAYOUT, '2', 2);
    assert.deepEqual(
      rest.map((r) => [r.id, r.name, r.path]),
      [['3', null, "/cars/id-2/it's\ttab.png"]],
    );
    const due = await readDueDeletions(conn, db.name, DEFAULT_MIRROR_LAYOUT, null, new Date('2026-01-10T00:00:00Z'));
    assert.deepEqual(
      due.map((d) => [d.fileId, d.deletedAt.toISOString(), d.version]),
      [['1', '2026-01-01T10:00:00.000Z', 1]],
    );
    const layout = { ...DEFAULT_MIRROR_LAYOUT, filesTable: 'ObjectStorageFiles`; DROP TABLE x; --' };
    await assert.rejects(readNewFiles(conn, db.name, layout, null, 1), /not a plain SQL name/);
    await assert.rejects(
      mariadbQuery(conn, db.name, 'INSERT INTO ObjectStorageDeleteLog (FileId, DeletedAt) VALUES (9, NOW());'),
      /denied/i,
    );
  });
});

describe('object mirror: one bandwidth limit for every fetch of a run', () => {
  it('two concurrent streams through one shared pace take the time the limit gives their sum', async () => {
    const pace = sharedPace(256 * 1024);
    const stream = async () => {
      let n = 0;
      await pipeline(Readable.from([Buffer.alloc(128 * 1024), Buffer.alloc(128 * 1024)]), pace(), async (src) => {
        for await (const c of src) n += (c as Buffer).length;
      });
      return n;
    };
    const t0 = performance.now();
    const sizes = await Promise.all([stream(), stream()]);
    const seconds = (performance.now() - t0) / 1000;
    assert.deepEqual(sizes, [256 * 1024, 256 * 1024]);
    // 512 KiB at 256 KiB/s: about 2 s together (each alone would be allowed 1 s).
    assert.ok(seconds >= 1.8, `took ${seconds.toFixed(2)} s`);
  });
});
