// Beside case (4), not a target: what each compression setting would cost and save on the benchmark's own dump.
import { createReadStream, createWriteStream } from 'node:fs';
import { rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { constants as zc, createGzip, createZstdCompress, type Gzip, type ZstdCompress } from 'node:zlib';
import { compressionFilter } from '../../activities/pipeline/compression.ts';
import { DEFAULT_COMPRESSION, type Compression } from '../../common/model.ts';
import { pgArgs, toolEnv, type BenchContext } from './context.ts';
import type { BenchDatabase } from './data.ts';
import { formatBytes, MiB, mustRun, timed } from './lib.ts';

/** What the level comparison runs: a command (its arguments; input and output files follow) or a Node stream. */
type Codec = { name: string; cmd: string; args: string[] } | { name: string; node: () => ZstdCompress | Gzip };

/**
 * What each compression setting would cost and save on this very dump: one core, from a file in the page cache. Not a
 * target; it shows where (4)'s time goes and what a different setting would change. It runs the `zstd` command the
 * dump itself runs, Node's zstd (the dump's fallback) and zlib at level 6, which `pg_dump -Fc` uses.
 */
export async function compressionLevels(ctx: BenchContext, source: BenchDatabase): Promise<void> {
  const file = path.join(ctx.tmp, 'levels.pgdump');
  const out = path.join(ctx.tmp, 'levels.out');
  const remove = ctx.cleanup.add('raw dump for the level comparison', async () => {
    await rm(file, { force: true });
    await rm(out, { force: true });
  });
  try {
    await mustRun(
      ctx.cleanup,
      'pg_dump',
      ['--format=custom', '--compress=0', `--file=${file}`, ...pgArgs(source.name)],
      { env: toolEnv() },
    );
    const raw = (await stat(file)).size;
    // The settings exactly as the dump passes them to the command, on one thread each: what they cost per core.
    const zstd = (c: Compression, name: string): Codec[] => {
      const filter = compressionFilter(c);
      return filter
        ? [
            {
              name,
              cmd: filter.cmd,
              args: filter.args.filter(
                (a) => !['--stdout', '--no-progress', '-vv', '--single-thread'].includes(a) && !a.startsWith('-T'),
              ),
            },
          ]
        : [];
    };
    const codecs: Codec[] = [
      ...[1, 2, 3, 6, 9].flatMap((level) => zstd({ algorithm: 'zstd', level }, `zstd -${level}`)),
      ...zstd(DEFAULT_COMPRESSION, `zstd -${DEFAULT_COMPRESSION.level} --long (the default)`),
      ...zstd(
        { ...DEFAULT_COMPRESSION, level: DEFAULT_COMPRESSION.level + 1 },
        `zstd -${DEFAULT_COMPRESSION.level + 1} --long`,
      ),
      { name: 'gzip -6 (zlib)', node: () => createGzip({ level: 6 }) },
      { name: "Node's zstd-1", node: () => createZstdCompress({ params: { [zc.ZSTD_c_compressionLevel]: 1 } }) },
    ];
    for (const codec of codecs) {
      const t = await timed(async () => {
        if ('node' in codec)
          await pipeline(createReadStream(file, { highWaterMark: 1 << 20 }), codec.node(), createWriteStream(out));
        else await mustRun(ctx.cleanup, codec.cmd, [...codec.args, '--single-thread', '-q', '-f', file, '-o', out]);
      });
      const size = (await stat(out)).size;
      await rm(out, { force: true });
      const id = codec.name
        .replace(/[^a-z0-9]+/gi, '-')
        .replace(/-+$/, '')
        .toLowerCase();
      ctx.results.figure(
        `level-${id}-bytes`,
        `${codec.name} of the raw dump: output (ratio ${(raw / size).toFixed(2)})`,
        'bytes',
        size,
      );
      ctx.results.figure(
        `level-${id}-speed`,
        `${codec.name} of the raw dump: one core`,
        'MiB/s',
        raw / MiB / t.seconds,
      );
      ctx.log(
        `  ${codec.name}: ${formatBytes(size)} (${(raw / size).toFixed(2)}×), ${(raw / MiB / t.seconds).toFixed(0)} MiB/s on one core`,
      );
    }
  } finally {
    await remove();
  }
}
