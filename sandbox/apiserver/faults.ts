/**
 * Injected failures: the next N requests fail with 429/500/503 (optionally with Retry-After),
 * and every request can be delayed. Dropping watches and refusing connections need the HTTP
 * server and live in server.ts; this holds the request-level state.
 */
import { ApiError, injected } from './errors.ts';

export type FailureStatus = 429 | 500 | 503;

export class RequestFaults {
  private failures: Array<{ status: FailureStatus; retryAfterSeconds?: number }> = [];
  private latencyMs = 0;

  failNext(n: number, status: FailureStatus, retryAfterSeconds?: number): void {
    if (!Number.isInteger(n) || n < 0) throw new RangeError(`failNext: n must be a non-negative integer, got ${n}`);
    if (![429, 500, 503].includes(status)) throw new RangeError(`failNext: status must be 429, 500 or 503, got ${status}`);
    this.failures = Array.from({ length: n }, () => ({ status, retryAfterSeconds }));
  }

  setLatency(ms: number): void {
    if (!(ms >= 0)) throw new RangeError(`setLatency: ms must be >= 0, got ${ms}`);
    this.latencyMs = ms;
  }

  latency(): number {
    return this.latencyMs;
  }

  /** The failure for this request, if one is pending. */
  take(): ApiError | undefined {
    const next = this.failures.shift();
    return next ? injected(next.status, next.retryAfterSeconds) : undefined;
  }
}
