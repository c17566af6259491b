// Issue 4, through the real platform: each engine backs up and restores table for table; compression and encryption
// are what the configuration says; cleaning modes do exactly what they promise (and need a confirmation when they
// delete); an encrypted backup hides its data and its key, and refuses to restore once damaged.
// The API, Temporal, the central worker and site workers run as in production; restores use the site's own `restore`
// activity on the same site configuration.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable, Writable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { pipeline } from 'node:stream/promises';
import { after, before, describe, it } from 'node:test';
import { createGzip } from 'node:zlib';
import type { ApplicationFailure } from '@temporalio/common';
import { BackupError } from '../common/errors.ts';
import { engineFor } from '../activities/engines/index.ts';
import { decompressStream } from '../activities/pipeline/compression.ts';
import { keyId, openSealed } from '../activities/pipeline/envelope.ts';
import { DEFAULT_COMPRESSION } from '../common/model.ts';
import { activityPayloads, createConfig, runNowAndWait, sha256OfFile } from './helpers/fixtures.ts';
import {
  harnessFor,
  LOGS_OLDER_THAN_30_DAYS,
  newMarker,
  rowCounts,
  ROWS,
  type EngineHarness,
  type EngineName,
  type Fingerprint,
} from './helpers/engine-data.ts';
import {
  filesUnder,
  historyText,
  restoreBackup,
  restoreInChild,
  setUpEngineSite,
  type BackupRow,
  type EngineSite,
} from './helpers/engine-sites.ts';
import { settleAll, signup, startStack, type Stack } from './helpers/stack.ts';

const FORMAT: Record<EngineName, string> = { postgresql: 'pgdump', mariadb: 'sql', sqlite: 'sqlite' };
const ZSTD_MAGIC = Buffer.from([0x28, 0xb5, 0x2f, 0xfd]);
const GZIP_MAGIC = Buffer.from([0x1f, 0x8b]);

/** History's table names without PostgreSQL's schema, as the fingerprints name them. */
const countsOf = (tableCounts: { table: string; rows: number; exact: boolean }[]) =>
  Object.fromEntries(tableCounts.map((c) => [c.table.replace(/^public\./, ''), c.rows]));

const failedWith = (type: string, message?: RegExp) => (e: unknown) => {
  const f = e as ApplicationFailure;
  assert.equal(f.type, type, f.message);
  assert.equal(f.nonRetryable, true, 'non-retryable');
  if (message) assert.match(f.message, message);
  return true;
};

const tampered = (e: unknown) => {
  assert.ok(e instanceof BackupError, `expected a BackupError, got ${String(e)}`);
  assert.equal(e.details.code, 'BackupTampered', e.message);
  return true;
};

/** The bytes a sealed file holds once opened with the tenant key (still compressed). */
async function unseal(file: string, key: Buffer): Promise<Buffer> {
  const out: Buffer[] = [];
  await pipeline(
    Readable.from([await readFile(file)]),
    openSealed(key),
    new Writable({ write: (c: Buffer, _e, cb) => (out.push(c), cb()) }),
  );
  return Buffer.concat(out);
}
const discard = () => new Writable({ write: (_c, _e, cb) => cb() });

describe('engines and pipeline options, end to end', { concurrency: true }, () => {
  let stack: Stack;
  const harness = {} as Record<EngineName, EngineHarness>;
  const made: [EngineHarness, string][] = [];

  before(async () => {
    await settleAll([
      startStack().then((s) => (stack = s)),
      ...(['postgresql', 'mariadb', 'sqlite'] as const).map((e) => harnessFor(e).then((h) => (harness[e] = h))),
    ]);
  });
  after(async () => {
    for (const [h, name] of made) await h.drop(name).catch((e: unknown) => console.error(`drop ${name}:`, e));
    for (const h of Object.values(harness)) await h.close();
    await stack?.stop();
  });

  /** A fresh source database of the fixture, with its marker and fingerprint. */
  async function source(h: EngineHarness) {
    const name = h.newName();
    made.push([h, name]);
    const marker = newMarker();
    await h.createFixture(name, marker);
    const fingerprint = await h.fingerprint(name);
    assert.deepEqual(rowCounts(fingerprint), ROWS, 'the fixture is as planned');
    return { name, marker, fingerprint };
  }

  const newTarget = (h: EngineHarness) => {
    const name = h.newName();
    made.push([h, name]);
    return name;
  };

  /** Restores the backup's site copy into a new database with the site's `restore` activity; answers its fingerprint. */
  async function restored(
    h: EngineHarness,
    site: { siteConfig: Parameters<typeof restoreBackup>[0] },
    row: BackupRow,
  ): Promise<Fingerprint> {
    const target = newTarget(h);
    const result = await restoreBackup(site.siteConfig, row, { serverName: 'db', database: target });
    assert.equal(result.replaced, false);
    assert.ok(result.rawBytes > row.sizeBytes, `raw bytes ${result.rawBytes} (file ${row.sizeBytes})`);
    return h.fingerprint(target);
  }

  describe('round trip of each engine', { concurrency: true }, () => {
    const cases = [
      { engine: 'postgresql', compression: { algorithm: 'zstd', level: 9 }, encrypt: false },
      { engine: 'mariadb', compression: { algorithm: 'gzip', level: 6 }, encrypt: false },
      { engine: 'sqlite', compression: undefined, encrypt: false },
      { engine: 'sqlite', compression: { algorithm: 'zstd', level: 19 }, encrypt: true },
      { engine: 'postgresql', compression: { algorithm: 'zstd', level: 3, long: false }, encrypt: false },
    ] as const;
    for (const c of cases) {
      const label = `${c.compression ? `${c.compression.algorithm} ${c.compression.level}${'long' in c.compression ? ' without long-distance matching' : ''}` : `default compression (zstd ${DEFAULT_COMPRESSION.level}, long-distance matching)`}${c.encrypt ? ', encrypted' : ''}`;
      it(`${c.engine}: backs up (${label}) with the source's row counts, and restores under a new name table for table`, async (t) => {
        const h = harness[c.engine];
        const src = await source(h);
        const { token } = await signup(stack);
        const masterKey = randomBytes(32);
        const backupsDir = path.join(stack.tmp, `roundtrip-${c.engine}${c.encrypt ? '-encrypted' : ''}`);
        const site = await setUpEngineSite(stack, token, {
          backupsDir,
          servers: { db: h.serverSettings() },
          ...(c.encrypt && { encryption: { key: masterKey.toString('hex') } }),
        });
        const config = await createConfig(stack, token, {
          serverId: site.servers.db!.id,
          databases: [src.name],
          encrypt: c.encrypt,
          ...(c.compression && { compression: c.compression }),
        });
        const compression = c.compression ?? DEFAULT_COMPRESSION;
        // zstd's long-distance matching is on unless a configuration turns it off.
        assert.deepEqual(
          config.compression,
          compression.algorithm === 'zstd' ? { long: true, ...compression } : compression,
        );

        const started = Date.now();
        const [row] = (await runNowAndWait(stack, token, config.id)) as any[];
        t.diagnostic(`backup: ${row.sizeBytes} bytes in ${Date.now() - started} ms`);
        assert.equal(row.status, 'succeeded', row.error);
        assert.equal(row.kind, 'backup');
        const ext = compression.algorithm === 'gzip' ? 'gz' : 'zst';
        assert.match(
          row.fileName,
          new RegExp(
            `^${src.name}_\\d{8}_\\d{6}_[0-9a-f]{8}\\.${FORMAT[c.engine]}\\.${ext}${c.encrypt ? '\\.enc' : ''}$`,
          ),
        );
        assert.equal(row.compression, compression.algorithm);
        assert.equal(row.encrypted, c.encrypt);
        assert.equal(row.keyId, c.encrypt ? keyId(masterKey) : null);
        assert.deepEqual(row.rowsRemoved, []);
        assert.deepEqual(
          countsOf(row.tableCounts),
          rowCounts(src.fingerprint),
          "tableCounts are the source tables' real counts",
        );
        assert.ok(
          row.tableCounts.every((x: { exact: boolean }) => x.exact),
          'small tables are counted exactly',
        );

        // The file is what the history says, compressed as configured (and sealed when asked).
        const file = path.join(backupsDir, 'db', src.name, row.fileName);
        assert.equal((await stat(file)).size, row.sizeBytes);
        assert.equal(await sha256OfFile(file), row.sha256);
        const compressed = c.encrypt ? await unseal(file, masterKey) : await readFile(file);
        if (c.encrypt) assert.equal((await readFile(file)).subarray(0, 6).toString('latin1'), 'BPENV1');
        assert.ok(
          compressed
            .subarray(0, compression.algorithm === 'gzip' ? 2 : 4)
            .equals(compression.algorithm === 'gzip' ? GZIP_MAGIC : ZSTD_MAGIC),
          `a ${compression.algorithm} stream`,
        );
        const plain = await buffer(Readable.from([compressed]).pipe(decompressStream(compression.algorithm)));
        assert.ok(plain.includes(src.marker), 'the dump holds the source rows');
        if (compression.algorithm === 'gzip') {
          // gzip's output depends only on the input and the level: the same bytes prove the configured level was used.
          const again = await buffer(Readable.from([plain]).pipe(createGzip({ level: compression.level })));
          assert.ok(again.equals(compressed), `gzip at level ${compression.level}`);
        }

        assert.deepEqual(
          await restored(h, site, row),
          src.fingerprint,
          'every table restores with the same rows and content',
        );
      });
    }
  });

  it('sqlite: a database file named with an extension (shop.db) can be configured, backed up and restored', async () => {
    const h = harness.sqlite;
    const name = `${h.newName()}.db`;
    made.push([h, name]);
    await h.createFixture(name, newMarker());
    const fingerprint = await h.fingerprint(name);
    const { token } = await signup(stack);
    const site = await setUpEngineSite(stack, token, {
      backupsDir: path.join(stack.tmp, 'dotted'),
      servers: { db: h.serverSettings() },
    });
    const res = await stack.api('POST', '/api/v1/configs', {
      token,
      body: {
        name: 'app-db',
        serverId: site.servers.db!.id,
        databases: [name],
        schedule: { kind: 'daily', time: '03:00' },
        timezone: 'UTC',
      },
    });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    const [row] = (await runNowAndWait(stack, token, res.body.id)) as any[];
    assert.equal(row.status, 'succeeded', row.error);
    assert.match(row.fileName, new RegExp(`^${name.replace('.', '\\.')}_\\d{8}_\\d{6}_[0-9a-f]{8}\\.sqlite\\.zst$`));
    assert.deepEqual(await restored(h, site, row), fingerprint);
  });

  describe('cleaning tables', { concurrency: true }, () => {
    it('refuses truncate and deleteOlderThan without confirmDestructiveCleaning, and saves nothing', async () => {
      const { token } = await signup(stack);
      const site = (await stack.api('POST', '/api/v1/sites', { token, body: { name: 'no-worker' } })).body;
      const server = (
        await stack.api('POST', '/api/v1/servers', {
          token,
          body: { siteId: site.id, name: 'db', engine: 'postgresql' },
        })
      ).body;
      const base = {
        name: 'destructive',
        serverId: server.id,
        databases: ['shop'],
        schedule: { kind: 'daily', time: '03:00' },
        timezone: 'UTC',
      };
      for (const cleanTables of [
        [{ table: 'sessions', mode: 'truncate' }],
        [{ table: 'logs', mode: 'deleteOlderThan', column: 'at', days: 30 }],
        [{ table: 'events' }, { table: 'sessions', mode: 'truncate' }],
      ]) {
        for (const confirm of [{}, { confirmDestructiveCleaning: false }]) {
          const res = await stack.api('POST', '/api/v1/configs', { token, body: { ...base, cleanTables, ...confirm } });
          assert.equal(res.status, 400, JSON.stringify(res.body));
          assert.deepEqual(
            res.body.error.issues.map((i: { field: string }) => i.field),
            ['confirmDestructiveCleaning'],
          );
          assert.match(res.body.error.message, /delete rows at the source/);
        }
      }
      assert.deepEqual((await stack.api('GET', '/api/v1/configs', { token })).body.items, [], 'nothing saved');

      // A saved configuration cannot become destructive without the confirmation either.
      const cfg = await createConfig(stack, token, {
        serverId: server.id,
        databases: ['shop'],
        cleanTables: [{ table: 'events' }],
      });
      assert.deepEqual(cfg.cleanTables, [{ table: 'events', mode: 'exclude' }]);
      const patch = await stack.api('PATCH', `/api/v1/configs/${cfg.id}`, {
        token,
        body: { cleanTables: [{ table: 'sessions', mode: 'truncate' }] },
      });
      assert.equal(patch.status, 400, JSON.stringify(patch.body));
      assert.equal(patch.body.error.issues[0].field, 'confirmDestructiveCleaning');
      assert.deepEqual(
        (await stack.api('GET', `/api/v1/configs/${cfg.id}`, { token })).body.cleanTables,
        [{ table: 'events', mode: 'exclude' }],
        'unchanged',
      );
      const ok = await stack.api('PATCH', `/api/v1/configs/${cfg.id}`, {
        token,
        body: { cleanTables: [{ table: 'sessions', mode: 'truncate' }], confirmDestructiveCleaning: true },
      });
      assert.equal(ok.status, 200, JSON.stringify(ok.body));
    });

    for (const engine of ['postgresql', 'mariadb', 'sqlite'] as const) {
      it(`${engine}: truncate empties the table and deleteOlderThan deletes exactly the old rows at the source; history and backup show it`, async () => {
        const h = harness[engine];
        const src = await source(h);
        const { token } = await signup(stack);
        const site = await setUpEngineSite(stack, token, {
          backupsDir: path.join(stack.tmp, `clean-${engine}`),
          servers: { db: h.serverSettings() },
        });
        const config = await createConfig(stack, token, {
          serverId: site.servers.db!.id,
          databases: [src.name],
          confirmDestructiveCleaning: true,
          cleanTables: [
            { table: 'sessions', mode: 'truncate' },
            { table: 'logs', mode: 'deleteOlderThan', column: 'at', days: 30 },
          ],
        });
        const [row] = (await runNowAndWait(stack, token, config.id)) as any[];
        assert.equal(row.status, 'succeeded', row.error);
        assert.deepEqual(
          row.rowsRemoved.map((r: { table: string; mode: string; rows: number }) => ({
            ...r,
            table: r.table.replace(/^"?public"?\./, ''),
          })),
          [
            { table: 'sessions', mode: 'truncate', rows: ROWS.sessions },
            { table: 'logs', mode: 'deleteOlderThan at 30 days', rows: LOGS_OLDER_THAN_30_DAYS },
          ],
        );

        const cleaned = await h.fingerprint(src.name);
        assert.deepEqual(
          rowCounts(cleaned),
          { ...ROWS, sessions: 0, logs: ROWS.logs - LOGS_OLDER_THAN_30_DAYS },
          'the source lost exactly those rows',
        );
        for (const t of ['customers', 'orders', 'events'])
          assert.equal(cleaned[t], src.fingerprint[t], `${t} untouched`);
        assert.deepEqual(countsOf(row.tableCounts), rowCounts(cleaned), 'tableCounts describe the cleaned source');
        assert.deepEqual(await restored(h, site, row), cleaned, 'the backup is the cleaned source');
      });
    }

    it('exclude leaves the source untouched and keeps the table, without its rows, in the backup (sqlite)', async (t) => {
      const h = harness.sqlite;
      const src = await source(h);
      const { token } = await signup(stack);
      const site = await setUpEngineSite(stack, token, {
        backupsDir: path.join(stack.tmp, 'exclude'),
        servers: { db: h.serverSettings() },
      });
      const config = await createConfig(stack, token, {
        serverId: site.servers.db!.id,
        databases: [src.name],
        cleanTables: [{ table: 'events' }],
      });
      assert.equal(config.confirmDestructiveCleaning, false, 'exclude needs no confirmation');
      const [row] = (await runNowAndWait(stack, token, config.id)) as any[];
      assert.equal(row.status, 'succeeded', row.error);
      assert.deepEqual(row.rowsRemoved, []);
      assert.deepEqual(await h.fingerprint(src.name), src.fingerprint, 'the source is untouched');
      const got = await restored(h, site, row);
      assert.equal(rowCounts(got).events, 0, 'the excluded table is there, empty: its schema was kept');
      assert.deepEqual(
        { ...got, events: undefined },
        { ...src.fingerprint, events: undefined },
        'every other table as at the source',
      );
      const counts = countsOf(row.tableCounts);
      assert.deepEqual({ ...counts, events: undefined }, { ...rowCounts(src.fingerprint), events: undefined });
      await t.test('tableCounts records what the backup holds of an excluded table (0 rows)', () => {
        assert.equal(counts.events, 0);
      });
    });

    it('an unknown table fails the run once, naming the table, before any row is touched or file written', async () => {
      const h = harness.postgresql;
      const src = await source(h);
      const { token } = await signup(stack);
      const backupsDir = path.join(stack.tmp, 'unknown-table');
      const site = await setUpEngineSite(stack, token, { backupsDir, servers: { db: h.serverSettings() } });
      const config = await createConfig(stack, token, {
        serverId: site.servers.db!.id,
        databases: [src.name],
        confirmDestructiveCleaning: true,
        cleanTables: [{ table: 'sessions', mode: 'truncate' }, { table: 'no_such_table' }],
      });
      const [row] = (await runNowAndWait(stack, token, config.id)) as any[];
      assert.equal(row.status, 'failed');
      assert.match(row.error, /no_such_table/);
      assert.match(row.error, /does not exist/);
      assert.equal(row.fileName, null);
      assert.equal(row.availableForDownload, false);
      const clean = await activityPayloads(stack, row.workflowId, 'cleanTables');
      assert.deepEqual(clean.attempts, [1], 'not retried');
      assert.equal((await activityPayloads(stack, row.workflowId, 'dump')).inputs.length, 0, 'no dump');
      assert.equal((await stack.temporal.client.workflow.getHandle(row.workflowId).describe()).status.name, 'FAILED');
      assert.deepEqual(
        await h.fingerprint(src.name),
        src.fingerprint,
        'sessions was not truncated: nothing is touched when one table is unknown',
      );
      assert.deepEqual(await filesUnder(backupsDir), [], 'no backup file, not even an empty one');
    });
  });

  describe('encryption', { concurrency: true }, () => {
    const masterKey = randomBytes(32);
    const backupsDir = () => path.join(stack.tmp, 'encrypted');
    let src: Awaited<ReturnType<typeof source>>;
    let site: EngineSite;
    let row: any;
    let file: string;
    let raw: Buffer;

    before(async () => {
      src = await source(harness.postgresql);
      const { token } = await signup(stack);
      site = await setUpEngineSite(stack, token, {
        backupsDir: backupsDir(),
        servers: { db: harness.postgresql.serverSettings() },
        encryption: { key: masterKey.toString('hex') },
      });
      const config = await createConfig(stack, token, {
        serverId: site.servers.db!.id,
        databases: [src.name],
        encrypt: true,
      });
      [row] = (await runNowAndWait(stack, token, config.id)) as any[];
      file = path.join(backupsDir(), 'db', src.name, row.fileName);
      raw = await readFile(file);
    });

    /** A copy of the backup with other bytes, next to it at the site, as a history row that points at it. */
    async function damagedCopy(
      name: string,
      bytes: Buffer,
      recorded: 'original' | 'own' = 'original',
    ): Promise<BackupRow> {
      const key = `db/${src.name}/${name}`;
      await writeFile(path.join(backupsDir(), key), bytes);
      return {
        ...row,
        location: `site:${key}`,
        ...(recorded === 'own' && {
          sha256: createHash('sha256').update(bytes).digest('hex'),
          sizeBytes: bytes.length,
        }),
      };
    }
    const flipped = () => {
      const b = Buffer.from(raw);
      b[Math.floor(b.length * 0.6)]! ^= 0x01;
      return b;
    };
    const opens = (bytes: Buffer, key = masterKey) => pipeline(Readable.from([bytes]), openSealed(key), discard());

    it('names the file .enc, records encrypted and the key id, and leaves no plaintext in the file', () => {
      assert.equal(row.status, 'succeeded', row.error);
      assert.match(row.fileName, new RegExp(`^${src.name}_\\d{8}_\\d{6}_[0-9a-f]{8}\\.pgdump\\.zst\\.enc$`));
      assert.equal(row.encrypted, true);
      assert.equal(row.keyId, keyId(masterKey));
      assert.match(row.keyId, /^[0-9a-f]{16}$/);
      assert.equal(raw.length, row.sizeBytes);
      assert.equal(createHash('sha256').update(raw).digest('hex'), row.sha256);
      assert.ok(!raw.includes(Buffer.from(src.marker)), 'the marker from the source rows is not in the file');
      assert.ok(!raw.includes(Buffer.from('Ünïcødé')), 'nor any other row text');
    });

    it('keeps the key, in any encoding, out of the Temporal history and every log line', async () => {
      const forms = [
        masterKey.toString('hex'),
        masterKey.toString('hex').toUpperCase(),
        masterKey.toString('base64'),
        masterKey.toString('base64url'),
      ];
      const history = await historyText(stack, row.workflowId);
      assert.ok(
        history.includes(row.keyId) && history.includes(row.sha256),
        'the history is readable: it names the key by its id, and the file by its hash',
      );
      for (const f of forms) assert.ok(!history.includes(f), `the Temporal history holds the key (${f.slice(0, 6)}…)`);
      const lines = [...site.worker.logs.raw, ...stack.logs.raw];
      assert.ok(
        site.worker.logs.lines.some((l) => l.message === 'dump finished'),
        'the site worker logged the dump',
      );
      for (const line of lines)
        for (const f of forms) assert.ok(!line.includes(f), `a log line holds the key: ${line}`);
    });

    it('restore refuses a copy with a flipped byte or cut short (CopyCorrupt), before touching the target', async () => {
      for (const [name, bytes] of [
        ['flipped', flipped()],
        ['cut', raw.subarray(0, raw.length >> 1)],
      ] as const) {
        const target = newTarget(harness.postgresql);
        await assert.rejects(
          restoreBackup(site.siteConfig, await damagedCopy(name, bytes), { serverName: 'db', database: target }),
          failedWith('CopyCorrupt', /does not match the backup/),
          name,
        );
        assert.equal(
          await engineFor('postgresql').databaseExists(harness.postgresql.conn(), target),
          false,
          `${name}: the target was not created`,
        );
      }
    });

    it('opens with the tenant key only, and restores table for table', async () => {
      const compressed = await unseal(file, masterKey);
      assert.ok(compressed.subarray(0, 4).equals(ZSTD_MAGIC), 'sealed after compression');
      const slice = compressed.subarray(compressed.length >> 1, (compressed.length >> 1) + 32);
      assert.ok(
        !raw.includes(slice),
        'the compressed bytes are not in the file either: it is encrypted, not only compressed',
      );
      assert.ok(
        (await buffer(Readable.from([compressed]).pipe(decompressStream('zstd')))).includes(src.marker),
        'the dump holds the marker',
      );
      await assert.rejects(
        opens(raw, randomBytes(32)),
        (e: unknown) => e instanceof BackupError && e.details.code === 'KeyMismatch',
      );
      assert.deepEqual(
        await restored(harness.postgresql, site, row),
        src.fingerprint,
        'the encrypted backup restores table for table',
      );
    });

    it('the envelope refuses a flipped byte, a cut file or a cut envelope (BackupTampered)', async () => {
      await opens(raw); // the intact file opens: what follows fails because of the damage alone
      await assert.rejects(opens(flipped()), tampered, 'flipped byte');
      await assert.rejects(opens(raw.subarray(0, raw.length >> 1)), tampered, 'cut file');
      await assert.rejects(opens(raw.subarray(0, raw.length - 1)), tampered, 'one byte short');
      await assert.rejects(opens(raw.subarray(0, 20)), tampered, 'cut envelope');
    });

    it('a restore that fails while decrypting ends in a clean non-retryable failure, leaves no database, and the site process survives', async () => {
      const cases = [
        // The site holds another key than the tenant's: nothing opens.
        {
          name: 'wrong key',
          copy: row as BackupRow,
          siteConfig: { ...site.siteConfig, encryption: { key: randomBytes(32).toString('hex') } },
          type: 'KeyMismatch',
        },
        // Damage the hash cannot see (it was recorded from the damaged bytes): the decryption stops it.
        {
          name: 'damaged, hash matches',
          copy: await damagedCopy('flipped-own', flipped(), 'own'),
          siteConfig: site.siteConfig,
          type: 'BackupTampered',
        },
        {
          name: 'cut, hash matches',
          copy: await damagedCopy('cut-own', raw.subarray(0, raw.length - 100), 'own'),
          siteConfig: site.siteConfig,
          type: 'BackupTampered',
        },
      ];
      for (const c of cases) {
        const target = newTarget(harness.postgresql);
        const run = await restoreInChild(c.siteConfig, c.copy, { serverName: 'db', database: target });
        assert.equal(
          run.code,
          0,
          `${c.name}: the process ended with an exception nobody caught (a site worker would crash):\n${run.stderr}`,
        );
        assert.deepEqual(
          run.outcome && {
            ok: run.outcome.ok,
            type: 'type' in run.outcome && run.outcome.type,
            nonRetryable: 'nonRetryable' in run.outcome && run.outcome.nonRetryable,
          },
          { ok: false, type: c.type, nonRetryable: true },
          `${c.name}: ${JSON.stringify(run.outcome)}`,
        );
        assert.equal(
          await engineFor('postgresql').databaseExists(harness.postgresql.conn(), target),
          false,
          `${c.name}: no half-restored database`,
        );
      }
    });

    it('a site without a key fails the run once, saying to add the key', async () => {
      const h = harness.postgresql;
      const other = await source(h);
      const { token } = await signup(stack);
      const dir = path.join(stack.tmp, 'keyless');
      const keyless = await setUpEngineSite(stack, token, { backupsDir: dir, servers: { db: h.serverSettings() } });
      const config = await createConfig(stack, token, {
        serverId: keyless.servers.db!.id,
        databases: [other.name],
        encrypt: true,
      });
      const [r] = (await runNowAndWait(stack, token, config.id)) as any[];
      assert.equal(r.status, 'failed');
      assert.match(r.error, /no "encryption" key: add the tenant key/);
      assert.equal(r.fileName, null);
      assert.deepEqual((await activityPayloads(stack, r.workflowId, 'dump')).attempts, [1], 'not retried');
      assert.equal((await stack.temporal.client.workflow.getHandle(r.workflowId).describe()).status.name, 'FAILED');
      assert.deepEqual(await filesUnder(dir), [], 'no file, no partial file');
    });
  });
});
