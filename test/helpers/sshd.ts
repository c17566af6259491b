// An OpenSSH server for tests: the machine's /usr/sbin/sshd with a config, host key and client key of its own,
// on a free loopback port, letting in only the current user with the generated key (SFTP via internal-sftp).
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../../ops/services/ports.ts';

export const SSHD = process.env.TEST_SSHD ?? '/usr/sbin/sshd';

export interface Sshd {
  host: string;
  port: number;
  user: string;
  privateKeyPath: string;
  /** As `ssh-keygen -lf` prints it: `SHA256:...` */
  hostKeyFingerprint: string;
  /** An empty folder on the server side to upload into. */
  root: string;
  stop(): Promise<void>;
}

export async function startSshd(): Promise<Sshd> {
  if (!existsSync(SSHD))
    throw new Error(`${SSHD} is missing: install Debian's openssh-server (ops/setup/env.sh does it for CI)`);
  // sshd checks its privilege-separation folder exists before it accepts anything.
  if (!existsSync('/run/sshd')) await mkdir('/run/sshd', { recursive: true, mode: 0o755 });

  const dir = await mkdtemp(path.join(os.tmpdir(), 'bp-sshd-'));
  const hostKey = path.join(dir, 'host_ed25519');
  const clientKey = path.join(dir, 'client_ed25519');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'bp-test-host', '-f', hostKey]);
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'bp-test-client', '-f', clientKey]);
  await writeFile(path.join(dir, 'authorized_keys'), await readFile(`${clientKey}.pub`));
  const hostKeyFingerprint = execFileSync('ssh-keygen', ['-lf', `${hostKey}.pub`], { encoding: 'utf8' }).split(' ')[1]!;
  const root = path.join(dir, 'files');
  await mkdir(root);

  const user = os.userInfo().username;
  const port = await freePort();
  const config = path.join(dir, 'sshd_config');
  await writeFile(
    config,
    [
      `ListenAddress 127.0.0.1:${port}`,
      `HostKey ${hostKey}`,
      `PidFile ${path.join(dir, 'sshd.pid')}`,
      `AuthorizedKeysFile ${path.join(dir, 'authorized_keys')}`,
      `AllowUsers ${user}`,
      'PubkeyAuthentication yes',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'PermitRootLogin prohibit-password',
      'StrictModes no',
      'UsePAM no',
      'LogLevel VERBOSE',
      'Subsystem sftp internal-sftp',
      '',
    ].join('\n'),
  );

  // sshd re-executes itself, so it needs its absolute path.
  const child = spawn(SSHD, ['-D', '-e', '-f', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr!.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-8000)));
  const exited = once(child, 'exit');
  const alive = () => child.exitCode === null && child.signalCode === null;

  const stop = async () => {
    if (alive()) {
      // A session runs in processes of its own (setsid) that outlive the listener: a test that stops the server under
      // a connected client expects the connection to drop. Sessions whose client has just said goodbye get a moment
      // to finish on their own (then every process is collected by its parent); the rest are ended.
      let sessions = await childrenOf(child.pid!);
      for (
        let waited = 0, delay = 5;
        sessions.length && waited < 1000;
        waited += delay, delay = Math.min(delay * 2, 100)
      ) {
        await new Promise((r) => setTimeout(r, delay));
        sessions = await childrenOf(child.pid!);
      }
      for (const pid of sessions) {
        try {
          process.kill(pid, 'SIGTERM');
        } catch {
          /* already gone */
        }
      }
      for (const pid of sessions) await reaped(pid);
      child.kill('SIGTERM');
      await exited;
    }
    await rm(dir, { recursive: true, force: true });
  };

  const deadline = Date.now() + 30_000;
  for (let delay = 10; !(await accepts(port)); delay = Math.min(delay * 2, 200)) {
    if (!alive() || Date.now() > deadline) {
      await stop();
      throw new Error(`sshd did not start on port ${port}:\n${log}`);
    }
    await new Promise((r) => setTimeout(r, delay));
  }

  return { host: '127.0.0.1', port, user, privateKeyPath: clientKey, hostKeyFingerprint, root, stop };
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** Processes whose parent is `pid`, from /proc (Linux). */
async function childrenOf(pid: number): Promise<number[]> {
  const out: number[] = [];
  for (const name of await readdir('/proc').catch(() => [] as string[])) {
    if (!/^\d+$/.test(name)) continue;
    const stat = await readFile(`/proc/${name}/stat`, 'utf8').catch(() => '');
    // Field 4 is the parent pid; field 2 (the command) is in parentheses and may hold spaces.
    if (stat && Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid) out.push(Number(name));
  }
  return out;
}

/** Waits until a process has exited and its parent has collected it (it is gone from /proc), or 5 s have passed. */
async function reaped(pid: number): Promise<void> {
  const deadline = Date.now() + 5000;
  for (let delay = 5; existsSync(`/proc/${pid}`) && Date.now() < deadline; delay = Math.min(delay * 2, 100)) {
    await new Promise((r) => setTimeout(r, delay));
  }
}
