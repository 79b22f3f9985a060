/**
 * What the router knows about one provider: moving averages (EWMA) and a rolling p95 of time
 * to first token and total time, a moving error rate, and the circuit breaker. Samples older
 * than `windowMs` are dropped, so a provider that was slow is tried again once its bad samples
 * age out. Time is injected.
 */
import { RollingWindow } from '../rolling-window.ts';
import { CircuitBreaker } from './circuit-breaker.ts';

export interface StatsOptions {
  samples: number;
  windowMs: number;
  alpha: number;
  circuitFailures: number;
  circuitOpenMs: number;
  now: () => number;
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
