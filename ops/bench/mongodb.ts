// (20) MongoDB: the engine's dump of a database on FerretDB (v1.24.2, on the machine's PostgreSQL) against reading
// every document with the driver alone, the least any logical dump must do. At most 256 MiB of documents: FerretDB
// takes them in at a few MiB/s.
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { BSON, MongoClient } from 'mongodb';
import { mongodbEngine } from '../../activities/engines/mongodb.ts';
import { startFerretDB } from '../services/ferretdb.ts';
import type { BenchContext } from './context.ts';
import { formatBytes, MiB, timed } from './lib.ts';
import { rounds } from './report.ts';

export const MONGO_MAX = 256 * MiB;
const DATABASE = 'bench';
const BATCH = 1000;

/** Orders of about 1 KiB: numbers, dates, a nested array, and text half random (so compression has work). */
function order(n: number) {
  return {
    n,
    customer: `customer-${n % 5000}`,
    placedAt: new Date(Date.UTC(2026, 0, 1) + n * 1000),
    total: new BSON.Double(n * 1.25),
    items: [
      { sku: `sku-${n % 300}`, qty: n % 5 },
      { sku: 'gift', qty: 1 },
    ],
    note: randomBytes(224).toString('hex') + 'x'.repeat(448),
  };
}

export async function runMongoCases(ctx: BenchContext, size: number): Promise<void> {
  const ferret = await startFerretDB();
  const client = new MongoClient(ferret.uri, { maxPoolSize: 4 });
  try {
    const coll = client.db(DATABASE).collection('orders');
    const target = Math.min(size, MONGO_MAX);
    const t = await timed(async () => {
      let bytes = 0;
      for (let n = 0; bytes < target;) {
        const docs = Array.from({ length: BATCH }, () => order(n++));
        bytes += docs.reduce((sum, d) => sum + BSON.calculateObjectSize(d) + 12 + 15, 0);
        await coll.insertMany(docs);
      }
      return bytes;
    });
    const count = await coll.countDocuments({});
    ctx.log(
      `  FerretDB ${DATABASE}: ${count} documents, ${formatBytes(t.value)} of BSON in ${t.seconds.toFixed(0)} s (not timed)`,
    );
    const conn = { engine: 'mongodb' as const, host: ferret.host, port: ferret.port, user: '', password: undefined };
    const sink = () => {
      let bytes = 0;
      const w = new Writable({
        write(chunk: Buffer, _enc, done) {
          bytes += chunk.length;
          done();
        },
      });
      return { w, bytes: () => bytes };
    };
    await rounds(
      ctx.results,
      ctx.runs,
      [
        {
          id: 'mongo-dump',
          label: '(20) our MongoDB dump (archive stream, uncompressed)',
          run: async () => {
            const out = sink();
            const r = await timed(async () => {
              const dump = mongodbEngine.dump(conn, DATABASE, { excludeTableData: [] });
              await pipeline(dump.stdout, out.w);
              await dump.done;
            });
            return { seconds: r.seconds, outputBytes: out.bytes(), workBytes: out.bytes() };
          },
        },
        {
          id: 'mongo-driver-read',
          label: '(20) the driver alone: find() over every document',
          run: async () => {
            const r = await timed(async () => {
              let n = 0;
              for await (const doc of coll.find({}, { batchSize: BATCH })) if (doc._id) n++;
              if (n !== count) throw new Error(`read ${n} documents of ${count}`);
            });
            return { seconds: r.seconds };
          },
        },
      ],
      ctx.log,
    );
  } finally {
    await client.close();
    await ferret.stop();
  }
}
