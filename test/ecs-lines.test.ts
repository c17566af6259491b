// Issue 21, logs: every line the API, the central worker and a site worker write during a backup, a restore and a
// failure is one ECS document: no key twice (an ingest keeps only the last), every field either in the checked-in
// ECS subset (ops/elk/ecs-fields.json) with its type, a keyword under labels.*, or in the platform's backup.* set.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import postgres from 'postgres';
import { PG_HOST, PG_PORT, PG_USER } from '../ops/services/pg.ts';
import { createConfig, createShopDatabase, runNowAndWait, setUpSite } from './helpers/fixtures.ts';
import { signup, startStack, type SiteWorkerProcess, type Stack } from './helpers/stack.ts';
import { flatten, parseStrict } from './helpers/strict-json.ts';

const FIELDS = JSON.parse(await readFile(new URL('../ops/elk/ecs-fields.json', import.meta.url), 'utf8')) as {
  ecs: Record<string, string>;
  patterns: Record<string, string>;
  custom: Record<string, string>;
};

/** The type a field must have, or undefined when the field is neither ECS, a label nor the platform's own. */
function typeOf(name: string): string | undefined {
  if (name.startsWith('labels.')) return name.split('.').length === 2 ? FIELDS.patterns['labels.*'] : undefined;
  return FIELDS.ecs[name] ?? FIELDS.custom[name];
}

function fits(type: string, v: unknown): boolean {
  const all = Array.isArray(v) ? v : [v];
  const one = (x: unknown) => {
    switch (type) {
      case 'long':
        return Number.isSafeInteger(x);
      case 'boolean':
        return typeof x === 'boolean';
      case 'date':
        return typeof x === 'string' && /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/.test(x);
      default: // keyword, match_only_text, wildcard
        return typeof x === 'string';
    }
  };
  return all.every(one);
}

/** The problems of one raw line, empty when it is a valid ECS document. */
function problemsOf(raw: string): string[] {
  let fields: Map<string, unknown>;
  try {
    fields = flatten(parseStrict(raw));
  } catch (e) {
    return [(e as Error).message];
  }
  const out: string[] = [];
  for (const required of ['@timestamp', 'log.level', 'message', 'ecs.version', 'service.name'])
    if (!fields.has(required)) out.push(`no ${required}`);
  for (const [name, v] of fields) {
    const type = typeOf(name);
    if (!type) out.push(`${name} is not an ECS field, a label or a backup.* field`);
    else if (!fits(type, v)) out.push(`${name} is not a ${type}: ${JSON.stringify(v)}`);
  }
  return out;
}

describe('ECS log lines', () => {
  let stack: Stack;
  let worker: SiteWorkerProcess;
  const cleanups: (() => Promise<unknown>)[] = [];

  before(async () => {
    stack = await startStack();
  });
  after(async () => {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
    await stack?.stop();
  });

  it('the strict parser refuses a key given twice, which JSON.parse lets through', () => {
    const twice = '{"message":"x","labels":{"site_id":"s"},"labels":{"run_id":"r"}}';
    assert.deepEqual(JSON.parse(twice).labels, { run_id: 'r' });
    assert.throws(() => parseStrict(twice), /duplicate key "labels"/);
    assert.throws(() => flatten(parseStrict('{"log.level":"info","log":{"level":"x"}}')), /given twice/);
  });

  it('a backup, a restore and a failed backup write only valid ECS lines, with the site labels kept', async () => {
    const { token } = await signup(stack);
    const source = await createShopDatabase({ customers: 50, events: 100 });
    cleanups.push(() => source.drop());
    const site = await setUpSite(stack, token, { backupsDir: path.join(stack.tmp, 'ecs-backups') });
    worker = site.worker;
    const config = await createConfig(stack, token, { serverId: site.server.id, databases: [source.name] });
    const [backup] = (await runNowAndWait(stack, token, config.id)) as any[];
    assert.equal(backup.status, 'succeeded', backup.error);

    const started = await stack.api('POST', '/api/v1/restores', {
      token,
      body: { backupId: backup.id, targetDatabase: `${source.name}_ecs` },
    });
    assert.equal(started.status, 202, JSON.stringify(started.body));
    cleanups.push(() => dropPg(`${source.name}_ecs`));
    await stack.temporal.client.workflow.getHandle(started.body.workflowId).result();

    const missing = await createConfig(stack, token, { serverId: site.server.id, databases: ['bp_no_such_db_ecs'] });
    const [failed] = (await runNowAndWait(stack, token, missing.id)) as any[];
    assert.equal(failed.status, 'failed');

    const lines = [
      ...stack.logs.raw.map((raw) => ({ from: 'central', raw })),
      ...worker.logs.raw.map((raw) => ({ from: 'site', raw })),
    ];
    const bad = lines.flatMap(({ from, raw }) => problemsOf(raw).map((p) => `${from}: ${p}\n  ${raw.slice(0, 300)}`));
    assert.deepEqual(bad, [], `${bad.length} problems in ${lines.length} lines`);

    // The site worker's own labels survive beside each activity's run labels.
    const dumped = worker.logs.raw.map((r) => JSON.parse(r)).find((l) => l.message === 'dump finished');
    assert.ok(dumped, 'the site logged its dump');
    assert.equal(dumped.labels.site_id, site.site.id);
    assert.ok(dumped.labels.tenant_id && dumped.labels.workflow_id && dumped.labels.run_id);
    // What ops/elk maps and shows, every field of it written by the runs above, with the type ecs-fields.json gives.
    const seen = new Set(lines.flatMap(({ raw }) => [...flatten(JSON.parse(raw)).keys()]));
    const template = JSON.parse(await readFile(new URL('../ops/elk/index-template.json', import.meta.url), 'utf8'));
    const mapped = templateFields(template);
    for (const [name, type] of mapped) {
      assert.ok(seen.has(name), `the index template maps ${name}, which no line has`);
      assert.equal(type, typeOf(name), `the index template's type of ${name}`);
    }
    const shown = kibanaFields(await readFile(new URL('../ops/elk/kibana.ndjson', import.meta.url), 'utf8'));
    for (const name of shown) assert.ok(seen.has(name), `Kibana shows ${name}, which no line has`);
    assert.ok(shown.size >= 10 && mapped.size >= 20);
    console.log(
      `ecs lines checked: ${lines.length} (central ${stack.logs.raw.length}, site ${worker.logs.raw.length})`,
    );
  });
});

/** The index template's explicit fields, by dotted name, with their types. */
function templateFields(template: any): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (props: Record<string, any>, prefix: string) => {
    for (const [k, v] of Object.entries(props)) {
      if (v.properties) walk(v.properties, `${prefix}${k}.`);
      else out.set(`${prefix}${k}`, v.type);
    }
  };
  walk(template.template.mappings.properties, '');
  return out;
}

/** The fields the saved searches show as columns or query on. */
function kibanaFields(ndjson: string): Set<string> {
  const out = new Set<string>();
  for (const line of ndjson.split('\n').filter(Boolean)) {
    const o = JSON.parse(line);
    if (o.type !== 'search') continue;
    for (const c of o.attributes.columns) out.add(c);
    const { query } = JSON.parse(o.attributes.kibanaSavedObjectMeta.searchSourceJSON).query;
    for (const m of (query as string).matchAll(/([\w.@]+)\s*:/g)) out.add(m[1]!);
  }
  return out;
}

async function dropPg(name: string) {
  const sql = postgres(`postgres://${PG_USER}@${PG_HOST}:${PG_PORT}/postgres`, { max: 1, onnotice: () => {} });
  await sql.unsafe(`drop database if exists "${name}" with (force)`);
  await sql.end();
}
