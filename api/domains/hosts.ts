// Which tenant an address belongs to: `<slug>.<BASE_DOMAIN>`, or a domain the tenant proved it holds. Requests to a
// tenant's address sign in to that tenant only, and a token of another tenant is refused there.
import { and, eq, isNotNull } from 'drizzle-orm';
import type { MiddlewareHandler } from 'hono';
import { BackupError } from '../../common/errors.ts';
import type { Db } from '../../db/client.ts';
import { tenantDomains, tenants } from '../../db/schema.ts';
import type { AppEnv } from '../auth/tokens.ts';

/** How long an answer is remembered: a new proof or a removed domain takes effect within this time on other processes. */
const TTL_MS = 30_000;
const MAX_ENTRIES = 10_000;

export class TenantHosts {
  readonly #db: Db;
  readonly #base: string | undefined;
  #cache = new Map<string, { tenantId: string | null; until: number }>();
  constructor(db: Db, baseDomain: string | undefined) {
    this.#db = db;
    this.#base = baseDomain?.toLowerCase().replace(/^\.+|\.+$/g, '') || undefined;
  }

  get baseDomain(): string | undefined {
    return this.#base;
  }

  /** The address a tenant gets at sign-up, when the platform has a BASE_DOMAIN. */
  addressOf(slug: string | null): string | null {
    return this.#base && slug ? `${slug}.${this.#base}` : null;
  }

  /**
   * The tenant whose address `host` is; undefined for the platform's own addresses (anything that is neither under
   * BASE_DOMAIN nor a proven domain). A name under BASE_DOMAIN that no tenant has is refused.
   */
  async tenantOf(hostHeader: string | undefined): Promise<string | undefined> {
    const host = hostName(hostHeader);
    if (!host) return undefined;
    const now = Date.now();
    const known = this.#cache.get(host);
    if (known && known.until > now) return this.#found(host, known.tenantId);
    const tenantId = await this.#lookUp(host);
    if (this.#cache.size >= MAX_ENTRIES) this.#cache.clear();
    this.#cache.set(host, { tenantId, until: now + TTL_MS });
    return this.#found(host, tenantId);
  }

  /** Forgets what was remembered about a domain (its proof or removal, in this process). */
  forget(domain: string): void {
    this.#cache.delete(domain.toLowerCase());
  }

  #found(host: string, tenantId: string | null): string | undefined {
    if (tenantId) return tenantId;
    if (this.#underBase(host)) throw new BackupError('not_found', `no tenant has the address ${host}`);
    return undefined;
  }

  #underBase(host: string): boolean {
    return !!this.#base && host.endsWith(`.${this.#base}`);
  }

  async #lookUp(host: string): Promise<string | null> {
    if (this.#underBase(host)) {
      const slug = host.slice(0, -(this.#base!.length + 1));
      const [t] = await this.#db.select({ id: tenants.id }).from(tenants).where(eq(tenants.slug, slug));
      return t?.id ?? null;
    }
    const [d] = await this.#db
      .select({ tenantId: tenantDomains.tenantId })
      .from(tenantDomains)
      .where(and(eq(tenantDomains.domain, host), isNotNull(tenantDomains.verifiedAt)));
    return d?.tenantId ?? null;
  }
}

/** The host name of a Host header, lower-case, without the port (an IPv6 literal keeps its brackets). */
export function hostName(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const h = header.trim().toLowerCase();
  return h.startsWith('[') ? h.slice(0, h.indexOf(']') + 1) : h.replace(/:\d+$/, '');
}

/** Puts the tenant of the request's address (if any) in `hostTenant`, for sign-in and the token check. */
export function resolveHost(hosts: TenantHosts): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const tenantId = await hosts.tenantOf(c.req.header('host'));
    if (tenantId) c.set('hostTenant', tenantId);
    await next();
  };
}
