// Guards on the two open routes: sign-in waits out guessing per account and per address, sign-up per address, and
// passwords that guessers try first are refused. The answer to a throttled call is 429 with Retry-After, the same
// whether or not the account exists.
import { getConnInfo } from '@hono/node-server/conninfo';
import type { Context } from 'hono';
import { invalid } from '../../common/errors.ts';
import { dependencyOutage } from '../lib/errors.ts';
import { weakPasswordReason } from './passwords.ts';
import { ACCOUNT_RULE, ADDRESS_RULE, SIGNUP_RULE, Throttle } from './throttle.ts';

export class SignInGuard {
  readonly #accounts = new Throttle(ACCOUNT_RULE);
  readonly #addresses = new Throttle(ADDRESS_RULE);
  readonly #signups: Throttle;

  constructor(opts: { signupsPerHour?: number | undefined } = {}) {
    this.#signups = new Throttle({ ...SIGNUP_RULE, free: opts.signupsPerHour ?? SIGNUP_RULE.free });
  }

  /** Runs a sign-in under the account's and the address's back-off; a throttled try is not even checked. */
  async signIn<T>(c: Context, email: string, attempt: () => Promise<T>): Promise<T | Response> {
    const address = clientAddress(c);
    const wait = Math.max(this.#accounts.waitMs(email), this.#addresses.waitMs(address));
    if (wait > 0) return tooMany(c, wait, 'too many failed sign-ins');
    try {
      const result = await attempt();
      this.#accounts.succeed(email);
      return result;
    } catch (err) {
      // A database that did not answer says nothing about the password: no one is locked out by an outage.
      if (!dependencyOutage(err)) {
        this.#accounts.fail(email);
        this.#addresses.fail(address);
      }
      throw err;
    }
  }

  /** Every sign-up counts against its address, successful or not. */
  async signUp<T>(c: Context, attempt: () => Promise<T>): Promise<T | Response> {
    const address = clientAddress(c);
    const wait = this.#signups.waitMs(address);
    if (wait > 0) return tooMany(c, wait, 'too many sign-ups from this address');
    this.#signups.fail(address);
    return attempt();
  }
}

/** Refuses a password on the lists guessers start with, naming why (400 on `password`). */
export function requireStrongPassword(password: string, context: { email?: string; tenantName?: string }): void {
  const reason = weakPasswordReason(password, context);
  if (reason) throw invalid(`too easy to guess: ${reason}; choose a longer, unusual passphrase`, 'password');
}

function tooMany(c: Context, waitMs: number, what: string): Response {
  const seconds = Math.ceil(waitMs / 1000);
  return c.json({ error: { code: 'rate_limited', message: `${what}: try again in ${seconds} s` } }, 429, {
    'Retry-After': String(seconds),
  });
}

/** The peer's address (a proxy in front of the API should be the one that limits by the real client's). */
function clientAddress(c: Context): string {
  try {
    return getConnInfo(c).remote.address ?? 'unknown';
  } catch {
    return 'unknown'; // app.request() in process: no socket
  }
}
