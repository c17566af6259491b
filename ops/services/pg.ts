// PostgreSQL for the tests and the bench: throw-away databases on the machine's server, and a private cluster with
// password auth.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { readdirSync, readFileSync } from 'node:fs';
import { chmod, chown, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import postgres from 'postgres';
import { freePort } from './ports.ts';

export const PG_HOST = process.env.TEST_PG_HOST ?? '127.0.0.1';
export const PG_PORT = Number(process.env.TEST_PG_PORT ?? 5432);
export const PG_USER = process.env.TEST_PG_USER ?? 'postgres';

export const pgUrl = (database: string, port = PG_PORT, user = PG_USER, password?: string) =>
  `postgres://${encodeURIComponent(user)}${password ? `:${encodeURIComponent(password)}` : ''}@${PG_HOST}:${port}/${database}`;

export const uniqueName = (prefix: string) => `${prefix}_${randomUUID().replaceAll('-', '').slice(0, 16)}`;

/** Creates an empty database with a unique name; `drop()` removes it even with sessions still open. */
export async function createTempDatabase(prefix = 'bp_test', port = PG_PORT, user = PG_USER, password?: string) {
  const name = uniqueName(prefix);
  const admin = postgres(pgUrl('postgres', port, user, password), { max: 1, onnotice: () => {} });
  await admin.unsafe(`create database "${name}"`);
  await admin.end();
  return {
    name,
    url: pgUrl(name, port, user, password),
    async drop() {
      const a = postgres(pgUrl('postgres', port, user, password), { max: 1, onnotice: () => {} });
      await a.unsafe(`drop database if exists "${name}" with (force)`);
      await a.end();
    },
  };
}

const PG_BIN = process.env.TEST_PG_BIN ?? findPgBin();
function findPgBin(): string {
  const r = spawnSync('pg_config', ['--bindir'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : '/usr/lib/postgresql/15/bin';
}

/** PostgreSQL refuses to run as root: as root, its binaries run as the `postgres` user (spawn drops privileges). */
function runAs(): { uid?: number; gid?: number } {
  return process.getuid?.() === 0 ? userIds('postgres') : {};
}

export interface PrivatePostgres {
  port: number;
  user: string;
  password: string;
  /** Stops the server (a fast shutdown) and keeps its files, as an outage would; `start()` brings it back. */
  halt(): Promise<void>;
  /** Starts the halted server again, on the same port with the same data, and waits until it answers. */
  start(): Promise<void>;
  /** Freezes the server and its sessions (SIGSTOP): connections are accepted, nothing is answered, as by a hung host. */
  pause(): void;
  /** Lets a paused server go on (SIGCONT). */
  resume(): void;
  /** Stops it for good and removes its files. */
  stop(): Promise<void>;
}

/** A PostgreSQL cluster of its own on a loopback port that checks passwords (scram-sha-256), unlike the shared one. */
export async function startPrivatePostgres(): Promise<PrivatePostgres> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'bp-pg-'));
  const data = path.join(dir, 'data');
  const password = randomUUID();
  const pwfile = path.join(dir, 'pw');
  await writeFile(pwfile, password);
  const ids = runAs();
  if (ids.uid !== undefined) {
    await chown(dir, ids.uid, ids.gid!);
    await chown(pwfile, ids.uid, ids.gid!);
  }
  await chmod(dir, 0o700);
  const initArgs = [
    '-D',
    data,
    '-U',
    'postgres',
    '-A',
    'scram-sha-256',
    `--pwfile=${pwfile}`,
    '--no-sync',
    '--no-instructions',
  ];
  const init = spawnSync(path.join(PG_BIN, 'initdb'), initArgs, { encoding: 'utf8', cwd: dir, ...ids });
  if (init.status !== 0) throw new Error(`initdb failed: ${init.stderr}`);
  const port = await freePort();
  const args = ['-D', data, '-p', String(port), '-k', dir, '-c', 'listen_addresses=127.0.0.1', '-c', 'fsync=off'];
  let server: { child: ChildProcess; exited: Promise<unknown> } | undefined;
  const halt = async () => {
    const s = server;
    server = undefined;
    if (s && s.child.exitCode === null && s.child.signalCode === null) {
      signalTree(s.child, 'SIGCONT'); // a paused server would not see the signal that stops it
      s.child.kill('SIGINT'); // fast shutdown: sessions are ended, as when a database server goes away
      await s.exited;
    }
  };
  const stop = async () => {
    await halt();
    await rm(dir, { recursive: true, force: true });
  };
  const start = async () => {
    if (server) return;
    const child = spawn(path.join(PG_BIN, 'postgres'), args, { stdio: ['ignore', 'ignore', 'pipe'], cwd: dir, ...ids });
    let log = '';
    child.stderr!.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-4000)));
    server = { child, exited: once(child, 'exit') };
    const deadline = Date.now() + 30_000;
    for (;;) {
      const sql = postgres(pgUrl('postgres', port, 'postgres', password), {
        max: 1,
        connect_timeout: 2,
        onnotice: () => {},
      });
      try {
        await sql`select 1`;
        await sql.end();
        return;
      } catch (err) {
        await sql.end({ timeout: 0 });
        if (child.exitCode !== null || Date.now() > deadline) {
          await halt();
          throw new Error(`private PostgreSQL did not start: ${(err as Error).message}\n${log}`);
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  };
  try {
    await start();
  } catch (err) {
    await stop();
    throw err;
  }
  const pause = () => signalTree(server?.child, 'SIGSTOP');
  const resume = () => signalTree(server?.child, 'SIGCONT');
  return { port, user: 'postgres', password, halt, start, pause, resume, stop };
}

/** Sends `signal` to a server and every process it forked (its sessions and helpers). */
function signalTree(child: ChildProcess | undefined, signal: NodeJS.Signals): void {
  if (child?.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  for (const pid of [child.pid, ...childPids(child.pid)]) {
    try {
      process.kill(pid, signal);
    } catch {
      // It ended meanwhile.
    }
  }
}

/** The processes a server forked, from /proc. */
function childPids(parent: number): number[] {
  const pids: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      // pid (comm) state ppid …: comm may hold spaces and parentheses, so the fields are read after its last ')'.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === parent) pids.push(Number(name));
    } catch {
      // The process ended while the list was read.
    }
  }
  return pids;
}

function userIds(name: string): { uid: number; gid: number } {
  const r = spawnSync('id', ['-u', name], { encoding: 'utf8' });
  const g = spawnSync('id', ['-g', name], { encoding: 'utf8' });
  return { uid: Number(r.stdout.trim()), gid: Number(g.stdout.trim()) };
}
