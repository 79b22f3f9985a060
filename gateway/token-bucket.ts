/* A connection's violation counter. Its token bucket is lib/token-bucket.ts, shared with the operator. */

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
