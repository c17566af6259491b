// The case groups of one bench run, in the order they run: each reports its own failure and the others still run.
import { rm } from 'node:fs/promises';
import type { BenchArgs, Group } from './cli.ts';
import type { BenchContext } from './context.ts';
import { generateDatabase, type BenchDatabase } from './data.ts';
import { dumpInChild, makeDump, recordRss, runDumpCases, runSmallRss, type KeptDump } from './dumps.ts';
import { runApiCases } from './api-load.ts';
import { runE2eCases, startBenchPlatform, type E2e } from './e2e.ts';
import { compressionLevels } from './levels.ts';
import { formatBytes, MiB } from './lib.ts';
import { runMongoCases } from './mongodb.ts';
import { runRestoreCases } from './restore.ts';
import { runUploadCases } from './upload.ts';

const TINY = 1 * MiB;
const RSS_SMALL = 256 * MiB;

/** Shared with the process's signal and error handlers. */
export interface StopState {
  /** A signal or a stray error started the cleanup; the main flow's own failures after that are noise. */
  interrupted: boolean;
  /** The platform is stopping: errors of requests it cut off are expected. */
  tearingDown: boolean;
}

export class BenchRun {
  /** What was generated, for the summary (JSON leaves `drop` out). */
  readonly databases: Record<string, BenchDatabase> = {};
  readonly failedGroups: string[] = [];
  readonly #ctx: BenchContext;
  readonly #args: BenchArgs;
  readonly #state: StopState;
  #source: BenchDatabase | undefined;
  #kept: KeptDump | undefined;

  constructor(ctx: BenchContext, args: BenchArgs, state: StopState) {
    this.#ctx = ctx;
    this.#args = args;
    this.#state = state;
  }

  async run(): Promise<void> {
    const want = (g: Group) => this.#args.only.has(g);
    if (want('dump') || want('rss') || want('restore') || want('e2e'))
      this.#source = await this.#generate(this.#args.size, 'benchmark');
    if (want('dump')) await this.#dumps();
    if (want('rss')) await this.#memory();
    if (want('restore')) {
      this.#ctx.log('(6) restore, side by side');
      await this.#group('restore', async () => {
        const dump = this.#kept ?? (await makeDump(this.#ctx, this.#source!));
        await runRestoreCases(this.#ctx, dump, this.#source!.url);
        await rm(dump.file, { force: true });
      });
    }
    if (want('upload')) {
      this.#ctx.log(`(7) upload of a ${formatBytes(this.#args.size)} backup file to Azurite`);
      await this.#group('upload', () => runUploadCases(this.#ctx));
    }
    if (want('e2e') || want('api')) await this.#onPlatform();
    if (want('mongodb')) {
      this.#ctx.log('(20) MongoDB dump against the driver alone, on FerretDB');
      await this.#group('mongodb', () => runMongoCases(this.#ctx, this.#args.size));
    }
    await this.#source?.drop();
  }

  async #generate(size: number, what: string): Promise<BenchDatabase> {
    const { log } = this.#ctx;
    log(`generating the ${what} database (${formatBytes(size)} of table data; not timed)`);
    const db = await generateDatabase(this.#ctx.cleanup, size, log);
    log(
      `  ${db.name}: ${formatBytes(db.dataBytes)} data + ${formatBytes(db.indexBytes)} indexes (${formatBytes(db.databaseBytes)} on disk) in ${db.generateSeconds.toFixed(0)} s`,
    );
    this.databases[what] = db;
    return db;
  }

  /** A case group that fails to set up is reported; the other groups still run. */
  async #group(name: string, fn: () => Promise<void>): Promise<void> {
    try {
      await fn();
    } catch (err) {
      if (this.#state.interrupted) throw err;
      const msg = err instanceof Error ? err.message : String(err);
      this.failedGroups.push(`${name}: ${msg}`);
      this.#ctx.log(`${name} FAILED: ${msg}`);
    }
  }

  async #dumps(): Promise<void> {
    const ctx = this.#ctx;
    ctx.log('(1)-(4) dumps, side by side');
    await this.#group('dumps', async () => {
      this.#kept = await runDumpCases(ctx, this.#source!, { keepDump: this.#args.only.has('restore') });
    });
    ctx.log('compression levels on this dump, one core (for reading (4); not a target)');
    await this.#group('compression levels', () => compressionLevels(ctx, this.#source!));
  }

  async #memory(): Promise<void> {
    const ctx = this.#ctx;
    const { size, runs } = this.#args;
    ctx.log('(9) peak memory of the dump activity at two sizes');
    await this.#group('memory', async () => {
      if (!this.#args.only.has('dump')) {
        for (let r = 0; r < runs; r++) {
          const d = await dumpInChild(ctx, this.#source!.name, false);
          await rm(d.file, { force: true });
          recordRss(ctx, 'big', this.#source!, d);
        }
      }
      const small = await this.#generate(
        size > RSS_SMALL ? RSS_SMALL : Math.max(16 * MiB, Math.round(size / 4)),
        'small (memory)',
      );
      await runSmallRss(ctx, small);
      await small.drop();
    });
  }

  async #onPlatform(): Promise<void> {
    const ctx = this.#ctx;
    const want = (g: Group) => this.#args.only.has(g);
    ctx.log('starting the platform (Temporal dev server, central worker, API, metadata database)');
    await this.#group('platform', async () => {
      const platform = await startBenchPlatform(ctx);
      try {
        let e2e: E2e | undefined;
        const tiny = want('e2e') ? await this.#generate(TINY, 'tiny') : undefined;
        if (tiny) {
          ctx.log('(5) whole runs through the API');
          await this.#group('e2e', async () => {
            e2e = await runE2eCases(ctx, platform.stack, this.#source!, tiny);
          });
        }
        if (want('api')) {
          ctx.log('(8) API under load');
          await this.#group('api', () => runApiCases(ctx, platform.stack));
        }
        if (e2e && want('api')) {
          ctx.log('(5) the tiny run again, now that the metadata database holds 1M more history rows');
          await this.#group('e2e with a big history', () =>
            e2e!.tinyAgain('e2e-tiny-1m', `(5) tiny run-now again, 1M history rows in the metadata DB`),
          );
        }
        await e2e?.stop();
        await tiny?.drop();
      } finally {
        this.#state.tearingDown = true;
        await platform.stop();
        this.#state.tearingDown = false;
      }
    });
  }
}
