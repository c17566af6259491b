// Runs ops/ansible's playbooks as an operator would (ansible-playbook with a vault password file, against this
// machine over the local connection), and reads what a role installed: a unit's command and environment.
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ANSIBLE_DIR = fileURLToPath(new URL('../../ops/ansible', import.meta.url));

export interface CommandResult {
  code: number | null;
  output: string;
}

/** Runs a command to its end with its output (stdout and stderr) kept; never throws on a non-zero exit. */
export function runCommand(cmd: string, args: string[], opts: { cwd: string; env: NodeJS.ProcessEnv }) {
  return new Promise<CommandResult>((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, output }));
  });
}

/** ansible-playbook on this machine only (`-i localhost,`, local connection), its temp files under `tmp`. */
export function runPlaybook(playbook: string, opts: { tmp: string; vaultPasswordFile: string; extraVars: string[] }) {
  const args = ['--connection', 'local', '-i', 'localhost,', '--vault-password-file', opts.vaultPasswordFile];
  for (const v of opts.extraVars) args.push('-e', v);
  return runCommand('ansible-playbook', [...args, path.join(ANSIBLE_DIR, playbook)], {
    cwd: ANSIBLE_DIR,
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      LANG: 'C.UTF-8',
      ANSIBLE_CONFIG: path.join(ANSIBLE_DIR, 'ansible.cfg'),
      ANSIBLE_LOCAL_TEMP: path.join(opts.tmp, 'ansible-local'),
      ANSIBLE_REMOTE_TEMP: path.join(opts.tmp, 'ansible-remote'),
      ANSIBLE_NOCOLOR: '1',
      ANSIBLE_FORCE_COLOR: '0',
    },
  });
}

/** The PLAY RECAP's counts for one host, e.g. { ok: 30, changed: 0, failed: 0 }. */
export function recap(output: string, host = 'localhost'): Record<string, number> {
  const line = output.split('\n').find((l) => l.startsWith(`${host} `) && l.includes('changed='));
  if (!line) throw new Error(`no PLAY RECAP line for ${host} in:\n${output.slice(-3000)}`);
  return Object.fromEntries([...line.matchAll(/(\w+)=(\d+)/g)].map((m) => [m[1]!, Number(m[2])]));
}

export interface UnitService {
  execStart: string[];
  workingDirectory: string | undefined;
  environment: Record<string, string>;
  environmentFiles: string[];
  user: string | undefined;
  settings: Record<string, string[]>;
}

/**
 * The [Service] section of a unit file as systemd reads it: continuation lines joined, each setting's values in order,
 * Environment= pairs and EnvironmentFile= paths collected. ExecStart is split on spaces (the platform's units quote
 * nothing).
 */
export async function readUnit(file: string): Promise<UnitService> {
  const text = (await readFile(file, 'utf8')).replace(/\\\n/g, ' ');
  const settings: Record<string, string[]> = {};
  let section = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#') || line.startsWith(';')) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) section = header[1]!;
    else if (section === 'Service') {
      const eq = line.indexOf('=');
      (settings[line.slice(0, eq)] ??= []).push(line.slice(eq + 1).trim());
    }
  }
  const environment: Record<string, string> = {};
  for (const v of settings.Environment ?? [])
    for (const pair of v.split(/\s+/)) {
      const eq = pair.indexOf('=');
      environment[pair.slice(0, eq)] = pair.slice(eq + 1);
    }
  const execStart = settings.ExecStart?.at(-1);
  if (!execStart) throw new Error(`${file} has no ExecStart`);
  return {
    execStart: execStart.split(/\s+/),
    workingDirectory: settings.WorkingDirectory?.at(-1),
    environment,
    environmentFiles: (settings.EnvironmentFile ?? []).map((f) => f.replace(/^-/, '')),
    user: settings.User?.at(-1),
    settings,
  };
}

/** An EnvironmentFile as systemd reads it: KEY=VALUE lines, comments and blank lines skipped. */
export async function readEnvironmentFile(file: string): Promise<Record<string, string>> {
  const env: Record<string, string> = {};
  for (const raw of (await readFile(file, 'utf8')).split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#') || line.startsWith(';')) continue;
    const eq = line.indexOf('=');
    env[line.slice(0, eq).trim()] = line.slice(eq + 1).trim();
  }
  return env;
}
