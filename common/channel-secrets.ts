// Notification channels' secrets at rest: one JSON object per channel, sealed with AES-256-GCM under a key the API and
// the central worker share (CHANNEL_SECRET_KEY, or a key file they make in DATA_DIR when they share one). A database
// dump alone then gives no webhook URL, bot token, SMTP password or signing secret away.
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ConfigError } from './config.ts';

const VERSION = 'v1';

/** The key from CHANNEL_SECRET_KEY (any text of 32+ characters, hashed to 256 bits), else from DATA_DIR's key file. */
export function channelSecretKey(env: { CHANNEL_SECRET_KEY?: string | undefined; DATA_DIR: string }): Buffer {
  if (env.CHANNEL_SECRET_KEY) {
    if (env.CHANNEL_SECRET_KEY.length < 32) throw new ConfigError('CHANNEL_SECRET_KEY: must be at least 32 characters');
    return createHash('sha256').update(env.CHANNEL_SECRET_KEY).digest();
  }
  const file = path.resolve(env.DATA_DIR, 'channel-secret.key');
  try {
    return Buffer.from(readFileSync(file, 'utf8').trim(), 'base64');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  mkdirSync(path.dirname(file), { recursive: true });
  try {
    writeFileSync(file, randomBytes(32).toString('base64'), { mode: 0o600, flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err; // the other process made it first
  }
  return Buffer.from(readFileSync(file, 'utf8').trim(), 'base64');
}

export function sealSecrets(key: Buffer, secrets: Record<string, string>): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  const body = Buffer.concat([cipher.update(JSON.stringify(secrets), 'utf8'), cipher.final()]);
  return [VERSION, iv.toString('base64'), cipher.getAuthTag().toString('base64'), body.toString('base64')].join(':');
}

export function openSecrets(key: Buffer, sealed: string): Record<string, string> {
  const [version, iv, tag, body] = sealed.split(':');
  if (version !== VERSION || !iv || !tag || body === undefined)
    throw new ConfigError('a channel secret is not in a known format');
  const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64'));
  decipher.setAuthTag(Buffer.from(tag, 'base64'));
  try {
    const text = Buffer.concat([decipher.update(Buffer.from(body, 'base64')), decipher.final()]).toString('utf8');
    return JSON.parse(text) as Record<string, string>;
  } catch {
    throw new ConfigError(
      'a channel secret cannot be opened: the API and the central worker must share CHANNEL_SECRET_KEY',
    );
  }
}
