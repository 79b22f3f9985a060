/**
 * Admits subscribes to the engine at a bounded concurrency per node.
 *
 * A subscribe reads the engine (a history read for `recover`, or a position read, then a
 * presence add). When thousands of clients come back at once (a network blip, a pod restart),
 * issuing all of their reads together puts every one of them behind the others at Redis and in
 * this process; past `redis.commandTimeoutMs` they all fail `UNAVAILABLE`, the health probe
 * marks Redis stalled, and every client retries with a new socket: the storm feeds itself.
 *
 * Instead, at most `inFlight` subscribes run at once; up to `queueLength` more wait their turn in
 * arrival order (a client waits for its reply rather than reconnecting); past that, a subscribe
 * is refused at once with `OVERLOADED` and a `retryAfterMs` hint — a clear, retryable refusal
 * that costs the node nothing, spread over [retryAfterMs, 2 × retryAfterMs) so the refused do
 * not return together. A waiter whose socket closed meanwhile gives its turn up.
 *
 * The same storm begins with the cut: thousands of sockets close at once, and each leaves its
 * rooms (a presence removal, a count, a leave push). Those go through the same turns, never
 * refused (`mayRefuse: false`: a close cannot be retried), so the leaves and the comebacks
 * together reach Redis at the bounded rate.
 */
import { GatewayError } from './errors.ts';

export interface SubscribeGateOptions {
  /** Subscribes reading the engine at once on this node. */
  inFlight: number;
  /** Subscribes waiting for a turn; more are refused with OVERLOADED. */
  queueLength: number;
  /** The least a refused client is told to wait, ms; the hint adds up to as much again at random. */
  retryAfterMs: number;
  /** Injected for tests; Math.random by default. */
  random?: () => number;
}

interface Waiter {
  stillWanted: () => boolean;
  /** true: the turn is this waiter's; false: it no longer wants one. */
  resolve: (turn: boolean) => void;
  /** A subscribe (counted against queueLength), not a leave. */
  mayRefuse: boolean;
}

export class SubscribeGate {
  readonly #options: SubscribeGateOptions;
  readonly #random: () => number;
  readonly #waiting: Waiter[] = [];
  #head = 0;
  #running = 0;
  /** Waiting subscribes: the leaves waiting beside them never make a subscribe be refused. */
  #waitingSubscribes = 0;

  constructor(options: SubscribeGateOptions) {
    this.#options = options;
    this.#random = options.random ?? Math.random;
  }

  /**
   * Runs `work` when a turn is free; rejects with OVERLOADED (and `retryAfterMs`) when the queue
   * is full, unless `mayRefuse` is false (it waits whatever the queue). `stillWanted` is asked
   * when the turn comes: false (the socket closed) skips the work and resolves undefined.
   */
  async run<T>(stillWanted: () => boolean, work: () => Promise<T>, { mayRefuse = true } = {}): Promise<T | undefined> {
    if (this.#running >= this.#options.inFlight) {
      if (mayRefuse && this.#waitingSubscribes >= this.#options.queueLength) {
        const { retryAfterMs } = this.#options;
        const hint = Math.round(retryAfterMs + this.#random() * retryAfterMs);
        throw new GatewayError('OVERLOADED', `${this.#options.inFlight} subscribes in progress and ${this.#options.queueLength} waiting on this node; retry after ${hint} ms`, { retryAfterMs: hint });
      }
      if (mayRefuse) this.#waitingSubscribes += 1;
      const turn = await new Promise<boolean>((resolve) => this.#waiting.push({ stillWanted, resolve, mayRefuse }));
      if (!turn) return undefined;
    } else {
      this.#running += 1;
    }
    try {
      return stillWanted() ? await work() : undefined;
    } finally {
      this.#release();
    }
  }

  /** Hands the turn to the next waiter that still wants one (the count stays), or frees it. */
  #release(): void {
    while (this.#head < this.#waiting.length) {
      const next = this.#waiting[this.#head++];
      if (this.#head > 1024 && this.#head * 2 > this.#waiting.length) {
        this.#waiting.splice(0, this.#head);
        this.#head = 0;
      }
      if (next.mayRefuse) this.#waitingSubscribes -= 1;
      const wanted = next.stillWanted();
      next.resolve(wanted);
      // Its socket closed while waiting: no turn for it, ours passes on to the next.
      if (wanted) return;
    }
    this.#running -= 1;
  }
}
