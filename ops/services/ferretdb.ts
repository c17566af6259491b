// FerretDB (MongoDB's wire protocol on PostgreSQL or SQLite) for the tests and the bench: the binary built by
// ops/ferretdb/build.sh ($FERRETDB, set by ops/setup/env.sh), on a free loopback port, with its data in a fresh
// PostgreSQL database of the machine's server or in a temp folder. Telemetry is off (the embedded build has none).
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createTempDatabase } from './pg.ts';
import { freePort } from './ports.ts';

export interface FerretDB {
  host: string;
  port: number;
  /** mongodb://127.0.0.1:<port>/ (no login: FerretDB v1 here runs without authentication). */
  uri: string;
  backend: 'postgresql' | 'sqlite';
  stop(): Promise<void>;
}

/** The binary: $FERRETDB, else built (or found in the cache) by ops/ferretdb/build.sh. */
export function ferretdbBinary(): string {
  if (process.env.FERRETDB) return process.env.FERRETDB;
  const script = fileURLToPath(new URL('../ferretdb/build.sh', import.meta.url));
  process.env.FERRETDB = execFileSync('bash', [script], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  }).trim();
  return process.env.FERRETDB;
}

export async function startFerretDB(opts: { backend?: 'postgresql' | 'sqlite' } = {}): Promise<FerretDB> {
  const backend = opts.backend ?? 'postgresql';
  const pg = backend === 'postgresql' ? await createTempDatabase('bp_ferret') : undefined;
  const dir = backend === 'sqlite' ? await mkdtemp(path.join(os.tmpdir(), 'bp-ferretdb-')) : undefined;
  const port = await freePort();
  const args = [
    `--listen-addr=127.0.0.1:${port}`,
    `--handler=${backend}`,
    pg ? `--postgresql-url=${pg.url}` : `--sqlite-url=file:${dir}/`,
  ];
  const child = spawn(ferretdbBinary(), args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  const cleanUp = async () => {
    await pg?.drop().catch(() => {});
    if (dir) await rm(dir, { recursive: true, force: true });
  };
  try {
    // The wrapper prints its URI once the listener accepts connections (ops/ferretdb/main.go).
    const uri = await new Promise<string>((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        const line = out.split('\n').find((l) => l.startsWith('{'));
        if (line && out.includes('\n')) resolve((JSON.parse(line) as { uri: string }).uri);
      });
      child.once('error', reject);
      child.once('exit', (code) => reject(new Error(`FerretDB exited with ${code} before it listened: ${stderr}`)));
      setTimeout(() => reject(new Error(`FerretDB did not listen within 30 s: ${stderr}`)), 30_000).unref();
    });
    return {
      host: '127.0.0.1',
      port,
      uri,
      backend,
      async stop() {
        if (child.exitCode === null && child.signalCode === null) {
          child.kill('SIGTERM');
          const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
          await once(child, 'exit');
          clearTimeout(timer);
        }
        await cleanUp();
      },
    };
  } catch (err) {
    child.kill('SIGKILL');
    await cleanUp();
    throw err;
  }
}
