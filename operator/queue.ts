/**
 * A rate-limited work queue of keys, with the guarantees of client-go's workqueue:
 *
 * - dedup: a key waiting in the queue is queued once, however often it is added;
 * - one key is never handed out twice at once: a key added while a worker holds it is queued
 *   again only when that worker calls done(), so it is processed once more afterwards;
 * - retries are delayed by the larger of a per-key exponential backoff (baseDelayMs doubling
 *   up to maxDelayMs) and a global token bucket (bucketQps, bucketBurst) shared by all keys;
 * - forget(key) resets a key's backoff (call it on success);
 * - addAfter(key, ms) queues a key later (the "look again in N ms" outcome); the earliest
 *   pending time wins.
 */
import { TokenBucket } from '../lib/token-bucket.ts';
import { systemClock, type Clock, type Timer } from './clock.ts';

export interface WorkQueueOptions {
  /** First retry delay for a key; doubles with each retry. */
  baseDelayMs?: number;
  /** Ceiling of a key's retry delay. */
  maxDelayMs?: number;
  /** Steady rate of retries allowed across all keys. */
  bucketQps?: number;
  /** Retries allowed in a burst before bucketQps applies. */
  bucketBurst?: number;
  clock?: Clock;
}

export const QUEUE_DEFAULTS = Object.freeze({ baseDelayMs: 5, maxDelayMs: 300_000, bucketQps: 10, bucketBurst: 100 });

export class WorkQueue {
  readonly #queue: string[] = [];
  /** Keys that need processing: waiting in #queue, or re-added while being processed. */
  readonly #dirty = new Set<string>();
  readonly #processing = new Set<string>();
  readonly #delayed = new Map<string, { at: number; timer: Timer }>();
  readonly #failures = new Map<string, number>();
  readonly #waiters: ((key: string | undefined) => void)[] = [];
  readonly #bucket: TokenBucket;
  readonly #clock: Clock;
  readonly #baseDelayMs: number;
  readonly #maxDelayMs: number;
  #shuttingDown = false;

  constructor(options: WorkQueueOptions = {}) {
    this.#clock = options.clock ?? systemClock;
    this.#baseDelayMs = options.baseDelayMs ?? QUEUE_DEFAULTS.baseDelayMs;
    this.#maxDelayMs = options.maxDelayMs ?? QUEUE_DEFAULTS.maxDelayMs;
    this.#bucket = new TokenBucket({ ratePerSec: options.bucketQps ?? QUEUE_DEFAULTS.bucketQps, burst: options.bucketBurst ?? QUEUE_DEFAULTS.bucketBurst, now: () => this.#clock.now() });
  }

  /** Keys waiting to be handed out (not those in flight or delayed). */
  get length(): number {
    return this.#queue.length;
  }

  get inFlight(): number {
    return this.#processing.size;
  }

  get delayed(): number {
    return this.#delayed.size;
  }

  get shuttingDown(): boolean {
    return this.#shuttingDown;
  }

  add(key: string): void {
    if (this.#shuttingDown || this.#dirty.has(key)) return;
    this.#dirty.add(key);
    if (this.#processing.has(key)) return; // done() queues it again
    const waiter = this.#waiters.shift();
    if (waiter) {
      this.#dirty.delete(key);
      this.#processing.add(key);
      waiter(key);
      return;
    }
    this.#queue.push(key);
  }

  /** Queues `key` after `delayMs`; an earlier pending time for the same key wins. */
  addAfter(key: string, delayMs: number): void {
    if (this.#shuttingDown) return;
    if (delayMs <= 0) return this.add(key);
    const at = this.#clock.now() + delayMs;
    const pending = this.#delayed.get(key);
    if (pending && pending.at <= at) return;
    pending?.timer.cancel();
    const timer = this.#clock.after(delayMs, () => {
      this.#delayed.delete(key);
      this.add(key);
    });
    this.#delayed.set(key, { at, timer });
  }

  /**
   * Queues `key` after its backoff and the global bucket allow, and no sooner than
   * `minDelayMs` (a server's Retry-After); returns the delay chosen.
   */
  addRateLimited(key: string, minDelayMs = 0): number {
    const failures = this.#failures.get(key) ?? 0;
    this.#failures.set(key, failures + 1);
    const backoff = Math.min(this.#maxDelayMs, this.#baseDelayMs * 2 ** Math.min(failures, 52));
    const delay = Math.max(backoff, this.#bucket.reserve(), Math.min(minDelayMs, this.#maxDelayMs));
    this.addAfter(key, delay);
    return delay;
  }

  /** How many times `key` has been retried since it was last forgotten. */
  retries(key: string): number {
    return this.#failures.get(key) ?? 0;
  }

  forget(key: string): void {
    this.#failures.delete(key);
  }

  /** The next key to process, waiting for one; undefined once the queue shuts down. Call done(key) after. */
  get(): Promise<string | undefined> {
    if (this.#shuttingDown) return Promise.resolve(undefined);
    const key = this.#queue.shift();
    if (key !== undefined) {
      this.#dirty.delete(key);
      this.#processing.add(key);
      return Promise.resolve(key);
    }
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  done(key: string): void {
    this.#processing.delete(key);
    if (this.#dirty.has(key)) {
      this.#dirty.delete(key);
      this.add(key);
    }
  }

  /**
   * Stops handing out keys: get() resolves undefined from now on and queued or delayed keys are
   * dropped (reconcile is level-based: whoever runs next re-lists and enqueues everything).
   */
  shutdown(): void {
    this.#shuttingDown = true;
    for (const { timer } of this.#delayed.values()) timer.cancel();
    this.#delayed.clear();
    for (const waiter of this.#waiters.splice(0)) waiter(undefined);
  }
}
