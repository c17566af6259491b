// Passwords (scrypt), session tokens (JWT, HS256), site connection keys, and roles.
import { createHash, createHmac, randomBytes, scrypt as scryptCb, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';
import { and, eq } from 'drizzle-orm';
import type { MiddlewareHandler } from 'hono';
import { Bounded } from './bounded.ts';
import { BackupError } from '../common/errors.ts';
import type { Db } from '../db/client.ts';
import { ROLES, type Role } from '../common/model.ts';
import { users } from '../db/schema.ts';

const scrypt = promisify(scryptCb) as (
  pw: string,
  salt: Buffer,
  len: number,
  opts: { N: number; r: number; p: number; maxmem: number },
) => Promise<Buffer>;
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
  const got = await scrypt(password, Buffer.from(salt, 'base64url'), expected.length, {
    N: +n!,
    r: +r!,
    p: +p!,
    maxmem: SCRYPT.maxmem,
  });
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

// Session tokens are JWTs (RFC 7519) signed with HMAC-SHA256 by node:crypto: every API request checks one, and a
// synchronous HMAC costs a few microseconds where WebCrypto's promise round trip cost several times that under load.
const JWT_HEADER = Buffer.from(JSON.stringify({ alg: 'HS256', typ: 'JWT' })).toString('base64url');
const hs256 = (secret: string, signingInput: string) => createHmac('sha256', secret).update(signingInput).digest();

export function issueToken(auth: AuthContext, secret: string, ttlSeconds: number, nowMs = Date.now()): string {
  const iat = Math.floor(nowMs / 1000);
  const claims = { sub: auth.userId, tid: auth.tenantId, role: auth.role, iat, exp: iat + ttlSeconds };
  const signingInput = `${JWT_HEADER}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}`;
  return `${signingInput}.${hs256(secret, signingInput).toString('base64url')}`;
}

/** The signed-in user a token names, or why it cannot be used: a bad signature, another algorithm, expired, not yet valid, malformed. */
export function verifyToken(token: string, secret: string, nowMs = Date.now()): AuthContext | { refused: string } {
  const checked = checkToken(token, secret, nowMs);
  return 'refused' in checked ? checked : checked.auth;
}

/** `verifyToken`, with the time window (seconds) in which the token may be used. */
function checkToken(
  token: string,
  secret: string,
  nowMs: number,
): { auth: AuthContext; nbf: number; exp: number } | { refused: string } {
  const parts = token.split('.');
  if (parts.length !== 3) return { refused: 'not a JWT' };
  const [header, payload, signature] = parts as [string, string, string];
  const expected = hs256(secret, `${header}.${payload}`);
  const got = Buffer.from(signature, 'base64url');
  if (got.length !== expected.length || !timingSafeEqual(got, expected)) return { refused: 'bad signature' };
  let h: Record<string, unknown>, p: Record<string, unknown>;
  try {
    h = JSON.parse(Buffer.from(header, 'base64url').toString());
    p = JSON.parse(Buffer.from(payload, 'base64url').toString());
  } catch {
    return { refused: 'malformed' };
  }
  // The signature covers the header, so this only refuses a token some other signer made with our secret.
  if (h?.alg !== 'HS256') return { refused: 'not HS256' };
  const now = nowMs / 1000;
  if (typeof p?.exp !== 'number' || p.exp <= now) return { refused: 'expired' };
  if (typeof p.nbf === 'number' && p.nbf > now) return { refused: 'not yet valid' };
  const role = p.role as Role;
  if (typeof p.sub !== 'string' || typeof p.tid !== 'string' || !ROLES.includes(role))
    return { refused: 'claims missing' };
  return {
    auth: { userId: p.sub, tenantId: p.tid, role },
    nbf: typeof p.nbf === 'number' ? p.nbf : -Infinity,
    exp: p.exp,
  };
}

/** Tokens remembered once checked: a client sends the same one on every request until it expires. */
const VERIFIED_TOKENS = 10_000;

/**
 * How long an API process trusts what it last read of a user (exists, role) before reading it again. The process that
 * changes or removes a user forgets it at once; another API process notices within this time.
 */
export const USER_TTL_MS = 5_000;

/** Users remembered: past this many, the ones read longest ago go (a miss costs one indexed lookup). */
const KNOWN_USERS = 10_000;

/**
 * Who a token's user is now: a token proves who signed in, but the user may have been removed or given another role
 * since. Read from the database and kept USER_TTL_MS per (tenant, user), so a busy client costs one lookup per TTL.
 */
export class UserRoles {
  readonly #db: Db;
  readonly #ttlMs: number;
  readonly #known = new Bounded<{ auth: AuthContext | null; until: number }>(KNOWN_USERS, () => 1);
  /** Bumped by every `forget`: a read that started before a change must not keep its (older) answer. */
  #generation = 0;
  constructor(db: Db, ttlMs = USER_TTL_MS) {
    this.#db = db;
    this.#ttlMs = ttlMs;
  }

  /** The user with their current role, or null when they are no longer in the tenant. */
  async current(tenantId: string, userId: string, nowMs = Date.now()): Promise<AuthContext | null> {
    const key = `${tenantId}/${userId}`;
    const hit = this.#known.get(key);
    if (hit && hit.until > nowMs) return hit.auth;
    const generation = this.#generation;
    const [row] = await this.#db
      .select({ role: users.role })
      .from(users)
      .where(and(eq(users.id, userId), eq(users.tenantId, tenantId)))
      .limit(1);
    const auth = row ? { userId, tenantId, role: row.role } : null;
    if (generation === this.#generation) this.#known.set(key, { auth, until: nowMs + this.#ttlMs });
    return auth;
  }

  /** Called after a change to a user commits, so this process uses it from the next request on. */
  forget(tenantId: string, userId: string): void {
    this.#known.delete(`${tenantId}/${userId}`);
    this.#generation++;
  }
}

export function requireUser(secret: string, roles: Pick<UserRoles, 'current'>): MiddlewareHandler<AppEnv> {
  // A token's signature and claims never change, so a checked one is only checked again for its time window; the map
  // is emptied when full rather than kept in order, as a cache miss costs one HMAC.
  const verified = new Map<string, { auth: AuthContext; nbf: number; exp: number }>();
  return async (c, next) => {
    const header = c.req.header('authorization') ?? '';
    const token = /^Bearer (.+)$/i.exec(header)?.[1];
    if (!token)
      throw new BackupError('auth', 'sign in first: send Authorization: Bearer <token from /api/v1/auth/login>');
    const nowMs = Date.now();
    const now = nowMs / 1000;
    let known = verified.get(token);
    if (!known) {
      const checked = checkToken(token, secret, nowMs);
      if ('refused' in checked) throw new BackupError('auth', 'the token is invalid or expired: sign in again');
      if (verified.size >= VERIFIED_TOKENS) verified.clear();
      verified.set(token, (known = checked));
    }
    if (known.exp <= now || known.nbf > now) {
      verified.delete(token);
      throw new BackupError('auth', 'the token is invalid or expired: sign in again');
    }
    // The role in the token is the one the user had at sign-in; the database's is the one they have now.
    const auth = await roles.current(known.auth.tenantId, known.auth.userId, nowMs);
    if (!auth) throw new BackupError('auth', 'this user is no longer a member of the tenant');
    c.set('auth', auth);
    await next();
  };
}

/** viewer < operator < admin < owner: a viewer reads, an operator runs, an admin changes, an owner manages admins. */
export function hasRole(auth: AuthContext, least: Role): boolean {
  return ROLES.indexOf(auth.role) >= ROLES.indexOf(least);
}

export function requireRole(auth: AuthContext, least: Role): void {
  if (!hasRole(auth, least)) {
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
