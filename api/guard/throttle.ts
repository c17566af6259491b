// Sign-in and sign-up back-off: after a number of failures a key (an account, an address) must wait, and each
// further failure doubles the wait. Kept in the API process; several API instances each count their own share,
// which still caps a guesser at a handful of tries a minute per instance.
import { Bounded } from '../lib/bounded.ts';

export interface ThrottleRule {
  /** Failures allowed within `windowMs` before the first wait. */
  free: number;
  /** Quiet time after which the count starts again. */
  windowMs: number;
  /** The first wait; each failure after it doubles. */
  baseBlockMs: number;
  maxBlockMs: number;
}

interface State {
  failures: number;
  lastFailureAt: number;
  blockedUntil: number;
}

export class Throttle {
  readonly #states = new Bounded<State>(100_000, () => 1);
  readonly #rule: ThrottleRule;
  readonly #now: () => number;

  constructor(rule: ThrottleRule, now: () => number = Date.now) {
    this.#rule = rule;
    this.#now = now;
  }

  /** Milliseconds the key must still wait; 0 when it may try now. */
  waitMs(key: string): number {
    const state = this.#states.get(key);
    return state ? Math.max(0, state.blockedUntil - this.#now()) : 0;
  }

  /** Counts a failure (or, for rules that count every attempt, an attempt). */
  fail(key: string): void {
    const now = this.#now();
    const prev = this.#states.get(key);
    // Quiet time counts from the end of a wait, so sitting out a long wait does not earn a fresh set of tries.
    const fresh = !prev || now - Math.max(prev.lastFailureAt, prev.blockedUntil) > this.#rule.windowMs;
    const failures = fresh ? 1 : prev.failures + 1;
    const over = failures - this.#rule.free;
    const blockedUntil =
      over >= 0 ? now + Math.min(this.#rule.maxBlockMs, this.#rule.baseBlockMs * 2 ** Math.min(over, 30)) : 0;
    this.#states.set(key, { failures, lastFailureAt: now, blockedUntil });
  }

  succeed(key: string): void {
    this.#states.delete(key);
  }
}

const MINUTE = 60_000;
/** Ten wrong passwords for one account within a minute's pace, then a minute's wait, doubling to an hour. */
export const ACCOUNT_RULE: ThrottleRule = {
  free: 10,
  windowMs: 15 * MINUTE,
  baseBlockMs: MINUTE,
  maxBlockMs: 60 * MINUTE,
};
/** One address guessing across many accounts. */
export const ADDRESS_RULE: ThrottleRule = {
  free: 30,
  windowMs: 15 * MINUTE,
  baseBlockMs: MINUTE,
  maxBlockMs: 60 * MINUTE,
};
/** Sign-ups from one address: every attempt counts (`free` is SIGNUP_PER_HOUR). */
export const SIGNUP_RULE: ThrottleRule = {
  free: 10,
  windowMs: 60 * MINUTE,
  baseBlockMs: 10 * MINUTE,
  maxBlockMs: 24 * 60 * MINUTE,
};
