// Tokens for Temporal: short-lived JWTs (EdDSA) that the platform's Temporal server checks with the public half
// of the platform's key. The API and the central worker sign "platform" tokens for themselves; a site worker gets a
// "site" token at check-in that lets it poll and answer its one task queue and nothing else.
import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';

export const TOKEN_AUDIENCE = 'temporal';
/** A rotated or deleted site key stops its worker within this time: the worker cannot renew. */
export const SITE_TOKEN_TTL_SECONDS = 5 * 60;
export const PLATFORM_TOKEN_TTL_SECONDS = 15 * 60;

export type TemporalClaims =
  { role: 'platform'; ns: string; sub: string } | { role: 'site'; ns: string; sub: string; tq: string };

const b64url = (data: Buffer | string) => Buffer.from(data).toString('base64url');

export function signTemporalToken(
  key: KeyObject,
  claims: TemporalClaims,
  ttlSeconds: number,
  now = Date.now(),
): { token: string; expiresAt: Date } {
  const iat = Math.floor(now / 1000);
  const header = b64url(JSON.stringify({ alg: 'EdDSA', typ: 'JWT' }));
  const payload = b64url(JSON.stringify({ ...claims, aud: TOKEN_AUDIENCE, iat, exp: iat + ttlSeconds }));
  const signature = b64url(sign(null, Buffer.from(`${header}.${payload}`), key));
  return { token: `${header}.${payload}.${signature}`, expiresAt: new Date((iat + ttlSeconds) * 1000) };
}

/** The claims of a token this key signed, or undefined (bad signature, expired, another audience). */
export function readTemporalToken(publicKey: KeyObject, token: string, now = Date.now()): TemporalClaims | undefined {
  const [header, payload, signature] = token.split('.');
  if (!header || !payload || !signature) return undefined;
  if (!verify(null, Buffer.from(`${header}.${payload}`), publicKey, Buffer.from(signature, 'base64url')))
    return undefined;
  const claims = JSON.parse(Buffer.from(payload, 'base64url').toString()) as TemporalClaims & {
    aud: string;
    exp: number;
  };
  if (claims.aud !== TOKEN_AUDIENCE || claims.exp * 1000 <= now) return undefined;
  return claims;
}

export interface SigningKey {
  privateKey: KeyObject;
  publicKey: KeyObject;
  publicKeyFile: string;
}

/** The platform's signing key in `dir` (made on first use, private half 0600); the server trusts `public.pem`. */
export async function loadOrCreateSigningKey(dir: string): Promise<SigningKey> {
  const privateFile = path.join(dir, 'signing-key.pem');
  const publicKeyFile = path.join(dir, 'public.pem');
  try {
    const privateKey = createPrivateKey(await readFile(privateFile));
    return { privateKey, publicKey: createPublicKey(privateKey), publicKeyFile };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  try {
    await writeFile(privateFile, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600, flag: 'wx' });
  } catch (err) {
    // Another process of the platform made it first: use theirs.
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return loadOrCreateSigningKey(dir);
    throw err;
  }
  await writeFile(publicKeyFile, publicKey.export({ type: 'spki', format: 'pem' }), { mode: 0o644 });
  return { privateKey, publicKey, publicKeyFile };
}

/** A token that renews itself before it runs out, for a client's `apiKey` function. */
export function renewingToken(key: KeyObject, claims: TemporalClaims, ttlSeconds = PLATFORM_TOKEN_TTL_SECONDS) {
  let current = signTemporalToken(key, claims, ttlSeconds);
  return () => {
    if (current.expiresAt.getTime() - Date.now() < (ttlSeconds * 1000) / 3)
      current = signTemporalToken(key, claims, ttlSeconds);
    return current.token;
  };
}
