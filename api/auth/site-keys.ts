// Site keys: a site worker proves with one which site it serves. Shown once, stored only as a hash.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

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
