// What `npm start` keeps in its data folder across restarts: the JWT secret, and on the first start only, a tenant to
// sign in to and the local site with its worker configuration. Secrets are files only their owner can read.
import { randomBytes, randomUUID } from 'node:crypto';
import { chmod, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Api } from './api-client.ts';

export interface LocalSite {
  email: string;
  credentialsPath: string;
  siteConfigPath: string;
}

/** Signs up through the API (as an admin would) unless an earlier start did. */
export async function firstStart(
  api: Api,
  apiUrl: string,
  dataDir: string,
  localPostgres: { host: string; port: number; user: string },
): Promise<LocalSite> {
  const credentialsPath = path.join(dataDir, 'local-admin.json');
  const siteConfigPath = path.join(dataDir, 'site-worker.json');
  const existing = await readFile(credentialsPath, 'utf8')
    .then((t) => JSON.parse(t) as { email: string })
    .catch(() => undefined);
  if (existing) return { email: existing.email, credentialsPath, siteConfigPath };

  const email = 'admin@localhost.test';
  const password = randomBytes(12).toString('base64url');
  const call = async <T>(method: string, p: string, body: unknown, token?: string): Promise<T> => {
    const res = await api<T>(method, p, { body, ...(token && { token }) });
    if (res.status < 200 || res.status > 299)
      throw new Error(`bootstrap ${method} ${p}: ${res.status} ${JSON.stringify(res.body)}`);
    return res.body;
  };
  const signup = { tenantName: 'Local', email, password };
  const { token } = await call<{ token: string }>('POST', '/api/v1/auth/signup', signup);
  const site = await call<{ id: string; key: string }>('POST', '/api/v1/sites', { name: 'local' }, token);
  const server = { siteId: site.id, name: 'local-postgres', engine: 'postgresql' };
  await call('POST', '/api/v1/servers', server, token);
  const siteConfig = {
    apiUrl,
    siteKey: site.key,
    backupsDir: path.join(dataDir, 'Backups'),
    // No password: add "passwordFile" here if your server asks for one.
    servers: {
      'local-postgres': {
        engine: 'postgresql',
        host: localPostgres.host,
        port: localPostgres.port,
        user: localPostgres.user,
      },
    },
  };
  await writeSecretFile(siteConfigPath, JSON.stringify(siteConfig, null, 2));
  await writeSecretFile(credentialsPath, JSON.stringify({ email, password }, null, 2));
  return { email, credentialsPath, siteConfigPath };
}

export async function persistentSecret(file: string): Promise<string> {
  const existing = await readFile(file, 'utf8').catch(() => undefined);
  if (existing && existing.trim().length >= 32) return existing.trim();
  const secret = randomBytes(32).toString('base64url') + randomUUID();
  await writeSecretFile(file, secret);
  return secret;
}

async function writeSecretFile(file: string, text: string) {
  await writeFile(file, text, { mode: 0o600 });
  await chmod(file, 0o600);
}
