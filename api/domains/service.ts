// A tenant's own domains: claimed with a token, proven by a DNS TXT record, then resolved to the tenant (hosts.ts).
import { randomBytes } from 'node:crypto';
import { resolveTxt } from 'node:dns/promises';
import { and, eq } from 'drizzle-orm';
import { conflict, invalid } from '../../common/errors.ts';
import type { Db } from '../../db/client.ts';
import { tenantDomains } from '../../db/schema.ts';
import type { AuthContext } from '../auth/tokens.ts';
import { uniqueViolation } from '../lib/errors.ts';
import { audit, findOwned } from '../lib/tenancy.ts';
import type { TenantHosts } from './hosts.ts';
import { TXT_PREFIX, TXT_VALUE_PREFIX } from './schemas.ts';

/** DNS TXT look-up: node's resolver in production, a stand-in in tests. */
export type TxtResolver = (name: string) => Promise<string[][]>;
export const systemTxt: TxtResolver = resolveTxt;

export function list(db: Db, tenantId: string) {
  return db.select().from(tenantDomains).where(eq(tenantDomains.tenantId, tenantId)).orderBy(tenantDomains.domain);
}

export async function claim(db: Db, hosts: TenantHosts, auth: AuthContext, domain: string) {
  const base = hosts.baseDomain;
  if (base && (domain === base || domain.endsWith(`.${base}`)))
    throw invalid(`names under ${base} are the platform's; claim a domain of your own`, 'domain');
  try {
    return await db.transaction(async (tx) => {
      const [row] = await tx
        .insert(tenantDomains)
        .values({ tenantId: auth.tenantId, domain, token: randomBytes(18).toString('base64url') })
        .returning();
      await audit(tx, auth, 'domain.claim', { type: 'domain', id: row!.id }, { domain });
      return row!;
    });
  } catch (err) {
    if (uniqueViolation(err)) throw conflict(`${domain} is already claimed by this tenant`);
    throw err;
  }
}

/** Looks for the TXT record; proven, the domain is the tenant's (unless another tenant proved it first). */
export async function verify(db: Db, hosts: TenantHosts, resolver: TxtResolver, auth: AuthContext, id: string) {
  const row = await findOwned(db, tenantDomains, id, auth.tenantId, 'domain');
  if (row.verifiedAt) return row;
  const name = `${TXT_PREFIX}.${row.domain}`;
  const expected = `${TXT_VALUE_PREFIX}${row.token}`;
  const records = await resolver(name).catch((err: { code?: string }) => {
    if (err.code === 'ENOTFOUND' || err.code === 'ENODATA') return [];
    throw conflict(`the DNS look-up of ${name} failed (${err.code ?? 'error'}): try again in a few minutes`);
  });
  // A TXT record may come split in several strings; they are one value.
  const values = records.map((parts) => parts.join(''));
  if (!values.includes(expected))
    throw conflict(
      `no TXT record ${name} holding ${expected} (found ${values.length ? values.join(', ') : 'none'}): add it at your DNS provider, wait for it to spread, then verify again`,
    );
  try {
    return await db.transaction(async (tx) => {
      const [done] = await tx
        .update(tenantDomains)
        .set({ verifiedAt: new Date() })
        .where(and(eq(tenantDomains.id, id), eq(tenantDomains.tenantId, auth.tenantId)))
        .returning();
      await audit(tx, auth, 'domain.verify', { type: 'domain', id }, { domain: row.domain });
      hosts.forget(row.domain);
      return done!;
    });
  } catch (err) {
    if (uniqueViolation(err)) throw conflict(`${row.domain} is another tenant's proven domain`);
    throw err;
  }
}

export async function remove(db: Db, hosts: TenantHosts, auth: AuthContext, id: string) {
  const row = await findOwned(db, tenantDomains, id, auth.tenantId, 'domain');
  await db.transaction(async (tx) => {
    await tx.delete(tenantDomains).where(eq(tenantDomains.id, row.id));
    await audit(tx, auth, 'domain.remove', { type: 'domain', id }, { domain: row.domain });
  });
  hosts.forget(row.domain);
}
