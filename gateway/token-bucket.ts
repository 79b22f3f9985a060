/**
 * A token bucket: `burst` tokens, refilled at `ratePerSec`. Time is injected so tests and the
 * connection share one clock.
 */
export class TokenBucket {
  private tokens: number;
  private last: number;
  private readonly ratePerMs: number;
  private readonly burst: number;
  private readonly now: () => number;

  constructor(options: { ratePerSec: number; burst: number; now: () => number }) {
    this.ratePerMs = options.ratePerSec / 1000;
    this.burst = options.burst;
    this.now = options.now;
    this.tokens = options.burst;
    this.last = options.now();
  }

  /** Takes one token; false when the bucket is empty. */
  take(): boolean {
    const now = this.now();
    this.tokens = Math.min(this.burst, this.tokens + (now - this.last) * this.ratePerMs);
    this.last = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

/** Counts events in fixed windows; `add` returns true once `limit` is reached within one window. */
export class WindowCounter {
  private count = 0;
  private windowStart: number;
  private readonly limit: number;
  private readonly windowMs: number;
  private readonly now: () => number;

  constructor(options: { limit: number; windowMs: number; now: () => number }) {
    this.limit = options.limit;
    this.windowMs = options.windowMs;
    this.now = options.now;
    this.windowStart = options.now();
  }

  add(): boolean {
    const now = this.now();
    if (now - this.windowStart >= this.windowMs) {
      this.windowStart = now;
      this.count = 0;
    }
    this.count += 1;
    return this.count >= this.limit;
  }
}
