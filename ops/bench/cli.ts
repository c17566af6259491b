// The bench's command line: how big, how many runs, which cases, where the JSON goes.
import path from 'node:path';
import { parseArgs } from 'node:util';
import { MiB, parseSize } from './lib.ts';

export const GROUPS = ['dump', 'rss', 'restore', 'upload', 'e2e', 'api', 'mongodb'] as const;
export type Group = (typeof GROUPS)[number];
/** The issue numbers its cases (1)-(9); either names them for --only. */
const BY_NUMBER: Record<string, Group> = {
  1: 'dump',
  2: 'dump',
  3: 'dump',
  4: 'dump',
  5: 'e2e',
  6: 'restore',
  7: 'upload',
  8: 'api',
  9: 'rss',
  20: 'mongodb',
};

const USAGE = `usage: npm run bench -- [--size 1GB] [--runs 3] [--only ${GROUPS.join(',')}] [--json .build/bench.json]
  --size   data in the generated database (tables, before indexes): e.g. 64MB, 256MB, 1GB (default 1GB)
  --runs   runs of each case; median, min and max are reported (default 3)
  --only   a subset: ${GROUPS.join(', ')} (or the issue's case numbers 1-9, 20)
  --json   where to write the results as JSON (default .build/bench.json)`;

export interface BenchArgs {
  size: number;
  runs: number;
  only: Set<Group>;
  json: string;
  sizeText: string;
}

export function parseCli(): BenchArgs {
  const { values } = parseArgs({
    options: {
      size: { type: 'string', default: '1GB' },
      runs: { type: 'string', default: '3' },
      only: { type: 'string' },
      json: { type: 'string', default: '.build/bench.json' },
      help: { type: 'boolean', short: 'h' },
    },
    allowPositionals: false,
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const size = parseSize(values.size);
  const runs = Number(values.runs);
  if (!Number.isInteger(runs) || runs < 1)
    throw new Error(`--runs must be a whole number of at least 1, not ${values.runs}`);
  if (size < 4 * MiB) throw new Error('--size must be at least 4MB');
  const only = new Set<Group>();
  for (const name of (values.only ?? GROUPS.join(','))
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean)) {
    const group = (GROUPS as readonly string[]).includes(name) ? (name as Group) : BY_NUMBER[name];
    if (!group) throw new Error(`--only: unknown case '${name}'; use ${GROUPS.join(', ')} or 1-9, 20`);
    only.add(group);
  }
  return { size, runs, only, json: path.resolve(values.json), sizeText: values.size };
}
