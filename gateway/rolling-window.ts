/**
 * The last `capacity` samples within `windowMs`, with percentiles by nearest rank: the AI
 * router's p95 time to first token per provider and the relay's p99 lag for /loadz. A ring of
 * fixed size, so adding a sample costs the same however full it is (the relay adds one per
 * message applied); a percentile sorts a copy and is cached until the next sample or expiry.
 * Time is injected.
 */
export class RollingWindow {
  private readonly values: Float64Array;
  private readonly times: Float64Array;
  private start = 0;
  private count = 0;
  private readonly cached = new Map<number, number>();
  private readonly windowMs: number;
  private readonly now: () => number;

  constructor(capacity: number, windowMs: number, now: () => number) {
    this.values = new Float64Array(Math.max(1, capacity));
    this.times = new Float64Array(Math.max(1, capacity));
    this.windowMs = windowMs;
    this.now = now;
  }

  add(value: number): void {
    const capacity = this.values.length;
    const at = this.now();
    if (this.count === capacity) {
      // Full: the oldest sample gives way.
      this.values[this.start] = value;
      this.times[this.start] = at;
      this.start = (this.start + 1) % capacity;
    } else {
      const i = (this.start + this.count) % capacity;
      this.values[i] = value;
      this.times[i] = at;
      this.count += 1;
    }
    this.cached.clear();
  }

  private prune(): void {
    const oldest = this.now() - this.windowMs;
    const capacity = this.values.length;
    let dropped = false;
    while (this.count > 0 && this.times[this.start] < oldest) {
      this.start = (this.start + 1) % capacity;
      this.count -= 1;
      dropped = true;
    }
    if (dropped) this.cached.clear();
  }

  get size(): number {
    this.prune();
    return this.count;
  }

  /** The `q` quantile (0 < q ≤ 1, nearest rank), or undefined with no samples in the window. */
  quantile(q: number): number | undefined {
    this.prune();
    if (this.count === 0) return undefined;
    const hit = this.cached.get(q);
    if (hit !== undefined) return hit;
    const sorted = new Float64Array(this.count);
    for (let i = 0; i < this.count; i++) sorted[i] = this.values[(this.start + i) % this.values.length];
    sorted.sort();
    const value = sorted[Math.min(this.count - 1, Math.max(0, Math.ceil(q * this.count) - 1))];
    this.cached.set(q, value);
    return value;
  }

  p95(): number | undefined {
    return this.quantile(0.95);
  }
}
