// The Temporal tokens the API hands to site workers at check-in: each names the site's one task queue and lives a
// few minutes, so a site key that is rotated or deleted stops its old worker within one lifetime.
import { createPrivateKey, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { TemporalEnv } from '../../common/config.ts';
import { signTemporalToken, SITE_TOKEN_TTL_SECONDS } from '../../common/temporal-token.ts';

export class SiteTokens {
  readonly #key: KeyObject;
  readonly #namespace: string;
  readonly #ttlSeconds: number;

  constructor(key: KeyObject, namespace: string, ttlSeconds = SITE_TOKEN_TTL_SECONDS) {
    this.#key = key;
    this.#namespace = namespace;
    this.#ttlSeconds = ttlSeconds;
  }

  /** Without the platform's signing key (a cluster the project does not run) sites bring their own credentials. */
  static async fromEnv(env: TemporalEnv, ttlSeconds?: number): Promise<SiteTokens | undefined> {
    if (!env.TEMPORAL_SIGNING_KEY_FILE) return undefined;
    const key = createPrivateKey(await readFile(env.TEMPORAL_SIGNING_KEY_FILE));
    return new SiteTokens(key, env.TEMPORAL_NAMESPACE, ttlSeconds);
  }

  issue(site: { id: string; taskQueue: string }): { token: string; expiresAt: string } {
    const { token, expiresAt } = signTemporalToken(
      this.#key,
      { role: 'site', ns: this.#namespace, sub: `site:${site.id}`, tq: site.taskQueue },
      this.#ttlSeconds,
    );
    return { token, expiresAt: expiresAt.toISOString() };
  }
}
