/**
 * The bounded outbox between a region and the bus: everything the relay sends waits here until
 * the bus took it, so local delivery never waits for the bus and an outage loses nothing the
 * outbox can hold.
 *
 * - Oldest first: the head window is sent in order (envelopes of one room keep their order on
 *   the bus, through the ordering key); what the bus refused stays at the head, in order, and is
 *   tried again after a backoff that doubles from `retryInitialMs` up to `retryMaxMs`.
 * - Bounded by `maxMessages` and `maxBytes`: when full, the oldest envelope not in flight is
 *   dropped and counted. A dropped message is still in its origin's history, so the receivers
 *   repair it from there (the next message's `prev` or the periodic digest reveals it) as long
 *   as that history keeps it.
 * - An envelope is built lazily (`build`), once, just before its first attempt: a message's
 *   `prev` needs a history read, which must not delay the local publish.
 */
import type { Logger } from 'pino';
import type { RelayEnvelope } from './envelope.ts';
import type { RelayBus } from './types.ts';

export interface OutboxItem {
  /** Ordering key (the room), or undefined for envelopes that need no order. */
  key: string | undefined;
  /** Approximate encoded size, for the byte bound. */
  bytes: number;
  build: () => Promise<RelayEnvelope>;
}

export interface OutboxOptions {
  bus: RelayBus;
  maxMessages: number;
  maxBytes: number;
  retryInitialMs: number;
  retryMaxMs: number;
  logger: Logger;
  /** The outbox went from healthy to failing (true) or back (false). */
  onDegraded: (degraded: boolean) => void;
  onDropped: () => void;
  onSent: () => void;
}

interface Entry extends OutboxItem {
  envelope?: RelayEnvelope;
  inFlight: boolean;
}

/** Most envelopes handed to the bus in one attempt: enough for its batching, few enough to retry in order. */
const sendWindow = 256;

export class Outbox {
  private readonly options: OutboxOptions;
  private readonly entries: Entry[] = [];
  private bytes = 0;
  private running = false;
  private failures = 0;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private degraded = false;

  constructor(options: OutboxOptions) {
    this.options = options;
  }

  get size(): number {
    return this.entries.length;
  }

  get sizeBytes(): number {
    return this.bytes;
  }

  get isDegraded(): boolean {
    return this.degraded;
  }

  push(item: OutboxItem): void {
    if (this.closed) return;
    this.entries.push({ ...item, inFlight: false });
    this.bytes += item.bytes;
    while (this.entries.length > this.options.maxMessages || this.bytes > this.options.maxBytes) {
      const index = this.entries.findIndex((e) => !e.inFlight);
      if (index < 0 || index === this.entries.length - 1) break; // never drop what was just pushed
      const [dropped] = this.entries.splice(index, 1);
      this.bytes -= dropped.bytes;
      this.options.onDropped();
    }
    this.kick();
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
  }

  private kick(): void {
    if (this.running || this.timer || this.closed) return;
    this.running = true;
    void this.run().finally(() => (this.running = false));
  }

  private async run(): Promise<void> {
    while (!this.closed && this.entries.length > 0) {
      const window = this.entries.slice(0, sendWindow);
      for (const entry of window) entry.inFlight = true;
      for (const entry of window) entry.envelope ??= await entry.build();
      const results = await Promise.allSettled(window.map((entry) => this.options.bus.publish(entry.envelope!, entry.key)));
      let failed = 0;
      results.forEach((result, i) => {
        const entry = window[i];
        entry.inFlight = false;
        if (result.status === 'rejected') {
          failed += 1;
          return;
        }
        const index = this.entries.indexOf(entry);
        if (index >= 0) {
          this.entries.splice(index, 1);
          this.bytes -= entry.bytes;
        }
        this.options.onSent();
      });
      if (failed === 0) {
        this.failures = 0;
        this.setDegraded(false);
        continue;
      }
      this.failures += 1;
      this.setDegraded(true);
      const delay = Math.min(this.options.retryMaxMs, this.options.retryInitialMs * 2 ** Math.min(this.failures - 1, 20));
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.kick();
      }, delay);
      this.timer.unref();
      return;
    }
  }

  private setDegraded(degraded: boolean): void {
    if (degraded === this.degraded) return;
    this.degraded = degraded;
    if (degraded) this.options.logger.warn({ relay: 'outbox', queued: this.entries.length }, 'relay bus refuses messages; keeping them in the outbox and retrying with backoff');
    else this.options.logger.info({ relay: 'outbox', queued: this.entries.length }, 'relay bus takes messages again; outbox draining');
    this.options.onDegraded(degraded);
  }
}
