/**
 * Tallies: named numbers shared by the pods of a region (AI spend per day, room sentiment per
 * minute), added to atomically and expiring on their own.
 *
 * Guarantees every backend gives:
 * - `add` is atomic: concurrent adds from any pod are never lost, and it returns the total
 *   including this add.
 * - A key's expiry is set by the add that creates it (`ttlMs` after that) and not moved by
 *   later adds, so a daily key lives one fixed span.
 * - `read` returns 0 for a key that does not exist or expired.
 * - Unreachable backend: calls reject with EngineUnavailableError, never hang.
 */
export interface Tallies {
  add(key: string, amount: number, ttlMs: number): Promise<number>;
  read(keys: readonly string[]): Promise<number[]>;
}

/** Tallies of one process (the memory engine: a single pod). */
export class MemoryTallies implements Tallies {
  private readonly entries = new Map<string, { value: number; expiresAt: number }>();
  private readonly now: () => number;
  private addsSincePrune = 0;

  constructor(now: () => number = Date.now) {
    this.now = now;
  }

  private live(key: string): { value: number; expiresAt: number } | undefined {
    const entry = this.entries.get(key);
    if (entry && entry.expiresAt <= this.now()) {
      this.entries.delete(key);
      return undefined;
    }
    return entry;
  }

  async add(key: string, amount: number, ttlMs: number): Promise<number> {
    if (!Number.isFinite(amount)) throw new RangeError('tally amount must be a finite number');
    // Expired keys nobody reads again are swept now and then, so the map stays bounded.
    if (++this.addsSincePrune >= 1000) {
      this.addsSincePrune = 0;
      for (const k of [...this.entries.keys()]) this.live(k);
    }
    const entry = this.live(key) ?? { value: 0, expiresAt: this.now() + ttlMs };
    entry.value += amount;
    this.entries.set(key, entry);
    return entry.value;
  }

  async read(keys: readonly string[]): Promise<number[]> {
    return keys.map((key) => this.live(key)?.value ?? 0);
  }
}
