// Accounts: a sign-up creates a tenant with its owner; a sign-in checks the password in the same time whether the
// email has no account, one, or several (one per tenant).
import { and, asc, eq, sql } from 'drizzle-orm';
import { BackupError } from '../../common/errors.ts';
import type { Db, Tx } from '../../db/client.ts';
import { randomBytes } from 'node:crypto';
import { tenants, users } from '../../db/schema.ts';
import { DUMMY_PASSWORD_HASH, hashPassword, verifyPassword } from '../auth/passwords.ts';
import { audit } from '../lib/tenancy.ts';

type Account = { tenant: typeof tenants.$inferSelect; user: typeof users.$inferSelect };

export async function signup(db: Db, input: { tenantName: string; email: string; password: string }): Promise<Account> {
  const passwordHash = await hashPassword(input.password);
  // A new tenant's first user cannot collide with anything: an email that has accounts elsewhere gets one more.
  return await db.transaction(async (tx) => {
    const [tenant] = await tx
      .insert(tenants)
      .values({ name: input.tenantName, slug: await freeSlug(tx, input.tenantName) })
      .returning();
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
}

/**
 * The tenant's address label: its name in lower-case letters, digits and dashes; with a random suffix when taken (two
 * sign-ups racing for one name make the second one fail on the unique key and retry as the client does).
 */
async function freeSlug(tx: Tx, name: string): Promise<string> {
  const base =
    name
      .normalize('NFKD')
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-+|-+$/g, '')
      .slice(0, 40) || 'tenant';
  const [taken] = await tx.select({ id: tenants.id }).from(tenants).where(eq(tenants.slug, base));
  return taken ? `${base}-${randomBytes(3).toString('hex')}` : base;
}

/** How many accounts of one email a sign-in compares, always: the time taken says nothing about how many exist. */
const SIGN_IN_CANDIDATES = 3;

/**
 * An email may have an account in several tenants (each tenant's emails are its own, so that no answer reveals an
 * account elsewhere). A sign-in compares the password with the email's oldest accounts (or the named tenant's) and
 * with dummy hashes up to a fixed count, so it costs the same whether the email has no account or several.
 */
export async function login(db: Db, email: string, password: string, tenantId?: string): Promise<Account> {
  const rows = await db
    .select({ user: users, tenant: tenants })
    .from(users)
    .innerJoin(tenants, eq(tenants.id, users.tenantId))
    .where(and(eq(sql`lower(${users.email})`, email), tenantId ? eq(users.tenantId, tenantId) : undefined))
    .orderBy(asc(users.createdAt), asc(users.id))
    .limit(SIGN_IN_CANDIDATES);
  const hashes = Array.from(
    { length: SIGN_IN_CANDIDATES },
    (_, i) => rows[i]?.user.passwordHash ?? DUMMY_PASSWORD_HASH,
  );
  const ok = await Promise.all(hashes.map((h) => verifyPassword(password, h)));
  const matches = rows.filter((_, i) => ok[i]);
  if (matches.length === 0) throw new BackupError('auth', 'wrong email or password');
  if (matches.length > 1)
    // Only someone who holds the password learns this: the same email and password open several tenants.
    throw new BackupError('invalid', 'this email and password open several tenants: name one in `tenant`', {
      field: 'tenant',
    });
  return matches[0]!;
}
