// Case (6): our `restore` activity (SHA-256 of the copy first, then zstd → pg_restore) against pg_restore of the
// same dump, already uncompressed, alone. Both create their database and restore in one transaction, as the
// platform's PostgreSQL engine does, each into a fresh database that is dropped after the run.
import { createReadStream, createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createZstdDecompress } from 'node:zlib';
import { MockActivityEnvironment } from '@temporalio/testing';
import postgres from 'postgres';
import { createSiteActivities } from '../../activities/site/index.ts';
import type { RestoreResult } from '../../activities/contracts.ts';
import { SiteConfig } from '../../activities/site-config.ts';
import { createLogger } from '../../common/logger.ts';
import { pgUrl, uniqueName } from '../services/pg.ts';
import { pgArgs, SERVER, toolEnv, type BenchContext } from './context.ts';
import type { KeptDump } from './dumps.ts';
import { mustRun, timed } from './lib.ts';
import { rounds, type Variant } from './report.ts';

export async function runRestoreCases(ctx: BenchContext, dump: KeptDump, sourceUrl: string): Promise<void> {
  const plain = path.join(ctx.tmp, 'restore-plain.pgdump');
  await pipeline(createReadStream(dump.file), createZstdDecompress(), createWriteStream(plain));
  const removePlain = ctx.cleanup.add('uncompressed dump', () => rm(plain, { force: true }));
  const admin = postgres(pgUrl('postgres'), { max: 1, onnotice: () => {} });
  const closeAdmin = ctx.cleanup.add('admin connection', () => admin.end({ timeout: 2 }));
  const config = await SiteConfig.load(ctx.siteConfigPath);
  const acts = createSiteActivities({
    config,
    identity: { tenantId: 'bench', siteId: 'bench' },
    logger: createLogger('bench-restore', { write: () => true }),
  });
  const target = targets(ctx, admin, await countEvents(sourceUrl));
  try {
    await rounds(
      ctx.results,
      ctx.runs,
      [ourRestore(acts, dump, target), pgRestoreAlone(ctx, admin, dump, plain, target)],
      ctx.log,
    );
  } finally {
    await closeAdmin();
    await removePlain();
  }
}

type WithTarget = <T>(fn: (name: string) => Promise<T>) => Promise<T>;

/** A fresh database name, dropped after the run (or by the cleanup, if the bench stops in between). */
function targets(ctx: BenchContext, admin: postgres.Sql, expected: number): WithTarget {
  return async (fn) => {
    const name = uniqueName('bp_bench_restored');
    const drop = ctx.cleanup.add(`database ${name}`, async () => {
      await admin.unsafe(`drop database if exists "${name}" with (force)`);
    });
    try {
      const out = await fn(name);
      // Proof the restore restored: the big table has every row (checked outside the timed part).
      const got = await countEvents(pgUrl(name));
      if (got !== expected) throw new Error(`restored ${got} events, the source has ${expected}`);
      return out;
    } finally {
      await drop();
    }
  };
}

function ourRestore(acts: ReturnType<typeof createSiteActivities>, dump: KeptDump, withTarget: WithTarget): Variant {
  return {
    id: 'restore',
    label: '(6) our restore activity: verify SHA-256, zstd -d, pg_restore',
    run: () =>
      withTarget(async (database) => {
        const env = new MockActivityEnvironment({ attempt: 1, heartbeatTimeoutMs: 30_000 });
        const t = await timed(
          () =>
            env.run(acts.restore, {
              source: { target: 'site', key: dump.key },
              sizeBytes: dump.sizeBytes,
              sha256: dump.sha256,
              fileName: dump.fileName,
              serverName: SERVER,
              database,
              overwrite: false,
            }) as Promise<RestoreResult>,
        );
        return {
          seconds: t.seconds,
          workBytes: dump.rawBytes,
          detail: { activityRestoreSeconds: t.value.seconds },
        };
      }),
  };
}

function pgRestoreAlone(
  ctx: BenchContext,
  admin: postgres.Sql,
  dump: KeptDump,
  plain: string,
  withTarget: WithTarget,
): Variant {
  return {
    id: 'pg-restore',
    label: '(6) pg_restore alone, uncompressed dump file',
    run: () =>
      withTarget(async (database) => {
        const t = await timed(async () => {
          await admin.unsafe(`create database "${database}" template template0`);
          await mustRun(
            ctx.cleanup,
            'pg_restore',
            ['--no-owner', '--no-privileges', '--exit-on-error', '--single-transaction', ...pgArgs(database), plain],
            { env: toolEnv() },
          );
        });
        return { seconds: t.seconds, workBytes: dump.rawBytes };
      }),
  };
}

async function countEvents(url: string): Promise<number> {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    const [r] = await sql<{ n: string }[]>`select count(*)::text as n from events`;
    return Number(r!.n);
  } finally {
    await sql.end({ timeout: 2 });
  }
}
