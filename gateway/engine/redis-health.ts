/**
 * Whether Redis is serving, beyond whether its sockets are open: a paused or overloaded Redis
 * keeps its connections but answers nothing in time, and a Redis at `maxmemory` answers reads
 * but refuses every write. Both must take the pod out of readiness.
 *
 * Two sources feed it:
 * - every engine call reports its outcome (a reply, a timeout, an OOM refusal);
 * - a probe (health.lua, one command) runs every `intervalMs` with the command timeout, and at
 *   once after a timeout, so the state also changes (and recovers) when no traffic flows.
 * A timeout alone does not mark Redis stalled (one slow command is not an outage): it starts a
 * probe, and a probe that times out does. A probe that fails otherwise (a cluster master that
 * is down while its sockets to the other masters are fine) makes the engine unavailable until a
 * probe succeeds. Any reply clears "stalled"; only an accepted write
 * (a publish, a presence add or the probe) clears "out of memory", since reads work when full.
 *
 * Stalled versus dead: a Redis whose connection dropped fails every call at once (no offline
 * queue) until ioredis reconnects. A connected Redis that answers nothing is "stalled": calls
 * fail fast rather than pile up behind the unanswered ones, and a probe is kept waiting at
 * Redis all the while (the next starts when one times out), so the first reply after a pause
 * (a Redis descheduled for a second) ends the fail-fast, not the next `intervalMs` tick.
 */
import type { Logger } from 'pino';
import type { EngineHealth } from './types.ts';

export type RedisFailure = 'timeout' | 'out-of-memory' | 'other';

/** ioredis rejects a command without a reply after `commandTimeout` with this message. */
const timedOut = 'Command timed out';

/**
 * Rejects after `ms` with ioredis's own timeout error, whatever the command does. ioredis's
 * `commandTimeout` starts only when a command is written: with auto-pipelining, commands wait
 * unsent (and without a timer) behind a pipeline that Redis has not answered, so against a
 * paused Redis they hung until it came back and then all completed at once. The command itself
 * is not cancelled: like any timed-out command it may still run when Redis answers again.
 */
export function withDeadline<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  let lastLook: NodeJS.Immediate | undefined;
  const deadline = new Promise<never>((_, reject) => {
    // Timers run before the event loop reads its sockets. When this process was itself
    // descheduled (or busy) past the deadline, Redis's reply may already be waiting unread:
    // reject only after one more turn has read it, so a late pod does not blame Redis.
    timer = setTimeout(() => (lastLook = setImmediate(() => reject(new Error(timedOut)))), ms);
  });
  return Promise.race([promise, deadline]).finally(() => {
    clearTimeout(timer);
    clearImmediate(lastLook);
  });
}

export function classifyRedisError(error: unknown): RedisFailure {
  const message = error instanceof Error ? error.message : String(error);
  if (/^OOM /.test(message)) return 'out-of-memory';
  if (message === timedOut) return 'timeout';
  return 'other';
}

export interface RedisHealthOptions {
  /** Runs the probe command; rejects like any command (timeout, OOM, connection closed). */
  probe(): Promise<unknown>;
  /** The probe's deadline: the command timeout. */
  timeoutMs: number;
  /** Whether the connections are open and subscriptions in place. */
  connected(): boolean;
  intervalMs: number;
  logger: Logger;
  /** Called whenever the health (or its reason) may have changed. */
  changed(): void;
  /** Counts timeouts and OOM refusals for metrics. */
  count(failure: Exclude<RedisFailure, 'other'>): void;
}

export class RedisHealth {
  readonly #options: RedisHealthOptions;
  #stalled = false;
  #outOfMemory = false;
  #probeFailed = false;
  #probing = false;
  #timer: NodeJS.Timeout | undefined;

  constructor(options: RedisHealthOptions) {
    this.#options = options;
  }

  start(): void {
    this.#timer ??= setInterval(() => this.#probe(), this.#options.intervalMs).unref();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** Redis is connected but answers nothing in time: calls fail at once instead of piling up. */
  get stalled(): boolean {
    return this.#stalled;
  }

  /** Probe now (a connection came back), not at the next interval. */
  check(): void {
    this.#probe();
  }

  current(): EngineHealth {
    if (!this.#options.connected() || this.#probeFailed) return { healthy: false, reason: 'unavailable' };
    if (this.#stalled) return { healthy: false, reason: 'stalled' };
    if (this.#outOfMemory) return { healthy: false, reason: 'out-of-memory' };
    return { healthy: true };
  }

  /** A command got a reply; `write` when Redis accepted a write (which proves it is not full). */
  succeeded(write: boolean): void {
    if (!this.#stalled && !(write && this.#outOfMemory)) return;
    this.#stalled = false;
    if (write) this.#outOfMemory = false;
    this.#options.changed();
  }

  /** A command failed; returns what kind of failure it was. */
  failed(error: unknown): RedisFailure {
    const failure = classifyRedisError(error);
    if (failure === 'out-of-memory') {
      this.#options.count(failure);
      if (!this.#outOfMemory) {
        this.#outOfMemory = true;
        this.#options.changed();
      }
    } else if (failure === 'timeout') {
      this.#options.count(failure);
      this.#probe();
    }
    return failure;
  }

  #probe(): void {
    if (this.#probing || !this.#options.connected()) return;
    this.#probing = true;
    let timedOutAgain = false;
    withDeadline(this.#options.probe(), this.#options.timeoutMs)
      .then(
        () => {
          if (this.#probeFailed) {
            this.#probeFailed = false;
            this.#options.changed();
          }
          this.succeeded(true);
        },
        (error: unknown) => {
          const failure = classifyRedisError(error);
          timedOutAgain = failure === 'timeout';
          if (failure === 'other' && !this.#probeFailed && this.#options.connected()) {
            this.#probeFailed = true;
            this.#options.changed();
          }
          if (failure === 'timeout' && !this.#stalled) {
            this.#stalled = true;
            this.#options.changed();
          } else if (failure === 'out-of-memory' && !this.#outOfMemory) {
            this.#outOfMemory = true;
            this.#options.changed();
          } else if (failure === 'other') {
            this.#options.logger.debug({ engine: 'redis', err: error }, 'redis health probe failed');
          }
        },
      )
      .finally(() => {
        this.#probing = false;
        // Started and still unanswered: wait at Redis for its first reply (see the top).
        if (timedOutAgain && this.#timer !== undefined) this.#probe();
      });
  }
}
