// Issue 21, Ansible: site.yml installs a site worker into a temporary prefix on this machine (local connection,
// secrets from an Ansible Vault file, systemd left alone); the installed unit's command, run as written with its
// environment file, comes online in the API; a second run changes nothing and keeps the site's key; restore.yml
// restores a backup made here and waits for it (row counts compared with the source); drill.yml runs a drill;
// central.yml installs the Temporal server, the API and the central worker beside the site worker, and the units'
// commands of Temporal and the API, run as written, serve (ansible-lint runs in ops/setup/test.sh's lint step).
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, open, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import postgres from 'postgres';
import { createTempDatabase, PG_HOST, PG_PORT, PG_USER, pgUrl, uniqueName } from '../ops/services/pg.ts';
import { freePort } from '../ops/services/ports.ts';
import {
  readEnvironmentFile,
  readUnit,
  recap,
  runCommand,
  runPlaybook,
  type CommandResult,
  type UnitService,
} from './helpers/ansible.ts';
import { createConfig, createShopDatabase, runNowAndWait } from './helpers/fixtures.ts';
import { signup, startStack, waitFor, type Stack } from './helpers/stack.ts';

const PASSWORD = 'correct horse battery staple'; // the password ops/dev/fixtures.ts signs up with
const DB_SECRET = 'vaulted-Db-Secret-0xBEEF';
// The first install fetches Node 24 and the production dependencies (from the machine's npm cache when it has them):
// on a loaded two-core machine that takes minutes.
const INSTALL_TIMEOUT_MS = 15 * 60_000;

describe('ansible: site worker role, restore and drill playbooks', () => {
  let stack: Stack;
  let tmp: string;
  let token: string;
  let email: string;
  let source: Awaited<ReturnType<typeof createShopDatabase>>;
  const restored = uniqueName('bp_restored');
  const siteName = `ansible-${Math.random().toString(36).slice(2, 8)}`;
  let vars: string[];
  let vaultPasswordFile: string;
  const prefix = () => path.join(tmp, 'root');

  before(async () => {
    [stack, source] = await Promise.all([startStack(), createShopDatabase({ customers: 300, events: 3000 })]);
    tmp = await mkdtemp(path.join(os.tmpdir(), 'bp-ansible-'));
    ({ token, email } = await signup(stack));
    // The secrets go into a file encrypted with ansible-vault, as an operator keeps them.
    vaultPasswordFile = path.join(tmp, 'vault-password');
    await writeFile(vaultPasswordFile, `${crypto.randomUUID()}\n`, { mode: 0o600 });
    const vault = path.join(tmp, 'vault.yml');
    await writeFile(
      vault,
      `bp_api_password: ${JSON.stringify(PASSWORD)}\nvault_pg_password: ${DB_SECRET}\nbp_jwt_secret: jwt-secret-from-vault-${crypto.randomUUID()}\n`,
    );
    const encrypted = await runCommand(
      'ansible-vault',
      ['encrypt', '--vault-password-file', vaultPasswordFile, vault],
      {
        cwd: tmp,
        env: { PATH: process.env.PATH, HOME: process.env.HOME, LANG: 'C.UTF-8' },
      },
    );
    assert.equal(encrypted.code, 0, encrypted.output);
    assert.doesNotMatch(await readFile(vault, 'utf8'), /horse|BEEF/);
    const me = os.userInfo().username;
    const settings = {
      bp_site_hosts: 'localhost',
      bp_become: false,
      bp_prefix: prefix(),
      bp_manage_systemd: false,
      bp_create_user: false,
      bp_install_packages: false,
      bp_user: me,
      bp_group: me === 'root' ? 'root' : me,
      bp_api_url: stack.baseUrl,
      bp_api_email: email,
      bp_api_validate_certs: false,
      bp_site_name: siteName,
      bp_site_servers: {
        'main-pg': {
          engine: 'postgresql',
          host: PG_HOST,
          port: PG_PORT,
          user: PG_USER,
          password: '{{ vault_pg_password }}',
        },
      },
      bp_temporal_address: stack.centralEnv.TEMPORAL_ADDRESS,
      bp_temporal_namespace: stack.centralEnv.TEMPORAL_NAMESPACE,
      bp_temporal_ca_src: stack.centralEnv.TEMPORAL_TLS_CA_FILE,
      bp_log_level: 'info',
    };
    const varsFile = path.join(tmp, 'vars.json');
    await writeFile(varsFile, JSON.stringify(settings));
    vars = [`@${varsFile}`, `@${vault}`];
  });

  after(async () => {
    for (const child of children.reverse())
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        await once(child, 'exit');
      }
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
    await stack?.stop();
    await source?.drop().catch(() => undefined);
    const admin = postgres(pgUrl('postgres'), { max: 1, onnotice: () => {} });
    await admin.unsafe(`drop database if exists "${restored}" with (force)`).catch(() => undefined);
    await admin.end();
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  const cleanups: (() => Promise<unknown>)[] = [];
  const children: ChildProcess[] = [];
  const unitEnvironment = async (unit: UnitService) => {
    let env: Record<string, string> = { ...unit.environment };
    for (const f of unit.environmentFiles) env = { ...env, ...(await readEnvironmentFile(f)) };
    return env;
  };
  /** A unit's ExecStart as written, in its WorkingDirectory, with systemd's default PATH and the unit's environment. */
  const startUnit = (unit: UnitService, env: Record<string, string>, stderr: 'ignore' | 'pipe' | number) => {
    const [cmd, ...args] = unit.execStart;
    const child = spawn(cmd!, args, {
      cwd: unit.workingDirectory ?? '/',
      env: { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', ...env },
      stdio: ['ignore', typeof stderr === 'number' ? stderr : 'ignore', stderr],
    });
    children.push(child);
    return child;
  };
  const play = (playbook: string, extra: string[] = []) =>
    runPlaybook(playbook, { tmp, vaultPasswordFile, extraVars: [...vars, ...extra] });
  const ok = (r: CommandResult) => assert.equal(r.code, 0, r.output.slice(-6000));
  const siteConfigFile = () => path.join(prefix(), 'etc/backup-platform/site-worker.json');
  let siteId: string;

  it(
    'site.yml installs Node 24, the release, the configuration with the vaulted secrets and the unit',
    { timeout: INSTALL_TIMEOUT_MS },
    async () => {
      const run = await play('site.yml');
      ok(run);
      assert.equal(recap(run.output).failed, 0);
      assert.doesNotMatch(run.output, /horse|BEEF/, 'no secret in the play output');

      const sites = (await stack.api('GET', '/api/v1/sites', { token })).body.items as { id: string; name: string }[];
      const site = sites.find((s) => s.name === siteName);
      assert.ok(site, 'the play created the site');
      siteId = site.id;
      const servers = (await stack.api('GET', `/api/v1/servers?siteId=${siteId}`, { token })).body.items;
      assert.deepEqual(
        servers.map((s: { name: string; engine: string }) => [s.name, s.engine]),
        [['main-pg', 'postgresql']],
      );

      const config = JSON.parse(await readFile(siteConfigFile(), 'utf8'));
      assert.equal(config.apiUrl, stack.baseUrl);
      assert.match(config.siteKey, /^bps_/);
      assert.equal(config.servers['main-pg'].password, DB_SECRET, 'the vaulted password reaches the site only');
      assert.equal((await stat(siteConfigFile())).mode & 0o777, 0o600);
      assert.equal((await stat(path.join(prefix(), 'etc/backup-platform/site-worker.env'))).mode & 0o777, 0o600);
      const rotate = await readFile(path.join(prefix(), 'etc/logrotate.d/backup-platform'), 'utf8');
      assert.match(rotate, new RegExp(`${prefix()}/var/log/backup-platform/backup-site-worker.log`));
      assert.match(rotate, /--signal=HUP/);
    },
  );

  it("the unit's command, run as written with its environment file, comes online in the API", async () => {
    const unitFile = path.join(prefix(), 'etc/systemd/system/backup-platform-site-worker.service');
    const unit = await readUnit(unitFile);
    // Hardened as asked: its own user, no new privileges, a read-only system, restarted on failure.
    const hardening: [string, string][] = [
      ['NoNewPrivileges', 'yes'],
      ['ProtectSystem', 'strict'],
      ['Restart', 'on-failure'],
    ];
    for (const [key, value] of hardening) assert.deepEqual(unit.settings[key], [value], key);
    assert.ok(unit.user);
    // systemd itself reads the installed unit without a complaint (its command exists now, under the prefix).
    const verify = await runCommand('systemd-analyze', ['verify', '--man=no', unitFile], { cwd: tmp, env: {} });
    assert.equal(verify.code, 0, verify.output);
    assert.equal(verify.output.trim(), '');
    const env = await unitEnvironment(unit);
    assert.equal(env.LOG_DIR, path.join(prefix(), 'var/log/backup-platform'));
    const [cmd] = unit.execStart;
    assert.ok(cmd!.startsWith(prefix()), `Node from the prefix: ${cmd}`);
    const node = await runCommand(cmd!, ['-p', 'process.versions.node'], { cwd: tmp, env: {} });
    assert.ok(Number(node.output.split('.')[0]) >= 24, `Node 24: ${node.output}`);
    // systemd gives a unit no PATH of its own beyond the default; the dump tools are found on it.
    const worker = startUnit(unit, env, 'pipe');
    let stderr = '';
    worker.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    await waitFor(
      async () => {
        if (worker.exitCode !== null) throw new Error(`the worker exited (${worker.exitCode}): ${stderr}`);
        const res = await stack.api('GET', `/api/v1/sites/${siteId}/status`, { token });
        return res.body.online === true;
      },
      90_000,
      'the installed site worker online',
    );
    const log = await readFile(path.join(env.LOG_DIR!, 'backup-site-worker.log'), 'utf8');
    assert.match(log, /"worker started"/, 'it logs into LOG_DIR');
    assert.doesNotMatch(log, /BEEF/);
  });

  it(
    'a second run changes nothing and keeps the site key the running worker uses',
    { timeout: INSTALL_TIMEOUT_MS },
    async () => {
      const before = JSON.parse(await readFile(siteConfigFile(), 'utf8')).siteKey;
      const run = await play('site.yml');
      ok(run);
      assert.equal(recap(run.output).changed, 0, run.output.slice(-6000));
      assert.equal(JSON.parse(await readFile(siteConfigFile(), 'utf8')).siteKey, before);
      const res = await stack.api('GET', `/api/v1/sites/${siteId}/status`, { token });
      assert.equal(res.body.online, true);
    },
  );

  it(
    'restore.yml restores the latest backup and waits for it; drill.yml runs a drill',
    { timeout: INSTALL_TIMEOUT_MS },
    async () => {
      const servers = (await stack.api('GET', `/api/v1/servers?siteId=${siteId}`, { token })).body.items;
      const cfg = await createConfig(stack, token, { serverId: servers[0].id, databases: [source.name] });
      const [row] = await runNowAndWait(stack, token, cfg.id, 1, 180_000);
      const backup = row as { id: string; status: string };
      assert.equal(backup.status, 'succeeded', JSON.stringify(backup));

      const run = await play('restore.yml', [
        `bp_restore_config=${cfg.name}`,
        `bp_restore_target_database=${restored}`,
      ]);
      ok(run);
      assert.match(run.output, new RegExp(`backup ${backup.id} into '${restored}': succeeded`));
      const counts = async (db: string) => {
        const sql = postgres(pgUrl(db), { max: 1, onnotice: () => {} });
        try {
          const [row] =
            await sql`select (select count(*) from customers)::int as customers, (select count(*) from events)::int as events`;
          return row;
        } finally {
          await sql.end();
        }
      };
      const want = await counts(source.name);
      assert.deepEqual(want, { customers: 300, events: 3000 });
      assert.deepEqual(await counts(restored), want);

      // A restore the platform refuses fails the play: the database now has tables and no overwrite is given.
      const refused = await play('restore.yml', [
        `bp_restore_config=${cfg.id}`,
        `bp_restore_target_database=${restored}`,
      ]);
      assert.notEqual(refused.code, 0);
      assert.match(refused.output, /restore [0-9a-f-]+ failed: /);

      const drill = await play('drill.yml', [`bp_drill_config=${cfg.name}`]);
      ok(drill);
      assert.match(drill.output, /succeeded: restored in [\d.]+ s; every check passed/);
    },
  );

  it(
    "central.yml installs the Temporal server, API and central worker beside it; their units' commands serve",
    { timeout: INSTALL_TIMEOUT_MS },
    async () => {
      const metadata = await createTempDatabase('bp_central');
      cleanups.push(() => metadata.drop());
      const [temporalPort, apiPort] = [await freePort(), await freePort()];
      const run = await play('central.yml', [
        'bp_central_hosts=localhost',
        'bp_manage_postgresql=false',
        `bp_database_url=${metadata.url}`,
        `bp_temporal_port=${temporalPort}`,
        'bp_temporal_ui_port=0',
        `bp_api_listen_port=${apiPort}`,
      ]);
      ok(run);
      assert.doesNotMatch(run.output, /jwt-secret-from-vault/);
      const state = path.join(prefix(), 'var/lib/backup-platform/temporal');
      assert.equal((await stat(path.join(state, 'signing-key.pem'))).mode & 0o777, 0o600);
      const apiEnvFile = path.join(prefix(), 'etc/backup-platform/api.env');
      assert.equal((await stat(apiEnvFile)).mode & 0o777, 0o600);
      assert.match(await readFile(apiEnvFile, 'utf8'), /^JWT_SECRET=jwt-secret-from-vault/m);

      // Each unit's command as written: Temporal (its stderr appended to its log file, as systemd does), then the API.
      const units = path.join(prefix(), 'etc/systemd/system');
      const temporal = await readUnit(path.join(units, 'backup-platform-temporal.service'));
      const temporalLog = path.join(prefix(), 'var/log/backup-platform/backup-temporal.log');
      const logFile = await open(temporalLog, 'a');
      cleanups.push(() => logFile.close());
      startUnit(temporal, {}, logFile.fd);
      await waitFor(
        async () => (await readFile(temporalLog, 'utf8')).includes('bp-temporal ready'),
        120_000,
        'the Temporal server ready',
      );
      const apiUnit = await readUnit(path.join(units, 'backup-platform-api.service'));
      const api = startUnit(apiUnit, await unitEnvironment(apiUnit), 'ignore');
      const base = `http://127.0.0.1:${apiPort}`;
      await waitFor(
        async () => {
          if (api.exitCode !== null) throw new Error(`the API exited (${api.exitCode})`);
          return (await fetch(`${base}/openapi.json`).catch(() => undefined))?.status === 200;
        },
        120_000,
        'the installed API serving',
      );
      const login = await fetch(`${base}/api/v1/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ email: 'nobody@example.test', password: 'not the password 1' }),
      });
      assert.equal(login.status, 401, 'the API reads its migrated metadata database');
      const worker = await readUnit(path.join(units, 'backup-platform-central-worker.service'));
      assert.deepEqual(worker.execStart.slice(1), ['workers/central.ts']);
      assert.ok((await unitEnvironment(worker)).WORKFLOW_BUNDLE);
    },
  );
});
