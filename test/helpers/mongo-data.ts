// MongoDB test data with every kind of value a restore must bring back exactly (ObjectId, dates, nested documents and
// arrays, binary, int32 beside double beside int64), and snapshots that compare them type for type.
import { createReadStream } from 'node:fs';
import { BSON, type Db } from 'mongodb';
import { readArchive } from '../../activities/engines/mongodb-archive.ts';

export async function seedShop(db: Db, opts: { orders: number; customers?: number; padding?: number }) {
  const customers = Array.from({ length: opts.customers ?? 200 }, (_, i) => ({
    _id: new BSON.ObjectId(),
    name: `customer ${i}`,
    email: `c${i}@example.test`,
    tier: i % 3,
    visits: new BSON.Int32(i),
    score: new BSON.Double(i + 0.5),
    lifetime: BSON.Long.fromNumber(2 ** 40 + i),
    createdAt: new Date(Date.UTC(2025, 0, 1) + i * 3_600_000),
    profile: { address: { city: `city ${i % 7}`, zip: String(10_000 + i) }, tags: ['a', i % 2 ? 'odd' : 'even'] },
    avatar: new BSON.Binary(Buffer.from([i & 0xff, 0, 255, 7])),
  }));
  await db.collection('customers').insertMany(customers);
  await db.collection('customers').createIndex({ email: 1 }, { unique: true, name: 'email_unique' });
  const pad = 'x'.repeat(opts.padding ?? 16);
  for (let start = 0; start < opts.orders; start += 1000) {
    const batch = Array.from({ length: Math.min(1000, opts.orders - start) }, (_, k) => {
      const n = start + k;
      return {
        _id: new BSON.ObjectId(),
        n,
        customer: customers[n % customers.length]!._id,
        total: new BSON.Double(n + 1.25),
        items: [
          { sku: `sku-${n % 50}`, qty: new BSON.Int32(1 + (n % 4)) },
          { sku: 'gift', qty: new BSON.Int32(1), note: `${pad}${n}` },
        ],
        placedAt: new Date(Date.UTC(2026, 0, 1) + n * 60_000),
      };
    });
    await db.collection('orders').insertMany(batch);
  }
  await db.collection('orders').createIndex({ customer: 1, placedAt: -1 }, { name: 'by_customer' });
  await db
    .collection('audit')
    .insertMany(Array.from({ length: 50 }, (_, i) => ({ at: new Date(Date.UTC(2026, 1, 1) + i), what: `event ${i}` })));
  await db.collection('audit').createIndex({ at: 1 }, { name: 'audit_at' });
}

/** Every collection's documents (by _id) and indexes, as canonical Extended JSON: types count, not just values. */
export async function snapshot(db: Db) {
  const documents: Record<string, string[]> = {};
  const indexes: Record<string, string[]> = {};
  const names = (await db.listCollections({}, { nameOnly: true }).toArray()).map((c) => c.name).sort();
  for (const name of names) {
    const docs = await db
      .collection(name)
      .find({}, { promoteValues: false, sort: { _id: 1 } })
      .toArray();
    documents[name] = docs.map((d) => BSON.EJSON.stringify(d, { relaxed: false }));
    const idx = await db.collection(name).listIndexes().toArray();
    indexes[name] = idx
      .map((spec) => BSON.EJSON.stringify({ ...spec, v: undefined, ns: undefined }, { relaxed: false }))
      .sort();
  }
  return { documents, indexes };
}

/** What an archive file holds: its collections (from the prelude) and the documents of each (from the data). */
export async function readArchiveFile(file: string) {
  const archive = await readArchive(createReadStream(file));
  const documents: Record<string, number> = {};
  for await (const ev of archive.events) if (ev.kind === 'end') documents[ev.collection] = ev.documents;
  return { header: archive.header, collections: archive.collections.map((c) => c.collection), documents };
}
