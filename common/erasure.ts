// Erasure on request (GDPR art. 17): the signed report of a tenant's erasure and the pseudonym of an erased user.
// The report is signed with the platform's Ed25519 erasure key (ERASURE_SIGNING_KEY_FILE); the API publishes its
// public half, so anyone holding a report can check it was the platform that wrote it and that nothing was changed.
import {
  createHash,
  createHmac,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  sign,
  verify,
  type KeyObject,
} from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ConfigError } from './config.ts';

/** What the erasure of one tenant deleted, and where. Ids, keys and counts only: no name, no e-mail address. */
export interface ErasureReport {
  version: 1;
  erasureId: string;
  tenantId: string;
  /** The user (id) who asked, as the API recorded it. */
  requestedBy: string;
  requestedAt: string;
  finishedAt: string;
  /** Temporal Schedules deleted (paused first, so none started a run while the rest went). */
  schedules: string[];
  /** Workflow executions deleted from Temporal (running ones are terminated by the deletion). */
  workflows: { workflowId: string; runId: string }[];
  /** Per site and target (`site`: the site's own Backups folder; else a destination), the object keys deleted. */
  copies: { siteId: string; target: string; kind: string; keys: string[] }[];
  /** Sites or destinations the erasure waited for (offline, unreachable) before their files could be deleted. */
  waits: { siteId: string; target: string; reason: string }[];
  /** Rows deleted, per table of the metadata database. */
  rows: Record<string, number>;
}

/** The bytes that are signed: the report as JSON text, kept verbatim beside the signature. */
export function signReport(report: ErasureReport, key: KeyObject): { payload: string; signature: string } {
  const payload = JSON.stringify(report);
  return { payload, signature: sign(null, Buffer.from(payload), key).toString('base64') };
}

export function verifyReport(payload: string, signature: string, publicKeyPem: string): boolean {
  return verify(null, Buffer.from(payload), createPublicKey(publicKeyPem), Buffer.from(signature, 'base64'));
}

export async function readErasureKey(file: string): Promise<KeyObject> {
  try {
    return createPrivateKey(await readFile(file));
  } catch (err) {
    throw new ConfigError(
      `ERASURE_SIGNING_KEY_FILE: cannot read an Ed25519 private key (PEM) from ${file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`,
    );
  }
}

/** The public half as PEM (SPKI), the form the API publishes. */
export const publicKeyPem = (key: KeyObject): string =>
  createPublicKey(key).export({ type: 'spki', format: 'pem' }).toString();

/** The public half (PEM) of the key in `file`, for the API to publish; undefined when no key is configured. */
export async function erasurePublicKey(file: string | undefined): Promise<string | undefined> {
  return file ? publicKeyPem(await readErasureKey(file)) : undefined;
}

/** A development erasure key in `<dataDir>/erasure` (made on first use, 0600), as the dev Temporal signing key is. */
export async function devErasureKey(dataDir: string): Promise<string> {
  const dir = path.join(dataDir, 'erasure');
  const file = path.join(dir, 'erasure-signing-key.pem');
  try {
    createPrivateKey(await readFile(file));
    return file;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const { privateKey } = generateKeyPairSync('ed25519');
  try {
    await writeFile(file, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600, flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  return file;
}

/**
 * The stable pseudonym of an erased user: the same for all of their audit entries, so a trail stays readable, and
 * keyed (HMAC), so whoever knows a user id cannot tell which pseudonym is theirs without the platform's secret.
 */
export function erasedUserPseudonym(secret: string, tenantId: string, userId: string): string {
  const mac = createHmac('sha256', secret).update(`erased-user\0${tenantId}\0${userId}`).digest('hex');
  return `erased-user-${mac.slice(0, 16)}`;
}

export const sha256Hex = (text: string): string => createHash('sha256').update(text).digest('hex');
