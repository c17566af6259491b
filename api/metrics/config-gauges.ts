// Per-configuration gauges, read from the metadata database when Prometheus scrapes: nothing is kept in memory, so
// every API process answers the same and a restart loses nothing. All gauges come from ONE query per scrape.
//
// Why the query stays cheap with a million history rows: it walks the configurations (a few hundred at most) and,
// for each, takes its latest succeeded backup through the (config_id, started_at desc) index with LIMIT 1, its latest
// drill through (config_id, kind, started_at desc), and the copies of that one backup through (backup_id, target).
// No aggregate ever touches the whole history; the walk reads back only the failures since the last success (a
// partial index on succeeded rows would bound even that, at the price of a migration). Copies are counted for the
// latest succeeded backup only: "is the newest backup stored everywhere" is what an alert wants, and counting every
// copy ever made would scan them all.
import { sql } from 'drizzle-orm';
import { Gauge, Registry } from 'prom-client';
import { COPY_STATES } from '../../common/model.ts';
import { METRICS_PREFIX } from '../../common/metrics.ts';
import type { Db } from '../../db/client.ts';

interface ConfigRow {
  tenant_id: string;
  config_id: string;
  config_name: string;
  finished: number | string | null;
  seconds: number | string | null;
  size_bytes: number | string | null;
  drill_seconds: number | string | null;
  copies: Record<string, number> | string | null;
}

export const CONFIG_METRICS_QUERY = sql`
  select c.tenant_id, c.id as config_id, c.name as config_name,
         extract(epoch from b.finished_at) as finished,
         extract(epoch from b.finished_at - b.started_at) as seconds,
         b.size_bytes,
         d.seconds as drill_seconds,
         (select json_object_agg(s.state, s.n) from (
            select bc.state, count(*) as n from backup_copies bc where bc.backup_id = b.id group by bc.state
          ) s) as copies
  from backup_configs c
  left join lateral (
    select id, started_at, finished_at, size_bytes from backups
    where config_id = c.id and status = 'succeeded' and kind = 'backup'
    order by started_at desc limit 1
  ) b on true
  left join lateral (
    select extract(epoch from finished_at - started_at) as seconds from restores
    where config_id = c.id and kind = 'drill' and status = 'succeeded' and finished_at is not null
    order by started_at desc limit 1
  ) d on true`;

async function loadRows(db: Db): Promise<ConfigRow[]> {
  const result = (await db.execute(CONFIG_METRICS_QUERY)) as unknown as ConfigRow[] | { rows: ConfigRow[] };
  return Array.isArray(result) ? result : result.rows;
}

const LABELS = ['tenant_id', 'config_id', 'config_name'] as const;

/** A registry with the per-configuration gauges of this metadata database; the API serves it with its own. */
export function configRegistry(db: Db): Registry {
  const registry = new Registry();
  // Every gauge's collect() is called in the same tick of one scrape (prom-client gathers them with Promise.all):
  // they share the one query under way, and the next scrape asks again.
  let pending: Promise<ConfigRow[]> | undefined;
  const rows = () => {
    pending ??= loadRows(db).finally(() => setImmediate(() => (pending = undefined)));
    return pending;
  };
  type Labels = Record<(typeof LABELS)[number], string>;
  const gauge = (
    name: string,
    help: string,
    fill: (set: (labels: Labels & { state?: string }, v: unknown) => void, labels: Labels, r: ConfigRow) => void,
    extra: string[] = [],
  ) =>
    new Gauge({
      name: `${METRICS_PREFIX}${name}`,
      help,
      labelNames: [...LABELS, ...extra],
      registers: [registry],
      async collect() {
        const found = await rows();
        this.reset();
        const set = (labels: Labels & { state?: string }, v: unknown) => {
          if (v !== null && v !== undefined) this.set(labels, Number(v));
        };
        for (const r of found)
          fill(set, { tenant_id: r.tenant_id, config_id: r.config_id, config_name: r.config_name }, r);
      },
    });
  gauge(
    'config_last_success_timestamp_seconds',
    'When the latest succeeded backup finished (unix seconds).',
    (set, l, r) => set(l, r.finished),
  );
  gauge('config_last_duration_seconds', 'How long the latest succeeded backup took.', (set, l, r) => set(l, r.seconds));
  gauge('config_last_size_bytes', 'Size of the latest succeeded backup file.', (set, l, r) => set(l, r.size_bytes));
  gauge('config_last_drill_restore_seconds', 'How long the latest succeeded restore drill took.', (set, l, r) =>
    set(l, r.drill_seconds),
  );
  gauge(
    'config_last_copies',
    'Copies of the latest succeeded backup, by state.',
    (set, l, r) => {
      if (r.finished === null) return;
      const copies = (typeof r.copies === 'string' ? JSON.parse(r.copies) : r.copies) ?? {};
      for (const state of COPY_STATES) set({ ...l, state }, copies[state] ?? 0);
    },
    ['state'],
  );
  return registry;
}
