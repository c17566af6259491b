// Session tokens (JWT, HS256) and the middleware that turns one into the signed-in user of a request.
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';
import { BackupError } from '../../common/errors.ts';
import { ROLES, type Role } from '../../common/model.ts';

export interface AuthContext {
  userId: string;
  tenantId: string;
  role: Role;
}

/** `hostTenant`: the tenant whose address (domain) the request came to, when it came to one (api/domains/hosts.ts). */
export type AppEnv = { Variables: { auth: AuthContext; hostTenant?: string } };

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

/** Where a user's current role is read (`UserRoles`): a token only says which role they had at sign-in. */
export interface RoleSource {
  current(tenantId: string, userId: string, nowMs?: number): Promise<AuthContext | null>;
}

export function requireUser(secret: string, roles: RoleSource): MiddlewareHandler<AppEnv> {
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
    // On a tenant's own address only that tenant's sessions count.
    const hostTenant = c.get('hostTenant');
    if (hostTenant && hostTenant !== known.auth.tenantId)
      throw new BackupError('auth', "this session belongs to another tenant's address: sign in here");
    // The role in the token is the one the user had at sign-in; the database's is the one they have now.
    const auth = await roles.current(known.auth.tenantId, known.auth.userId, nowMs);
    if (!auth) throw new BackupError('auth', 'this user is no longer a member of the tenant');
    c.set('auth', auth);
    await next();
  };
}
