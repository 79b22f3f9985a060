/**
 * A provider's circuit: closed (requests pass) → open after `failures` consecutive failures
 * (requests skip it) → after `openMs`, half-open: one probe request passes; its success closes
 * the circuit, its failure opens it again for another `openMs`. Time is injected.
 */
export type CircuitState = 'closed' | 'open' | 'half-open';

export class CircuitBreaker {
  private state: CircuitState = 'closed';
  private consecutiveFailures = 0;
  private openedAt = 0;
  private probeInFlight = false;
  private readonly failures: number;
  private readonly openMs: number;
  private readonly now: () => number;

  constructor(options: { failures: number; openMs: number; now: () => number }) {
    this.failures = options.failures;
    this.openMs = options.openMs;
    this.now = options.now;
  }

  /** The state as a router sees it now (an open circuit past its time reads half-open). */
  get current(): CircuitState {
    if (this.state === 'open' && this.now() - this.openedAt >= this.openMs) return 'half-open';
    return this.state;
  }

  /** Whether a request may be sent now; no side effect (the router asks before choosing). */
  available(): boolean {
    const state = this.current;
    return state === 'closed' || (state === 'half-open' && !this.probeInFlight);
  }

  /** A request is being sent: past an open circuit's time, it becomes the one probe. */
  begin(): void {
    if (this.current === 'half-open') {
      this.state = 'half-open';
      this.probeInFlight = true;
    }
  }

  success(): void {
    this.state = 'closed';
    this.consecutiveFailures = 0;
    this.probeInFlight = false;
  }

  failure(): void {
    this.consecutiveFailures += 1;
    this.probeInFlight = false;
    if (this.state === 'half-open' || this.consecutiveFailures >= this.failures) {
      this.state = 'open';
      this.openedAt = this.now();
    }
  }

  /** The request ended with no verdict (cancelled, or a hedge that lost): a probe may go again. */
  release(): void {
    this.probeInFlight = false;
  }
}
