// Issue 20, MongoDB: the engine against FerretDB v1.24.2 (on the machine's PostgreSQL) started by this file. A backup
// through the platform restores to equal documents and indexes; excluded collections keep their metadata only;
// deleteOlderThan deletes by a date field; drills pass and fail; unsafe assertions are a 400; a site worker killed
// in the middle of a dump retries to one good backup.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { eq } from 'drizzle-orm';
import { type Db, type MongoClient } from 'mongodb';
import { mongodbEngine } from '../activities/engines/mongodb.ts';
import { backups } from '../db/schema.ts';
import { createConfig, runNowAndWait, sha256OfFile, unzstd, waitForRuns } from './helpers/fixtures.ts';
import { restoreBackup, setUpEngineSite, type EngineSite } from './helpers/engine-sites.ts';
import { mongoClient, mongoConn, startFerretDB, uniqueMongoName, type FerretDB } from './helpers/ferretdb.ts';
import { readArchiveFile, seedShop, snapshot } from './helpers/mongo-data.ts';
import { signup, startStack, waitFor, type Stack } from './helpers/stack.ts';

describe('MongoDB engine on FerretDB', () => {
  let stack: Stack;
  let ferret: FerretDB;
  let client: MongoClient;
  let token: string;
  let site: EngineSite;
  const dbs: string[] = [];
  const db = (name: string): Db => client.db(name);

  before(async () => {
    // The dump step counts each collection before its heartbeat starts, and FerretDB counts by reading documents: on
    // two shared cores that can outlast the stack's usual 3 s heartbeat timeout (production: 60 s).
    [stack, ferret] = await Promise.all([
      startStack({ env: { DUMP_HEARTBEAT_TIMEOUT_SECONDS: '15' } }),
      startFerretDB(),
    ]);
    client = mongoClient(ferret);
    ({ token } = await signup(stack));
    site = await setUpEngineSite(stack, token, {
      backupsDir: path.join(stack.tmp, 'mongo-backups'),
      servers: { 'main-mongo': { engine: 'mongodb', host: ferret.host, port: ferret.port } },
    });
  });
  after(async () => {
    for (const name of dbs)
      await client
        ?.db(name)
        .dropDatabase()
        .catch(() => {});
    await client?.close();
    await stack?.stop();
    await ferret?.stop();
  });
  const newDb = () => {
    const name = uniqueMongoName('bp_mongo');
    dbs.push(name);
    return name;
  };

  it('backs up, and a restore after a drop gives equal documents and indexes; an excluded collection keeps only its metadata', async () => {
    const name = newDb();
    await seedShop(db(name), { orders: 3000 });
    const before = await snapshot(db(name));
    const config = await createConfig(stack, token, {
      serverId: site.servers['main-mongo']!.id,
      databases: [name],
      cleanTables: [{ table: 'audit', mode: 'exclude' }],
    });
    const [row] = (await runNowAndWait(stack, token, config.id)) as any[];
    assert.equal(row.status, 'succeeded', row.error);
    assert.match(row.fileName, /\.mongoarchive\.zst$/);
    const counts = Object.fromEntries((row.tableCounts as any[]).map((t) => [t.table, t.rows]));
    assert.deepEqual(counts, { audit: 0, customers: 200, orders: 3000 }, 'an excluded collection counts 0');

    // The file is a mongodump archive: magic number, prelude with every collection, documents, EOF blocks.
    const plain = path.join(stack.tmp, `${name}.archive`);
    await unzstd(path.join(site.siteConfig.backupsDir, 'main-mongo', name, row.fileName), plain);
    const archive = await readArchiveFile(plain);
    assert.deepEqual(archive.collections, ['audit', 'customers', 'orders']);
    assert.deepEqual(archive.documents, { audit: 0, customers: 200, orders: 3000 });

    await db(name).dropDatabase();
    assert.equal(await mongodbEngine.databaseExists(mongoConn(ferret), name), false);
    const restored = await restoreBackup(site.siteConfig, row, { serverName: 'main-mongo', database: name });
    assert.equal(restored.replaced, false);
    assert.ok(restored.rawBytes > 0);
    const after = await snapshot(db(name));
    assert.deepEqual(after.indexes, before.indexes, 'the same indexes on every collection');
    assert.deepEqual(after.documents.customers, before.documents.customers);
    assert.deepEqual(after.documents.orders, before.documents.orders);
    assert.deepEqual(after.documents.audit, [], 'the excluded collection is there, empty');
    // A second restore into the now populated database is refused without overwrite.
    await assert.rejects(
      restoreBackup(site.siteConfig, row, { serverName: 'main-mongo', database: name }),
      /has tables|overwrite/,
    );
    // MongoDB's own databases are never a target: the API refuses, and so does the site's engine.
    for (const target of ['admin', 'local', 'config']) {
      const res = await stack.api('POST', '/api/v1/restores', {
        token,
        body: { backupId: row.id, targetDatabase: target, overwrite: true },
      });
      assert.equal(res.status, 400, JSON.stringify(res.body));
      assert.match(JSON.stringify(res.body), /targetDatabase/);
    }
    await assert.rejects(
      restoreBackup(site.siteConfig, row, { serverName: 'main-mongo', database: 'admin', overwrite: true }),
      /MongoDB's own database/,
    );
  });

  it('deleteOlderThan removes documents whose date field is older, and keeps the rest', async () => {
    const name = newDb();
    const now = Date.now();
    await db(name)
      .collection('events')
      .insertMany([
        { at: new Date(now - 40 * 86_400_000), k: 'old' },
        { at: new Date(now - 31 * 86_400_000), k: 'old' },
        { at: new Date(now - 2 * 86_400_000), k: 'new' },
        { at: '2001-01-01', k: 'text date, kept' },
        { k: 'no date, kept' },
      ]);
    const conn = mongoConn(ferret);
    assert.equal(await mongodbEngine.deleteOlderThan!(conn, name, 'events', 'at', 30), 2);
    const left = (await db(name).collection('events').find().toArray()).map((d) => d.k).sort();
    assert.deepEqual(left, ['new', 'no date, kept', 'text date, kept']);
    await assert.rejects(mongodbEngine.deleteOlderThan!(conn, name, 'nope', 'at', 30), /does not exist/);
    assert.equal(await mongodbEngine.truncateTables!(conn, name, ['events']), 3);
  });

  it('a drill passes, then fails on a false assertion and on a count outside the tolerance; unsafe assertions are a 400', async () => {
    const name = newDb();
    await seedShop(db(name), { orders: 500 });
    const drill = (assertions: string[], tolerancePercent = 0) => ({
      schedule: { kind: 'daily', time: '05:00' },
      tolerancePercent,
      assertions,
    });
    const config = await createConfig(stack, token, {
      serverId: site.servers['main-mongo']!.id,
      databases: [name],
      drill: drill([
        '{"collection": "orders", "filter": {"total": {"$gt": 0}}, "min": 500}',
        '{"collection": "customers", "pipeline": [{"$match": {"tier": 2}}, {"$count": "n"}]}',
      ]),
    });
    // A dry run first: it logs in, sizes the database and counts its collections, and stores nothing.
    const dry = await stack.api('POST', `/api/v1/configs/${config.id}/run`, { token, body: { dryRun: true } });
    assert.equal(dry.status, 200, JSON.stringify(dry.body));
    assert.equal(dry.body.ok, true, JSON.stringify(dry.body.checks));
    assert.match(JSON.stringify(dry.body.checks), /FerretDB v1\.24\.2/);
    assert.ok(dry.body.estimatedBytes > 0);
    const [row] = (await runNowAndWait(stack, token, config.id)) as any[];
    assert.equal(row.status, 'succeeded', row.error);
    const drillNow = async () => {
      const res = await stack.api('POST', `/api/v1/configs/${config.id}/drill`, { token });
      assert.equal(res.status, 202, JSON.stringify(res.body));
      return stack.temporal.client.workflow.getHandle(res.body.workflowId).result();
    };
    const good = await drillNow();
    assert.equal(good.ok, true, JSON.stringify(good));
    const left = (await client.db('admin').admin().listDatabases({ nameOnly: true })).databases.filter((d) =>
      d.name.startsWith(`${name}_drill_`),
    );
    assert.deepEqual(left, [], 'the scratch database was dropped');

    const patch = (body: unknown) => stack.api('PATCH', `/api/v1/configs/${config.id}`, { token, body });
    for (const unsafe of [
      '{"collection": "orders", "filter": {"$where": "sleep(1000)"}}',
      '{"collection": "orders", "pipeline": [{"$match": {}}, {"$out": "stolen"}]}',
      '{"collection": "orders", "pipeline": [{"$group": {"_id": 1, "x": {"$accumulator": {}}}}]}',
      'select 1',
    ]) {
      const res = await patch({ drill: drill([unsafe]) });
      assert.equal(res.status, 400, unsafe);
      assert.equal(res.body.error.issues[0].field, 'drill.assertions.0', JSON.stringify(res.body));
    }

    assert.equal(
      (await patch({ drill: drill(['{"collection": "orders", "filter": {}, "min": 100000}']) })).status,
      200,
    );
    const falseAssertion = await drillNow();
    assert.equal(falseAssertion.ok, false);
    const check = falseAssertion.databases[0].checks.find((c: any) => c.name === 'assertion 1');
    assert.equal(check.ok, false);
    assert.match(check.detail, /→ 500$/, 'the count it found');

    // The restored count against the count the backup recorded: 500 restored orders where 600 were recorded is
    // 17 % off, outside a 1 % tolerance and within a 20 % one.
    await stack.db.db
      .update(backups)
      .set({ tableCounts: (row.tableCounts as any[]).map((t) => (t.table === 'orders' ? { ...t, rows: 600 } : t)) })
      .where(eq(backups.id, row.id));
    assert.equal((await patch({ drill: drill([], 1) })).status, 200);
    const outside = await drillNow();
    assert.equal(outside.ok, false);
    assert.match(JSON.stringify(outside), /orders/);
    assert.equal((await patch({ drill: drill([], 20) })).status, 200);
    assert.equal((await drillNow()).ok, true, 'within a 20 % tolerance');
  });

  // Last: it replaces the site's worker.
  it('a site worker killed in the middle of a dump comes back, and the retried dump gives one good backup', async () => {
    const name = newDb();
    // About 20 MB of poorly compressible documents: FerretDB serves them for several seconds, long enough to be
    // caught mid-stream (the test says so if not). Above 100 000 documents the backup's count is the catalogue's,
    // not a scan of every document.
    for (let start = 0; start < 120_000; start += 2000)
      await db(name)
        .collection('docs')
        .insertMany(
          Array.from({ length: 2000 }, (_, k) => ({
            n: start + k,
            body: randomBytes(60).toString('hex'),
            at: new Date(),
          })),
        );
    assert.equal(await db(name).collection('docs').estimatedDocumentCount(), 120_000);
    const config = await createConfig(stack, token, {
      serverId: site.servers['main-mongo']!.id,
      databases: [name],
      keepLocal: 3,
    });
    const dir = path.join(site.siteConfig.backupsDir, 'main-mongo', name);
    assert.equal((await stack.api('POST', `/api/v1/configs/${config.id}/run`, { token })).status, 202);
    const partial = await waitFor(
      async () => {
        const names = await readdir(dir).catch(() => [] as string[]);
        const p = names.find((n) => n.endsWith('.partial'));
        const s = p && (await stat(path.join(dir, p)).catch(() => undefined));
        return s && s.size > 256 * 1024 ? p : undefined;
      },
      120_000,
      'a partial dump file',
    );
    await site.worker.kill();
    const finished = (await readdir(dir)).filter((n) => !n.startsWith('.'));
    assert.deepEqual(finished, [], `the dump had already finished (${partial}); the test needs a bigger database`);

    site.worker = await stack.startSiteWorker(site.siteConfig);
    const [row] = (await waitForRuns(stack, token, config.id, 1, 180_000)) as any[];
    assert.equal(row.status, 'succeeded', row.error);
    assert.deepEqual(await readdir(dir), [row.fileName], 'exactly the one backup file, no partial left behind');
    const file = path.join(dir, row.fileName);
    assert.equal(await sha256OfFile(file), row.sha256);
    const plain = path.join(stack.tmp, `${name}.archive`);
    await unzstd(file, plain);
    assert.deepEqual((await readArchiveFile(plain)).documents, { docs: 120_000 }, 'the whole collection, to its EOF');

    const history = await stack.temporal.client.workflow.getHandle(row.workflowId).fetchHistory();
    const events = history.events ?? [];
    const dumps = events.filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'dump');
    assert.equal(dumps.length, 1);
    const started = events.find(
      (e) => Number(e.activityTaskStartedEventAttributes?.scheduledEventId ?? -1) === Number(dumps[0]!.eventId),
    );
    assert.ok((started?.activityTaskStartedEventAttributes?.attempt ?? 0) >= 2, 'the dump was retried after the crash');
    const rows = (await stack.api('GET', `/api/v1/backups?configId=${config.id}`, { token })).body.items;
    assert.equal(rows.length, 1, 'one history row for the run');
  });
});
