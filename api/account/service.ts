// Accounts: a sign-up creates a tenant with its owner; a sign-in checks the password in the same time whether or not
// the email is known.
import { eq, sql } from 'drizzle-orm';
import { BackupError, conflict } from '../../common/errors.ts';
import type { Db } from '../../db/client.ts';
import { tenants, users } from '../../db/schema.ts';
import { DUMMY_PASSWORD_HASH, hashPassword, verifyPassword } from '../auth/passwords.ts';
import { uniqueViolation } from '../lib/errors.ts';
import { audit } from '../lib/tenancy.ts';

type Account = { tenant: typeof tenants.$inferSelect; user: typeof users.$inferSelect };

export async function signup(db: Db, input: { tenantName: string; email: string; password: string }): Promise<Account> {
  const passwordHash = await hashPassword(input.password);
  try {
    return await db.transaction(async (tx) => {
      const [tenant] = await tx.insert(tenants).values({ name: input.tenantName }).returning();
      const [user] = await tx
        .insert(users)
        .values({ tenantId: tenant!.id, email: input.email, passwordHash, role: 'owner' })
        .returning();
      await audit(tx, { tenantId: tenant!.id, userId: user!.id, role: 'owner' }, 'tenant.signup', {
        type: 'tenant',
        id: tenant!.id,
      });
      return { tenant: tenant!, user: user! };
    });
  } catch (err) {
    if (uniqueViolation(err)) throw conflict('an account with this email exists: sign in instead');
    throw err;
  }
}

export async function login(db: Db, email: string, password: string): Promise<Account> {
  const [row] = await db
    .select({ user: users, tenant: tenants })
    .from(users)
    .innerJoin(tenants, eq(tenants.id, users.tenantId))
    .where(eq(sql`lower(${users.email})`, email));
  const ok = await verifyPassword(password, row?.user.passwordHash ?? DUMMY_PASSWORD_HASH);
  if (!row || !ok) throw new BackupError('auth', 'wrong email or password');
  return row;
}
