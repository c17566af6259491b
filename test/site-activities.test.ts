// The site activities one by one, against the machine's PostgreSQL and a real folder, run in the SDK's activity
// context (MockActivityEnvironment supplies only the context: heartbeats, attempt number, cancellation).
import assert from 'node:assert/strict';
import { createReadStream } from 'node:fs';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { Readable, Transform } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import postgres from 'postgres';
import { BackupError } from '../common/errors.ts';
import { createLogger } from '../common/logger.ts';
import { backupFileName, parseBackupFileName } from '../common/names.ts';
import type { Compression } from '../common/model.ts';
import { readOne } from '../activities/site/checks.ts';
import { createSiteActivities } from '../activities/site/index.ts';
import { decompressStream } from '../activities/pipeline/compression.ts';
import { sealStream } from '../activities/pipeline/envelope.ts';
import { openStorage } from '../activities/storage/index.ts';
import { bufferSource } from '../activities/storage/sources.ts';
import type { Storage } from '../activities/storage/storage.ts';
import { SiteConfig } from '../activities/site-config.ts';
import { createShopDatabase, sha256OfFile } from './helpers/fixtures.ts';
import { PG_HOST, PG_PORT, PG_USER, pgUrl, uniqueName } from '../ops/services/pg.ts';
import { LogCapture } from './helpers/stack.ts';

describe('site activities', () => {
  let dir: string;
  let source: Awaited<ReturnType<typeof createShopDatabase>>;
  let acts: ReturnType<typeof createSiteActivities>;
  const logs = new LogCapture();

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'bp-site-'));
    source = await createShopDatabase({ customers: 50, events: 500 });
    const cfgPath = path.join(dir, 'site.json');
    await writeFile(
      cfgPath,
      JSON.stringify({
        apiUrl: 'http://127.0.0.1:9',
        siteKey: 'x'.repeat(40),
        backupsDir: 'backups',
        servers: {
          pg: {
            engine: 'postgresql',
            host: PG_HOST,
            port: PG_PORT,
            user: PG_USER,
            passwordEnv: 'BP_TEST_UNUSED_PASSWORD',
          },
        },
      }),
    );
    process.env.BP_TEST_UNUSED_PASSWORD = 'from-the-environment';
    const config = await SiteConfig.load(cfgPath);
    assert.equal(config.backupsDir, path.join(dir, 'backups'), 'relative folders resolve against the config file');
    acts = createSiteActivities({
      config,
      identity: { tenantId: 't', siteId: 's' },
      logger: createLogger('test', logs),
    });
  });
  after(async () => {
    await source?.drop();
    await rm(dir, { recursive: true, force: true });
  });

  /** An activity context at the given attempt; `run` keeps the activity's own types. */
  const env = (attempt = 1) => {
    const mock = new MockActivityEnvironment({ attempt, heartbeatTimeoutMs: 3000 });
    return {
      on: (event: 'heartbeat', fn: (details: unknown) => void) => mock.on(event, fn),
      run: <A extends unknown[], R>(fn: (...args: A) => Promise<R>, ...args: A): Promise<R> =>
        (mock.run.bind(mock) as (f: unknown, ...a: unknown[]) => Promise<R>)(fn, ...args),
    };
  };

  it('dumps, and a retry after the rename reports the same file instead of dumping again', async () => {
    const fileName = backupFileName(source.name, new Date(Date.UTC(2026, 10, 22, 1, 2, 3)), 'pgdump', 'zst');
    assert.equal(fileName, `${source.name}_20261122_010203.pgdump.zst`);
    const heartbeats: unknown[] = [];
    const first = env();
    first.on('heartbeat', (d: unknown) => heartbeats.push(d));
    const a = await first.run(acts.dump, { serverName: 'pg', database: source.name, fileName, excludeTableData: [] });
    assert.ok(a.rawBytes > a.sizeBytes, 'compressed');
    assert.ok(heartbeats.length > 0, 'progress was reported');
    assert.equal(await sha256OfFile(path.join(dir, 'backups', a.path)), a.sha256);

    const b = await env(2).run(acts.dump, { serverName: 'pg', database: source.name, fileName, excludeTableData: [] });
    assert.deepEqual({ ...b, rawBytes: 0 }, { ...a, rawBytes: 0 });
    assert.equal(b.rawBytes, 0, 'nothing was dumped again');

    // A first attempt that finds the file belongs to another run in the same second: refused, not overwritten.
    await assert.rejects(
      env(1).run(acts.dump, { serverName: 'pg', database: source.name, fileName, excludeTableData: [] }),
      (e: ApplicationFailure) => e.type === 'FileExists' && e.nonRetryable,
    );
  });

  it('two attempts of one dump running at once (the first outlived its heartbeat) publish one complete file', async () => {
    const fileName = backupFileName(source.name, new Date(Date.UTC(2026, 10, 22, 1, 2, 4)), 'pgdump', 'zst');
    const input = { serverName: 'pg', database: source.name, fileName, excludeTableData: [] };
    const [a, b] = await Promise.all([env(2).run(acts.dump, input), env(3).run(acts.dump, input)]);
    const file = path.join(dir, 'backups', a.path);
    assert.equal(a.sha256, b.sha256, 'both report the one file');
    assert.equal(await sha256OfFile(file), a.sha256);
    assert.equal((await readFile(file)).length, a.sizeBytes);
    assert.deepEqual(
      (await readdir(path.dirname(file))).filter((n) => n.includes(fileName) && n !== fileName),
      [],
      'no partial file left',
    );
  });

  it('compresses with the zstd command or in-process alike, counts the raw bytes either way, and fails cleanly when the compressor does', async () => {
    const saved = process.env.ZSTD_CLI;
    const dumpWith = async (cli: string | undefined, second: number, compression?: Compression) => {
      if (cli === undefined) delete process.env.ZSTD_CLI;
      else process.env.ZSTD_CLI = cli;
      try {
        const fileName = backupFileName(source.name, new Date(Date.UTC(2026, 10, 23, 1, 2, second)), 'pgdump', 'zst');
        return await env().run(acts.dump, {
          serverName: 'pg',
          database: source.name,
          fileName,
          excludeTableData: [],
          ...(compression && { compression }),
        });
      } finally {
        if (saved === undefined) delete process.env.ZSTD_CLI;
        else process.env.ZSTD_CLI = saved;
      }
    };
    const rawOf = async (rel: string) =>
      (await buffer(createReadStream(path.join(dir, 'backups', rel)).pipe(decompressStream('zstd')))).length;
    /** The window a zstd frame says its decoder needs (RFC 8878 3.1.1.1.2): 64 MiB only with long-distance matching. */
    const windowLogOf = async (rel: string) => {
      const head = (await readFile(path.join(dir, 'backups', rel))).subarray(0, 6);
      assert.equal(head.readUInt32LE(0), 0xfd2fb528, 'a zstd frame');
      assert.equal(head[4]! & 0x20, 0, 'a streamed frame: its window is stated, not its size');
      return 10 + (head[5]! >> 3);
    };
    for (const [cli, second] of [
      [undefined, 1],
      ['none', 2],
    ] as const) {
      const r = await dumpWith(cli, second);
      assert.ok(
        r.sizeBytes > 0 && r.rawBytes > r.sizeBytes,
        `${cli ?? 'zstd'}: ${r.rawBytes} raw, ${r.sizeBytes} stored`,
      );
      assert.equal(
        await rawOf(r.path),
        r.rawBytes,
        `${cli ?? 'zstd command'}: rawBytes is what the file decompresses to`,
      );
      assert.equal(
        await windowLogOf(r.path),
        26,
        `${cli ?? 'zstd command'}: the default compresses with long-distance matching`,
      );
    }
    for (const [cli, second] of [
      [undefined, 4],
      ['none', 5],
    ] as const) {
      const r = await dumpWith(cli, second, { algorithm: 'zstd', level: 1, long: false });
      assert.ok((await windowLogOf(r.path)) < 22, `${cli ?? 'zstd command'}: long-distance matching off`);
      assert.equal(await rawOf(r.path), r.rawBytes);
    }
    // A compressor that fails: a clear, classified failure and no file left behind.
    const folder = path.join(dir, 'backups', 'pg', source.name);
    const before = (await readdir(folder)).sort();
    await assert.rejects(
      dumpWith('false', 3),
      (e: ApplicationFailure) => e.type === 'CompressionFailed' && /compression failed/.test(e.message),
    );
    assert.deepEqual((await readdir(folder)).sort(), before, 'no partial or final file of the failed dump');
  });

  it('restores through the zstd command or in-process alike; a damaged stream is BackupTampered, a failing restore tool speaks for itself, and neither leaves a database', async () => {
    const fileName = backupFileName(source.name, new Date(Date.UTC(2026, 10, 23, 2, 0, 0)), 'pgdump', 'zst');
    const made = await env().run(acts.dump, {
      serverName: 'pg',
      database: source.name,
      fileName,
      excludeTableData: [],
    });
    const admin = postgres(pgUrl('postgres'), { max: 1, onnotice: () => {} });
    const saved = { zstd: process.env.ZSTD_CLI, pgRestore: process.env.PG_RESTORE };
    const restoreWith = async (
      vars: { ZSTD_CLI?: string; PG_RESTORE?: string },
      copy: { key: string; sizeBytes: number; sha256: string; fileName: string },
    ) => {
      const database = uniqueName('bp_restored');
      Object.assign(process.env, vars);
      try {
        const outcome = await env()
          .run(acts.restore, {
            source: { target: 'site', key: copy.key },
            sizeBytes: copy.sizeBytes,
            sha256: copy.sha256,
            fileName: copy.fileName,
            serverName: 'pg',
            database,
            overwrite: false,
          })
          .then(
            (r) => ({ ok: true as const, r }),
            (e: ApplicationFailure) => ({ ok: false as const, e }),
          );
        const [{ n }] =
          (await admin`select count(*)::int as n from pg_database where datname = ${database}`) as unknown as [
            { n: number },
          ];
        return { outcome, database, created: n === 1 };
      } finally {
        for (const [k, v] of Object.entries({ ZSTD_CLI: saved.zstd, PG_RESTORE: saved.pgRestore })) {
          if (v === undefined) delete process.env[k];
          else process.env[k] = v;
        }
      }
    };
    /** A copy of the backup with other bytes, whose recorded hash is its own: only decoding can tell. */
    const damaged = async (name: string, bytes: Buffer) => {
      const copyName = backupFileName(
        source.name,
        new Date(Date.UTC(2026, 10, 23, 2, 0, name.length)),
        'pgdump',
        'zst',
      );
      const key = path.join(path.dirname(made.path), copyName);
      await writeFile(path.join(dir, 'backups', key), bytes);
      return {
        key,
        sizeBytes: bytes.length,
        sha256: createHash('sha256').update(bytes).digest('hex'),
        fileName: copyName,
      };
    };
    try {
      const intact = { key: made.path, sizeBytes: made.sizeBytes, sha256: made.sha256, fileName };
      for (const cli of [undefined, 'none']) {
        const { outcome, database, created } = await restoreWith(cli ? { ZSTD_CLI: cli } : {}, intact);
        try {
          assert.ok(outcome.ok, `${cli ?? 'zstd command'}: ${!outcome.ok && outcome.e.message}`);
          assert.equal(
            outcome.r.rawBytes,
            made.rawBytes,
            `${cli ?? 'zstd command'}: the restore counts the bytes the dump counted`,
          );
          const restored = postgres(pgUrl(database), { max: 1, onnotice: () => {} });
          const [{ n }] = (await restored`select count(*)::int as n from events`) as unknown as [{ n: number }];
          await restored.end();
          assert.equal(n, 500, `${cli ?? 'zstd command'}: every row is back`);
          assert.ok(created);
        } finally {
          await admin.unsafe(`drop database if exists "${database}" with (force)`);
        }
      }

      const bytes = await readFile(path.join(dir, 'backups', made.path));
      const notZstd = Buffer.from(bytes);
      notZstd[0] = notZstd[0]! ^ 0xff;
      for (const [name, copy] of [
        ['cut', await damaged('cut', bytes.subarray(0, bytes.length >> 1))],
        ['not zstd', await damaged('not zstd', notZstd)],
      ] as const) {
        for (const cli of [undefined, 'none']) {
          const { outcome, created } = await restoreWith(cli ? { ZSTD_CLI: cli } : {}, copy);
          const what = `${name}, ${cli ?? 'zstd command'}`;
          assert.ok(!outcome.ok, `${what}: refused`);
          assert.equal(outcome.e.type, 'BackupTampered', `${what}: ${outcome.e.type} ${outcome.e.message}`);
          assert.ok(outcome.e.nonRetryable, what);
          assert.equal(created, false, `${what}: no half-restored database`);
        }
      }

      // A restore tool that fails on its own: its message is the failure, not a verdict on the (intact) backup.
      const broken = path.join(dir, 'broken-pg-restore');
      await writeFile(
        broken,
        '#!/bin/sh\nhead -c 1 >/dev/null\necho "pg_restore: error: could not write to the target: no space left on device" >&2\nexit 1\n',
        { mode: 0o755 },
      );
      const { outcome, created } = await restoreWith({ PG_RESTORE: broken }, intact);
      assert.ok(!outcome.ok);
      assert.notEqual(outcome.e.type, 'BackupTampered');
      assert.match(outcome.e.message, /no space left on device/);
      assert.equal(created, false, 'the database made for the restore is removed');
    } finally {
      await admin.end();
    }
  });

  it('reading a copy back tells a failing read from a damaged copy, and a wrong key from damage', async () => {
    const storage = openStorage({ type: 'local', path: path.join(dir, 'readback') });
    const at = new Date(Date.UTC(2026, 10, 24, 2, 0, 0));
    const plainName = backupFileName(source.name, at, 'pgdump', 'zst');
    const made = await env().run(acts.dump, {
      serverName: 'pg',
      database: source.name,
      fileName: plainName,
      excludeTableData: [],
    });
    const bytes = await readFile(path.join(dir, 'backups', made.path));
    const copyOf = async (fileName: string, data: Buffer) => {
      await storage.put(fileName, bufferSource(data));
      return {
        copyId: fileName,
        backupId: 'b',
        target: 'nas',
        key: fileName,
        fileName,
        sizeBytes: data.length,
        sha256: createHash('sha256').update(data).digest('hex'),
        state: 'stored' as const,
      };
    };
    const read = (from: Storage, copy: Awaited<ReturnType<typeof copyOf>>, masterKey?: Buffer) =>
      readOne(from, copy, new AbortController().signal, () => {}, { decode: true, masterKey });

    const plain = await copyOf(plainName, bytes);
    assert.equal((await read(storage, plain)).state, 'stored');
    // The storage drops the connection before the end: the copy is not judged, the failure is thrown.
    const dropping: Storage = {
      ...storage,
      get: async (key, opts) => {
        const cutShort = new Transform({
          transform: (chunk, _e, cb) => cb(null, chunk),
          flush: (cb) => cb(Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' })),
        });
        return (await storage.get(key, opts)).pipe(cutShort);
      },
    };
    await assert.rejects(read(dropping, { ...plain }), /ECONNRESET/);
    // ...or ends it early without a word: the copy is not judged either.
    const cutting: Storage = {
      ...storage,
      get: async (key, opts) => {
        let kept = 0;
        const half = new Transform({
          transform(chunk: Buffer, _e, cb) {
            const room = Math.max(0, (plain.sizeBytes >> 1) - kept);
            kept += Math.min(room, chunk.length);
            cb(null, chunk.subarray(0, room));
          },
        });
        return (await storage.get(key, opts)).pipe(half);
      },
    };
    await assert.rejects(
      read(cutting, { ...plain }),
      (e: BackupError) => e.kind === 'unavailable' && /ended after \d+ of \d+ bytes/.test(e.message),
    );
    // Bytes whose recorded hash is their own but that do not decompress: damaged.
    const cut = await copyOf(
      backupFileName(source.name, new Date(at.getTime() + 1000), 'pgdump', 'zst'),
      bytes.subarray(0, bytes.length >> 1),
    );
    assert.equal((await read(storage, cut)).state, 'corrupt');
    // Sealed with one key, read with another: intact bytes and a key problem, not a corrupt copy.
    const keyA = randomBytes(32);
    const sealed = await buffer(Readable.from([bytes]).pipe(sealStream(keyA)));
    const enc = await copyOf(backupFileName(source.name, new Date(at.getTime() + 2000), 'pgdump', 'zst', true), sealed);
    assert.equal((await read(storage, enc, keyA)).state, 'stored');
    const wrongKey = await read(storage, enc, randomBytes(32));
    assert.equal(wrongKey.state, 'stored', wrongKey.detail);
    assert.match(wrongKey.detail ?? '', /not decrypted: the tenant's master key does not open/);
    // ...but sealed bytes that differ from what was recorded are corrupt whatever the key.
    const altered = Buffer.from(sealed);
    altered[altered.length - 1] = altered[altered.length - 1]! ^ 1;
    const bad = await copyOf(
      backupFileName(source.name, new Date(at.getTime() + 3000), 'pgdump', 'zst', true),
      altered,
    );
    assert.equal((await read(storage, { ...bad, sha256: enc.sha256 }, randomBytes(32))).state, 'corrupt');
  });

  it('a site configuration with a fault says where, and never quotes the secrets around it', async () => {
    const file = path.join(dir, 'broken-site.json');
    await writeFile(file, '{\n  "apiUrl": "http://127.0.0.1:9",\n  "siteKey": bps_abc_secret_value_1234567890\n}\n');
    await assert.rejects(
      SiteConfig.load(file),
      (e: Error) => /not valid JSON/.test(e.message) && !e.message.includes('secret_value'),
    );
    // A password or key file that cannot be read: a non-retryable failure naming the setting and the file.
    const cfg = path.join(dir, 'files-site.json');
    const gone = path.join(dir, 'no-such-password-file');
    await writeFile(
      cfg,
      JSON.stringify({
        apiUrl: 'http://127.0.0.1:9',
        siteKey: 'x'.repeat(40),
        backupsDir: 'backups',
        encryption: { keyFile: gone },
        servers: { pg: { engine: 'postgresql', user: 'u', passwordFile: gone } },
      }),
    );
    const loaded = await SiteConfig.load(cfg);
    await assert.rejects(
      loaded.connection('pg'),
      (e: BackupError) => e.kind === 'invalid' && e.message === `servers.pg.passwordFile: cannot read ${gone} (ENOENT)`,
    );
    await assert.rejects(
      loaded.masterKey(),
      (e: BackupError) => e.kind === 'invalid' && e.message === `encryption.keyFile: cannot read ${gone} (ENOENT)`,
    );
  });

  it('refuses an unknown server, database or table with a non-retryable failure that says what to fix', async () => {
    await assert.rejects(
      env().run(acts.cleanTables, { serverName: 'nope', database: source.name, tables: [] }),
      (e: ApplicationFailure) => e.nonRetryable && /not in this site's configuration/.test(e.message),
    );
    await assert.rejects(
      env().run(acts.cleanTables, {
        serverName: 'pg',
        database: source.name,
        tables: [{ table: 'no_such_table', mode: 'exclude' }],
      }),
      (e: ApplicationFailure) => e.type === 'TableNotFound' && e.nonRetryable,
    );
    await assert.rejects(
      env().run(acts.cleanTables, { serverName: 'pg', database: 'bp_no_such_db', tables: [] }),
      (e: ApplicationFailure) => e.type === 'DatabaseNotFound' && e.nonRetryable,
    );
    const ok = await env().run(acts.cleanTables, {
      serverName: 'pg',
      database: source.name,
      tables: [
        { table: 'public.events', mode: 'exclude' },
        { table: 'customers', mode: 'exclude' },
      ],
    });
    assert.deepEqual(ok.excludeTableData, ['"public"."events"', '"public"."customers"']);
    await assert.rejects(
      env().run(acts.dump, {
        serverName: 'pg',
        database: 'bp_no_such_db',
        fileName: backupFileName('bp_no_such_db', new Date(), 'pgdump', 'zst'),
        excludeTableData: [],
      }),
      (e: ApplicationFailure) => e.type === 'DatabaseNotFound',
    );
    assert.deepEqual(
      (await readdir(path.join(dir, 'backups', 'pg', 'bp_no_such_db')).catch(() => [])).length,
      0,
      'a failed dump leaves no file',
    );
  });

  it('deletes the copies retention let go, idempotently, and removes partial files of dead attempts', async () => {
    const folder = path.join(dir, 'backups', 'pg', 'shop');
    await mkdir(folder, { recursive: true });
    const names = [1, 2, 3].map((d) => backupFileName('shop', new Date(Date.UTC(2026, 0, d, 2)), 'pgdump', 'zst'));
    for (const n of names) await writeFile(path.join(folder, n), n);
    await writeFile(path.join(folder, '.stale.partial'), 'x');
    await writeFile(path.join(folder, '.fresh.partial'), 'x');
    const old = new Date(Date.now() - 2 * 3600_000);
    await utimes(path.join(folder, '.stale.partial'), old, old);

    const keys = names.slice(0, 2).map((n) => `pg/shop/${n}`);
    const res = await env().run(acts.deleteCopies, { target: 'site', keys });
    assert.deepEqual(res.deleted, keys);
    assert.deepEqual((await readdir(folder)).sort(), ['.fresh.partial', names[2]!].sort());
    const again = await env().run(acts.deleteCopies, { target: 'site', keys });
    assert.deepEqual(again.deleted, keys, 'deleting what is gone succeeds');
    await assert.rejects(
      env().run(acts.deleteCopies, { target: 'site', keys: ['../outside'] }),
      (e: ApplicationFailure) => e.nonRetryable,
    );
    await assert.rejects(
      env().run(acts.deleteCopies, { target: 'nowhere', keys }),
      (e: ApplicationFailure) => e.nonRetryable && /not in this site's configuration/.test(e.message),
    );
  });

  it('parses the names it writes', () => {
    const at = new Date(Date.UTC(2026, 1, 3, 4, 5, 6));
    for (const [fmt, comp, enc] of [
      ['pgdump', 'zst', false],
      ['sql', undefined, false],
      ['pgdump', 'gz', true],
    ] as const) {
      for (const run of [undefined, 'a1b2c3d4']) {
        const name = backupFileName('my_db', at, fmt, comp, enc, run);
        assert.deepEqual(parseBackupFileName(name), {
          database: 'my_db',
          takenAt: at,
          format: fmt,
          compression: comp,
          encrypted: enc,
          run,
        });
      }
    }
    assert.equal(
      backupFileName('my_db', at, 'pgdump', 'zst', false, 'a1b2c3d4'),
      'my_db_20260203_040506_a1b2c3d4.pgdump.zst',
    );
    assert.equal(parseBackupFileName('.my_db_20260203_040506.pgdump.zst.partial'), undefined);
  });
});
