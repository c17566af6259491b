// Source databases to back up, and the API steps every end-to-end test repeats.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { createZstdDecompress } from 'node:zlib';
import { promisify } from 'node:util';
import postgres from 'postgres';
import { createTempDatabase } from '../../ops/services/pg.ts';
import { waitFor, type Stack } from './stack.ts';

export { createConfig, setUpSite } from '../../ops/dev/fixtures.ts';

export const execFileP = promisify(execFile);

/** A shop database: a small `customers` table and an `events` table that is the seed's huge log to leave out. */
export async function createShopDatabase(opts: { customers?: number; events?: number; eventPadding?: number } = {}) {
  const db = await createTempDatabase('bp_src');
  const sql = postgres(db.url, { max: 1, onnotice: () => {} });
  try {
    await sql.unsafe(`
      create table customers (id int primary key, name text not null, email text, balance numeric(12,2), meta jsonb, created_at timestamptz);
      create table events (id bigint primary key, customer_id int, kind text, payload text, at timestamptz);
      create index events_at_idx on events (at);
      insert into customers select g, 'customer ' || g, 'c' || g || '@example.test', g * 1.25, jsonb_build_object('tier', g % 3), now() - g * interval '1 hour'
        from generate_series(1, ${opts.customers ?? 1000}) g;
      insert into events select g, g % 1000, 'kind' || (g % 7), repeat(md5(g::text), ${opts.eventPadding ?? 2}), now() - g * interval '1 second'
        from generate_series(1, ${opts.events ?? 20000}) g;
    `);
  } finally {
    await sql.end();
  }
  return db;
}

/** Decompresses a .zst backup with Node's own zstd (the same library the site worker compresses with). */
export async function unzstd(file: string, out: string): Promise<void> {
  await pipeline(createReadStream(file), createZstdDecompress(), createWriteStream(out));
}

export async function sha256OfFile(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(file)) h.update(chunk as Buffer);
  return h.digest('hex');
}

/** Run now, then wait for every history row of the config to leave `running`. */
export async function runNowAndWait(
  stack: Stack,
  token: string,
  configId: string,
  expectedRows = 1,
  timeoutMs = 120_000,
) {
  const run = await stack.api('POST', `/api/v1/configs/${configId}/run`, { token });
  if (run.status !== 202) throw new Error(`run: ${run.status} ${JSON.stringify(run.body)}`);
  return waitForRuns(stack, token, configId, expectedRows, timeoutMs);
}

/** Waits until the config has `expectedRows` history rows, none running, and their runs have ended. */
export async function waitForRuns(
  stack: Stack,
  token: string,
  configId: string,
  expectedRows = 1,
  timeoutMs = 120_000,
) {
  return waitFor(
    async () => {
      const res = await stack.api('GET', `/api/v1/backups?configId=${configId}`, { token });
      const items = res.body.items as { status: string; workflowId?: string }[];
      return items.length >= expectedRows &&
        items.every((i) => i.status !== 'running') &&
        (await runFinished(stack, items))
        ? items
        : undefined;
    },
    timeoutMs,
    'the run to finish',
  );
}

/** History rows are written before the run ends (copies, retention follow): wait for the workflow itself. */
async function runFinished(stack: Stack, items: { workflowId?: string }[]): Promise<boolean> {
  const ids = new Set(items.map((i) => i.workflowId).filter((x): x is string => !!x));
  for (const id of ids) {
    const { status } = await stack.temporal.client.workflow.getHandle(id).describe();
    if (status.name === 'RUNNING') return false;
  }
  return true;
}

/** A database whose dump barely compresses (random hex), so its backup has a predictable size of several MB. */
export async function createBulkyDatabase(rows: number) {
  const db = await createTempDatabase('bp_bulky');
  const sql = postgres(db.url, { max: 1, onnotice: () => {} });
  try {
    await sql.unsafe(`create table blobs (id int primary key, data text not null);
      insert into blobs select g, ${Array.from({ length: 8 }, () => 'md5(random()::text)').join(' || ')} from generate_series(1, ${rows}) g;`);
  } finally {
    await sql.end();
  }
  return db;
}

/** The JSON arguments and results of one activity type in a run's history (payloads are JSON here). */
export async function activityPayloads(stack: Stack, workflowId: string, activityType: string) {
  const events = (await stack.temporal.client.workflow.getHandle(workflowId).fetchHistory()).events ?? [];
  const decode = (p: { data?: Uint8Array | null } | undefined) =>
    p?.data ? JSON.parse(Buffer.from(p.data).toString()) : undefined;
  const scheduled = events.filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === activityType);
  const ids = new Set(scheduled.map((e) => Number(e.eventId)));
  return {
    inputs: scheduled.map((e) => decode(e.activityTaskScheduledEventAttributes!.input?.payloads?.[0] ?? undefined)),
    results: events
      .filter(
        (e) =>
          e.activityTaskCompletedEventAttributes &&
          ids.has(Number(e.activityTaskCompletedEventAttributes.scheduledEventId)),
      )
      .map((e) => decode(e.activityTaskCompletedEventAttributes!.result?.payloads?.[0] ?? undefined)),
    attempts: events
      .filter(
        (e) =>
          e.activityTaskStartedEventAttributes &&
          ids.has(Number(e.activityTaskStartedEventAttributes.scheduledEventId)),
      )
      .map((e) => e.activityTaskStartedEventAttributes!.attempt ?? 0),
  };
}

/** A webhook receiver on loopback that records every alert it is sent. */
export async function startWebhook() {
  const received: { type: string; message: string; [k: string]: unknown }[] = [];
  const { createServer } = await import('node:http');
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      received.push({ ...JSON.parse(body), idempotencyKey: req.headers['idempotency-key'] });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}/alerts`,
    received,
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
