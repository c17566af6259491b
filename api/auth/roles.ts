// Roles: who a token's user is now, and what their role lets them do.
import { and, eq } from 'drizzle-orm';
import { BackupError } from '../../common/errors.ts';
import { ROLES, type Role } from '../../common/model.ts';
import type { Db } from '../../db/client.ts';
import { users } from '../../db/schema.ts';
import { Bounded } from '../lib/bounded.ts';
import type { AuthContext } from './tokens.ts';

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

/** viewer < operator < admin < owner: a viewer reads, an operator runs, an admin changes, an owner manages admins. */
export function hasRole(auth: AuthContext, least: Role): boolean {
  return ROLES.indexOf(auth.role) >= ROLES.indexOf(least);
}

export function requireRole(auth: AuthContext, least: Role): void {
  if (!hasRole(auth, least)) {
    throw new BackupError('forbidden', `this needs the ${least} role or higher; you are ${auth.role}`);
  }
}
