// A site worker's Temporal token lives minutes: the worker checks in again before it runs out and hands the new one
// to its connection. When the API refuses the site key (rotated or deleted), the worker stops at once; a worker that
// does not (an old copy, a hostile one) is refused by Temporal when its last token runs out.
import type { Worker } from '@temporalio/worker';
import type { Logger } from '../common/logger.ts';
import type { SiteConfig } from '../activities/site-config.ts';
import { checkIn, SiteKeyRefused, type CheckIn } from './check-in.ts';

export class TokenRenewal {
  #current: { token: string; expiresAt: number } | undefined;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;
  readonly #config: SiteConfig;
  readonly #logger: Logger;

  constructor(config: SiteConfig, identity: CheckIn, logger: Logger) {
    this.#config = config;
    this.#logger = logger;
    this.#take(identity);
  }

  /** The connection asks for the token before each change; undefined without the platform's Temporal server. */
  get token(): (() => string) | undefined {
    return this.#current ? () => this.#current!.token : undefined;
  }

  start(worker: Worker): void {
    if (!this.#current) return;
    const schedule = () => {
      if (this.#stopped || !this.#current) return;
      // Half of what is left, so a failed check-in still leaves time for a few more tries.
      const delay = Math.max(1000, (this.#current.expiresAt - Date.now()) / 2);
      this.#timer = setTimeout(() => void renew(), delay);
    };
    const renew = async () => {
      try {
        this.#take(await checkIn(this.#config));
      } catch (err) {
        if (err instanceof SiteKeyRefused) {
          this.#logger.error({ err }, 'the API no longer accepts this site key: stopping the worker');
          this.stop();
          worker.shutdown();
          return;
        }
        this.#logger.warn({ err }, 'check-in to renew the Temporal token failed; trying again');
      }
      schedule();
    };
    schedule();
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
  }

  #take(identity: CheckIn): void {
    if (identity.temporal)
      this.#current = { token: identity.temporal.token, expiresAt: Date.parse(identity.temporal.expiresAt) };
  }
}
