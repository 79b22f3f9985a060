/**
 * What the router knows about one provider: moving averages (EWMA) and a rolling p95 of time
 * to first token and total time, a moving error rate, and the circuit breaker. Samples older
 * than `windowMs` are dropped, so a provider that was slow is tried again once its bad samples
 * age out. Time is injected.
 */
import { CircuitBreaker } from './circuit-breaker.ts';

export interface StatsOptions {
  samples: number;
  windowMs: number;
  alpha: number;
  circuitFailures: number;
  circuitOpenMs: number;
  now: () => number;
}

/** The last `capacity` samples within `windowMs`, with a cached percentile. */
export class RollingWindow {
  private readonly values: number[] = [];
  private readonly times: number[] = [];
  private cachedP95: number | undefined;
  private dirty = false;
  private readonly capacity: number;
  private readonly windowMs: number;
  private readonly now: () => number;

  constructor(capacity: number, windowMs: number, now: () => number) {
    this.capacity = capacity;
    this.windowMs = windowMs;
    this.now = now;
  }

  add(value: number): void {
    this.values.push(value);
    this.times.push(this.now());
    if (this.values.length > this.capacity) {
      this.values.shift();
      this.times.shift();
    }
    this.dirty = true;
  }

  private prune(): void {
    const oldest = this.now() - this.windowMs;
    let drop = 0;
    while (drop < this.times.length && this.times[drop] < oldest) drop += 1;
    if (drop > 0) {
      this.values.splice(0, drop);
      this.times.splice(0, drop);
      this.dirty = true;
    }
  }

  get size(): number {
    this.prune();
    return this.values.length;
  }

  /** The 95th percentile (nearest rank), or undefined with no samples in the window. */
  p95(): number | undefined {
    this.prune();
    if (this.values.length === 0) return undefined;
    if (this.dirty) {
      const sorted = [...this.values].sort((a, b) => a - b);
      this.cachedP95 = sorted[Math.min(sorted.length - 1, Math.ceil(0.95 * sorted.length) - 1)];
      this.dirty = false;
    }
    return this.cachedP95;
  }
}

export interface StatsSnapshot {
  p95TtftMs?: number;
  ewmaTtftMs?: number;
  ewmaTotalMs?: number;
  errorRate: number;
  samples: number;
  circuit: string;
}

export class ProviderStats {
  readonly circuit: CircuitBreaker;
  ewmaTtftMs: number | undefined;
  ewmaTotalMs: number | undefined;
  errorRate = 0;
  private readonly ttft: RollingWindow;
  private readonly alpha: number;

  constructor(options: StatsOptions) {
    this.alpha = options.alpha;
    this.ttft = new RollingWindow(options.samples, options.windowMs, options.now);
    this.circuit = new CircuitBreaker({ failures: options.circuitFailures, openMs: options.circuitOpenMs, now: options.now });
  }

  private ewma(previous: number | undefined, sample: number): number {
    return previous === undefined ? sample : previous + this.alpha * (sample - previous);
  }

  p95TtftMs(): number | undefined {
    return this.ttft.p95();
  }

  /** The first token arrived after `ttftMs`. */
  firstToken(ttftMs: number): void {
    this.ttft.add(ttftMs);
    this.ewmaTtftMs = this.ewma(this.ewmaTtftMs, ttftMs);
  }

  /** The request completed after `totalMs`. */
  success(totalMs: number): void {
    this.ewmaTotalMs = this.ewma(this.ewmaTotalMs, totalMs);
    this.errorRate = this.ewma(this.errorRate, 0);
    this.circuit.success();
  }

  /**
   * The request failed. `waitedMs` without a first token counts as a latency sample too: a
   * provider that times out must look slow, not fast.
   */
  failure(waitedMs?: number): void {
    if (waitedMs !== undefined) this.firstToken(waitedMs);
    this.errorRate = this.ewma(this.errorRate, 1);
    this.circuit.failure();
  }

  snapshot(): StatsSnapshot {
    return { p95TtftMs: this.p95TtftMs(), ewmaTtftMs: this.ewmaTtftMs, ewmaTotalMs: this.ewmaTotalMs, errorRate: this.errorRate, samples: this.ttft.size, circuit: this.circuit.current };
  }
}
