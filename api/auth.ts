// Passwords (scrypt), session tokens (JWT, HS256), site connection keys, and roles.
import { createHash, randomBytes, scrypt as scryptCb, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';
import type { MiddlewareHandler } from 'hono';
import { sign, verify } from 'hono/jwt';
import { BackupError } from '../common/errors.ts';
import { ROLES, type Role } from '../db/schema.ts';

const scrypt = promisify(scryptCb) as (pw: string, salt: Buffer, len: number, opts: { N: number; r: number; p: number; maxmem: number }) => Promise<Buffer>;
const SCRYPT = { N: 2 ** 15, r: 8, p: 1, maxmem: 64 * 1024 * 1024 };

export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const hash = await scrypt(password, salt, 32, SCRYPT);
  return `scrypt$${SCRYPT.N}$${SCRYPT.r}$${SCRYPT.p}$${salt.toString('base64url')}$${hash.toString('base64url')}`;
}

export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const [scheme, n, r, p, salt, hash] = stored.split('$');
  if (scheme !== 'scrypt' || !salt || !hash) return false;
  const expected = Buffer.from(hash, 'base64url');
  const got = await scrypt(password, Buffer.from(salt, 'base64url'), expected.length, { N: +n!, r: +r!, p: +p!, maxmem: SCRYPT.maxmem });
  return timingSafeEqual(expected, got);
}

/** Compared when an email is unknown, so a login takes as long whether or not the account exists. */
export const DUMMY_PASSWORD_HASH = await hashPassword(randomBytes(12).toString('hex'));

export interface AuthContext {
  userId: string;
  tenantId: string;
  role: Role;
}

export type AppEnv = { Variables: { auth: AuthContext } };

export async function issueToken(auth: AuthContext, secret: string, ttlSeconds: number): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return sign({ sub: auth.userId, tid: auth.tenantId, role: auth.role, iat: now, exp: now + ttlSeconds }, secret, 'HS256');
}

export function requireUser(secret: string): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const header = c.req.header('authorization') ?? '';
    const token = /^Bearer (.+)$/i.exec(header)?.[1];
    if (!token) throw new BackupError('auth', 'sign in first: send Authorization: Bearer <token from /api/v1/auth/login>');
    let payload: Record<string, unknown>;
    try {
      payload = await verify(token, secret, 'HS256');
    } catch {
      throw new BackupError('auth', 'the token is invalid or expired: sign in again');
    }
    const role = payload.role as Role;
    if (typeof payload.sub !== 'string' || typeof payload.tid !== 'string' || !ROLES.includes(role)) {
      throw new BackupError('auth', 'the token is invalid: sign in again');
    }
    c.set('auth', { userId: payload.sub, tenantId: payload.tid, role });
    await next();
  };
}

/** viewer < operator < admin < owner: a viewer reads, an operator runs, an admin changes, an owner manages admins. */
export function requireRole(auth: AuthContext, least: Role): void {
  if (ROLES.indexOf(auth.role) < ROLES.indexOf(least)) {
    throw new BackupError('forbidden', `this needs the ${least} role or higher; you are ${auth.role}`);
  }
}

/** `bps_<siteId>_<secret>`: the id finds the site, the secret (256 random bits) proves the caller holds the key. */
export function newSiteKey(siteId: string): { key: string; hash: string } {
  const key = `bps_${siteId}_${randomBytes(32).toString('base64url')}`;
  return { key, hash: hashSiteKey(key) };
}

export function hashSiteKey(key: string): string {
  return `sha256$${createHash('sha256').update(key).digest('hex')}`;
}

export function parseSiteKey(key: string): string | undefined {
  return /^bps_([0-9a-f-]{36})_[A-Za-z0-9_-]{43}$/.exec(key)?.[1];
}

export function siteKeyMatches(key: string, storedHash: string): boolean {
  const a = Buffer.from(hashSiteKey(key));
  const b = Buffer.from(storedHash);
  return a.length === b.length && timingSafeEqual(a, b);
}
