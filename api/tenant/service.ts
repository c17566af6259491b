// The tenant's settings, users and audit log in the database. A tenant always keeps an owner.
import { and, desc, eq } from 'drizzle-orm';
import { BackupError, conflict } from '../../common/errors.ts';
import type { Role } from '../../common/model.ts';
import type { Db, Tx } from '../../db/client.ts';
import { auditLog, tenants, users } from '../../db/schema.ts';
import { hashPassword } from '../auth/passwords.ts';
import { requireStrongPassword } from '../guard/sign-in.ts';
import { requireRole } from '../auth/roles.ts';
import type { AuthContext } from '../auth/tokens.ts';
import { uniqueViolation } from '../lib/errors.ts';
import { audit, findOwned } from '../lib/tenancy.ts';

type UserRow = typeof users.$inferSelect;

export async function get(db: Db, tenantId: string): Promise<typeof tenants.$inferSelect> {
  const [t] = await db.select().from(tenants).where(eq(tenants.id, tenantId));
  return t!;
}

export async function update(
  db: Db,
  auth: AuthContext,
  patch: { name?: string; webhookUrl?: string | null },
): Promise<typeof tenants.$inferSelect> {
  return db.transaction(async (tx) => {
    const [t] = await tx.update(tenants).set(patch).where(eq(tenants.id, auth.tenantId)).returning();
    await audit(tx, auth, 'tenant.update', { type: 'tenant', id: auth.tenantId }, { fields: Object.keys(patch) });
    return t!;
  });
}

export function listUsers(db: Db, tenantId: string): Promise<UserRow[]> {
  return db.select().from(users).where(eq(users.tenantId, tenantId)).orderBy(users.createdAt);
}

export async function createUser(
  db: Db,
  auth: AuthContext,
  input: { email: string; password: string; role: Role },
): Promise<UserRow> {
  requireStrongPassword(input.password, { email: input.email });
  const passwordHash = await hashPassword(input.password);
  try {
    return await db.transaction(async (tx) => {
      const [u] = await tx
        .insert(users)
        .values({ tenantId: auth.tenantId, email: input.email, passwordHash, role: input.role })
        .returning();
      await audit(tx, auth, 'user.create', { type: 'user', id: u!.id }, { email: input.email, role: input.role });
      return u!;
    });
  } catch (err) {
    if (uniqueViolation(err)) throw conflict('this tenant already has a user with this email');
    throw err;
  }
}

/** Owners are made and unmade only by owners; the role needed is known once the user's row is read. */
export async function changeRole(db: Db, auth: AuthContext, id: string, role: Role): Promise<UserRow> {
  return db.transaction(async (tx) => {
    const target = await findOwned(tx, users, id, auth.tenantId, 'user');
    requireRole(auth, target.role === 'owner' || role === 'owner' ? 'owner' : 'admin');
    if (target.role === 'owner' && role !== 'owner') await assertAnotherOwner(tx, auth.tenantId, id);
    const [u] = await tx.update(users).set({ role }).where(eq(users.id, id)).returning();
    await audit(tx, auth, 'user.role', { type: 'user', id }, { from: target.role, to: role });
    return u!;
  });
}

export async function removeUser(db: Db, auth: AuthContext, id: string): Promise<void> {
  await db.transaction(async (tx) => {
    const target = await findOwned(tx, users, id, auth.tenantId, 'user');
    requireRole(auth, target.role === 'owner' ? 'owner' : 'admin');
    if (target.role === 'owner') await assertAnotherOwner(tx, auth.tenantId, id);
    await tx.delete(users).where(eq(users.id, id));
    await audit(tx, auth, 'user.delete', { type: 'user', id }, { email: target.email });
  });
}

export function auditEntries(db: Db, tenantId: string, limit: number) {
  return db.select().from(auditLog).where(eq(auditLog.tenantId, tenantId)).orderBy(desc(auditLog.at)).limit(limit);
}

/**
 * The tenant keeps an owner besides `exceptId`. The owners' rows are locked first: two owners demoting or removing
 * each other at once are taken one after the other, and the second finds the first no longer an owner.
 */
async function assertAnotherOwner(tx: Db | Tx, tenantId: string, exceptId: string): Promise<void> {
  const owners = await tx
    .select({ id: users.id })
    .from(users)
    .where(and(eq(users.tenantId, tenantId), eq(users.role, 'owner')))
    .orderBy(users.id)
    .for('update'); // one order: no deadlock
  if (!owners.some((o) => o.id !== exceptId))
    throw new BackupError('conflict', 'a tenant keeps at least one owner: make another user owner first');
}
