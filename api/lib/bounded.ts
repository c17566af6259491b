// A bounded in-memory map for what an API process keeps between requests.

/**
 * A map that keeps at most `max` of weight (each entry weighs `weight(value)`), dropping the entries set longest ago
 * first: what the API keeps between requests (the listing's rows and pages, users' roles).
 */
export class Bounded<V> {
  #entries = new Map<string, V>();
  #total = 0;
  readonly #max: number;
  readonly #weight: (value: V) => number;
  constructor(max: number, weight: (value: V) => number) {
    this.#max = max;
    this.#weight = weight;
  }

  get(key: string): V | undefined {
    return this.#entries.get(key);
  }

  set(key: string, value: V): void {
    this.delete(key);
    this.#entries.set(key, value);
    this.#total += this.#weight(value);
    for (const oldest of this.#entries.keys()) {
      if (this.#total <= this.#max) break;
      this.delete(oldest);
    }
  }

  delete(key: string): void {
    const value = this.#entries.get(key);
    if (value === undefined) return;
    this.#total -= this.#weight(value);
    this.#entries.delete(key);
  }
}
