// Compression of a dump and its undoing: zstd (with long-distance matching as the platform tunes it) or gzip, in Node
// or, when the site has the zstd command, as a program joined to the database tool over an OS pipe.
import path from 'node:path';
import type { Transform } from 'node:stream';
import { constants as zc, createGunzip, createGzip, createZstdCompress, createZstdDecompress } from 'node:zlib';
import { BackupError } from '../../common/errors.ts';
import type { Compression, CompressionAlgorithm } from '../../common/model.ts';
import type { StreamFilter } from '../engines/engine.ts';
import { findTool } from '../engines/tools.ts';

/** The zstd program to run, or none: Node's zstd does the work. `ZSTD_CLI` names another binary, or `none`. */
function zstdCommand(): string | undefined {
  const want = process.env.ZSTD_CLI ?? 'zstd';
  return want === 'none' ? undefined : findTool([want]);
}

/** zstd's stderr without its banner and chatter: what went wrong, on one line. */
const zstdSaid = (message: string) =>
  message
    .split('\n')
    .filter((l) => !/^(\*\*\*|--|Using|Decompression will|Sparse File)/.test(l))
    .join(' ')
    .trim();

/** The zstd command as a filter, and how to read the raw (uncompressed) size from what it printed. */
export type ZstdFilter = StreamFilter & { rawBytes: (messages: string) => number | undefined };

/**
 * Long-distance matching as the platform runs it: a 64 MiB window (which any zstd decoder accepts without being told),
 * and a denser table of shorter long matches than zstd's own: 32-byte matches instead of 64 (values repeated across a
 * dump are often shorter), one position in 32 hashed instead of 1 in 128, and buckets of 2 candidates instead of 8.
 * Many cheap lookups find more of a dump's repeats than few thorough ones: at level 1 this is 2% smaller and 25% less
 * CPU than 1 in 64 with buckets of 8 at level 2 (BENCHMARKS.md).
 */
const LONG = { windowLog: 26, minMatch: 32, hashLog: 20, hashRateLog: 5, bucketSizeLog: 1 };

export function compressStream(c: Compression): Transform {
  if (c.algorithm === 'gzip') return createGzip({ level: c.level });
  return createZstdCompress({
    params: {
      [zc.ZSTD_c_compressionLevel]: c.level,
      ...(c.long && {
        [zc.ZSTD_c_enableLongDistanceMatching]: 1,
        [zc.ZSTD_c_windowLog]: LONG.windowLog,
        [zc.ZSTD_c_ldmMinMatch]: LONG.minMatch,
        [zc.ZSTD_c_ldmHashLog]: LONG.hashLog,
        [zc.ZSTD_c_ldmHashRateLog]: LONG.hashRateLog,
        [zc.ZSTD_c_ldmBucketSizeLog]: LONG.bucketSizeLog,
      }),
    },
  });
}

/**
 * zstd compression as a program of its own, when the `zstd` command is on the site's PATH: the dump tool writes into
 * it through an OS pipe, so the raw dump never passes through Node, and Debian's zstd is about 1.7× faster per core
 * than Node's built-in one (BENCHMARKS.md).
 * The output is the same format: restores read either.
 */
export function compressionFilter(c: Compression): ZstdFilter | undefined {
  if (c.algorithm !== 'zstd') return undefined;
  const cmd = zstdCommand();
  if (!cmd) return undefined;
  return {
    cmd,
    // -vv for its summary line, which counts the bytes read: `(<in> B => <out> B, ...)`, or `(<in> => <out> bytes` before 1.5.
    args: [
      `-${c.level}`,
      ...(c.long
        ? [
            `--long=${LONG.windowLog}`,
            `--zstd=lmml=${LONG.minMatch},lhlog=${LONG.hashLog},lhrlog=${LONG.hashRateLog},lblog=${LONG.bucketSizeLog}`,
          ]
        : []),
      // Plain: one thread; a worker thread handing blocks back and forth only costs on a machine whose other core is
      // busy with the database producing the dump. Long-distance matching: two, so that its search (zstd's main
      // thread) and the compression of the blocks it found (a worker) overlap (at level 1: 1.09× the floor, not 1.16×).
      c.long ? '-T2' : '--single-thread',
      '--stdout',
      '--no-progress',
      '-vv',
    ],
    fail: (message) =>
      new BackupError('unavailable', `compression failed (${cmd}): ${zstdSaid(message)}`, {
        code: 'CompressionFailed',
      }),
    rawBytes: (messages) => {
      const m = /:\s*[\d.]+%\s*\(\s*(\d+)\s*(?:B\s*)?=>/.exec(messages);
      return m ? Number(m[1]) : undefined;
    },
  };
}

/**
 * zstd decompression as the site's `zstd` command (`ZSTD_CLI` as for compression): it writes the dump straight into the
 * restore tool's stdin, so Node only handles the compressed bytes. It fails only on bytes that are not a whole zstd
 * stream: the backup is damaged.
 */
export function decompressionFilter(algorithm: CompressionAlgorithm): ZstdFilter | undefined {
  if (algorithm !== 'zstd') return undefined;
  const cmd = zstdCommand();
  if (!cmd) return undefined;
  return {
    cmd,
    // -v for its summary line, which counts the bytes written: `<name> : <out> bytes`.
    args: ['-d', '--stdout', '--no-progress', '-v'],
    fail: (message) =>
      new BackupError(
        'invalid',
        `the backup could not be decompressed (${path.basename(cmd)}: ${zstdSaid(message)}): it is damaged`,
        { code: 'BackupTampered' },
      ),
    rawBytes: (messages) => {
      const m = /:\s*(\d+)\s*bytes\s*$/m.exec(messages);
      return m ? Number(m[1]) : undefined;
    },
  };
}

export function decompressStream(algorithm: CompressionAlgorithm): Transform {
  return algorithm === 'gzip' ? createGunzip() : createZstdDecompress();
}
