// The shapes of a tenant's addresses: the one it got at sign-up and the domains it claims, with how to prove each.
import { z } from '@hono/zod-openapi';
import type { tenantDomains } from '../../db/schema.ts';

/** Where the proof goes: a TXT record at this name holding `backup-platform-verify=<token>`. */
export const TXT_PREFIX = '_backup-platform';
export const TXT_VALUE_PREFIX = 'backup-platform-verify=';

export const DomainInput = z
  .object({
    domain: z
      .string()
      .trim()
      .toLowerCase()
      .max(253)
      .regex(
        /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/,
        'a domain name such as backups.example.com',
      ),
  })
  .openapi('DomainInput');

export const Domain = z
  .object({
    id: z.string(),
    domain: z.string(),
    verified: z.boolean(),
    verifiedAt: z.string().nullable(),
    txtName: z.string().openapi({ description: 'add a TXT record with this name…' }),
    txtValue: z.string().openapi({ description: '…holding this value, then ask to verify' }),
  })
  .openapi('Domain');

export const Domains = z
  .object({
    address: z
      .string()
      .nullable()
      .openapi({ description: '<slug>.<BASE_DOMAIN>, when the platform has a BASE_DOMAIN' }),
    items: z.array(Domain),
  })
  .openapi('Domains');

export const domainOut = (d: typeof tenantDomains.$inferSelect) => ({
  id: d.id,
  domain: d.domain,
  verified: d.verifiedAt !== null,
  verifiedAt: d.verifiedAt?.toISOString() ?? null,
  txtName: `${TXT_PREFIX}.${d.domain}`,
  txtValue: `${TXT_VALUE_PREFIX}${d.token}`,
});
