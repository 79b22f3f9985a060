/**
 * A token bucket: `burst` tokens, refilled continuously at `ratePerSec`. Time is injected so
 * that tests drive it without sleeping and callers share their own clock.
 *
 * - take(): spend a token if one is there (a client's publish rate: refuse when empty);
 * - reserve(): spend a token even when none is there, and say how long to wait before using
 *   it (a retry queue: the balance may go below zero, which is the wait).
 */
export interface TokenBucketOptions {
  ratePerSec: number;
  burst: number;
  now: () => number;
}

export class TokenBucket {
  #tokens: number;
  #last: number;
  readonly #ratePerSec: number;
  readonly #burst: number;
  readonly #now: () => number;

  constructor(options: TokenBucketOptions) {
    this.#ratePerSec = options.ratePerSec;
    this.#burst = options.burst;
    this.#now = options.now;
    this.#tokens = options.burst;
    this.#last = options.now();
  }

  #refill(): void {
    const now = this.#now();
    this.#tokens = Math.min(this.#burst, this.#tokens + ((now - this.#last) / 1000) * this.#ratePerSec);
    this.#last = now;
  }

  /** Takes one token; false (and nothing taken) when the bucket is empty. */
  take(): boolean {
    this.#refill();
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }

  /** Reserves one token and returns how many ms to wait before using it (0 when one was there). */
  reserve(): number {
    this.#refill();
    this.#tokens -= 1;
    return this.#tokens >= 0 ? 0 : Math.ceil((-this.#tokens / this.#ratePerSec) * 1000);
  }
}
