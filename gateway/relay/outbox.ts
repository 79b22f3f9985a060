/**
 * The bounded outbox between a region and the bus: everything the relay sends waits here until
 * the bus took it, so local delivery never waits for the bus and an outage loses nothing the
 * outbox can hold.
 *
 * - Pipelined per ordering key (the room): an envelope is handed to the bus as soon as it is
 *   queued, while earlier ones are still in flight, up to `maxInFlight` unacknowledged
 *   envelopes per pod. Order on the bus rests on the bus's ordering key: one publisher's
 *   envelopes of one key arrive in the order they were handed over, and after a refusal the bus
 *   refuses every later envelope of that key until it is resumed (Pub/Sub's ordered publishing
 *   does exactly that). So what one key got accepted is always a prefix of what was handed over.
 * - A refusal stops only its key (its lane): nothing more of that key is handed over until every
 *   publish of it in flight has settled and a backoff passed, doubling from `retryInitialMs` up
 *   to `retryMaxMs` per failed attempt. Then the key is resumed on the bus and the oldest
 *   unacknowledged envelope goes alone, as a probe; once it is accepted, the rest follows in
 *   order. Other keys keep flowing meanwhile.
 * - `window` mode (the gateway's default, docs/relay.md says why): up to `maxInFlight`
 *   envelopes go out together and the next ones wait until all of those settled; lanes, order
 *   and refusals work the same.
 * - Bounded by `maxMessages` and `maxBytes`, in flight included: when full, the oldest envelope
 *   not in flight is dropped and counted. A dropped message is still in its origin's history,
 *   so the receivers repair it from there (the next message's `prev` or the periodic digest
 *   reveals it) as long as that history keeps it.
 * - An envelope is built lazily (`build`), once, just before its first attempt: a message's
 *   `prev` may need a history read, which must not delay the local publish. A key's envelopes
 *   are built one at a time, in order.
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

export type OutboxMode = 'pipelined' | 'window';

export interface OutboxOptions {
  bus: RelayBus;
  mode: OutboxMode;
  maxMessages: number;
  maxBytes: number;
  /** Most envelopes handed to the bus and not yet settled. */
  maxInFlight: number;
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
  /** Sent or dropped: no longer in the outbox. */
  gone: boolean;
}

/** One ordering key's envelopes, oldest first; those in flight are a prefix while the lane is healthy. */
interface Lane {
  readonly key: string | undefined;
  readonly entries: Entry[];
  /** Entries at the head that are in flight (meaningful while not `failed`). */
  sent: number;
  inFlight: number;
  building: boolean;
  /** A publish was refused: nothing more goes out until the lane's publishes settled and the backoff passed. */
  failed: boolean;
  /** After the backoff, the head goes alone; the rest waits for its answer. */
  probing: boolean;
  /** Failed attempts in a row (the backoff's exponent). */
  failures: number;
  retryTimer?: NodeJS.Timeout;
}

export class Outbox {
  private readonly options: OutboxOptions;
  private readonly lanes = new Map<string | undefined, Lane>();
  /** Lanes that may have something to send, served in turn. */
  private readonly ready = new Set<Lane>();
  /** Every entry in push order, for the drop policy; gone entries are skipped and compacted away. */
  private order: Entry[] = [];
  private orderHead = 0;
  private count = 0;
  private bytes = 0;
  private inFlight = 0;
  /** Lanes with at least one failed attempt not yet followed by an accepted one. */
  private failingLanes = 0;
  private closed = false;
  private degraded = false;

  constructor(options: OutboxOptions) {
    this.options = options;
  }

  get size(): number {
    return this.count;
  }

  get sizeBytes(): number {
    return this.bytes;
  }

  get isDegraded(): boolean {
    return this.degraded;
  }

  push(item: OutboxItem): void {
    if (this.closed) return;
    const entry: Entry = { ...item, inFlight: false, gone: false };
    let lane = this.lanes.get(item.key);
    if (!lane) {
      lane = { key: item.key, entries: [], sent: 0, inFlight: 0, building: false, failed: false, probing: false, failures: 0 };
      this.lanes.set(item.key, lane);
    }
    lane.entries.push(entry);
    this.order.push(entry);
    this.count += 1;
    this.bytes += item.bytes;
    while (this.count > this.options.maxMessages || this.bytes > this.options.maxBytes) {
      if (!this.dropOldest(entry)) break;
    }
    this.ready.add(lane);
    this.pump();
  }

  close(): void {
    this.closed = true;
    for (const lane of this.lanes.values()) clearTimeout(lane.retryTimer);
  }

  /** Hands over what the lanes may send, in turn, until the in-flight bound is reached. */
  private pump(): void {
    if (this.closed) return;
    if (this.options.mode === 'window' && this.inFlight > 0) return;
    for (const lane of this.ready) {
      if (this.inFlight >= this.options.maxInFlight) return;
      this.pumpLane(lane);
      // Still something to send means the in-flight bound stopped it: it stays in turn.
      if (!this.sendable(lane) || lane.building) this.ready.delete(lane);
    }
  }

  private sendable(lane: Lane): boolean {
    if (lane.failed || (lane.probing && lane.inFlight > 0)) return false;
    return lane.sent < lane.entries.length;
  }

  private pumpLane(lane: Lane): void {
    while (this.sendable(lane) && !lane.building && this.inFlight < this.options.maxInFlight) {
      const entry = lane.entries[lane.sent];
      if (!entry.envelope) {
        this.build(lane, entry);
        return;
      }
      entry.inFlight = true;
      lane.sent += 1;
      lane.inFlight += 1;
      this.inFlight += 1;
      this.options.bus.publish(entry.envelope, lane.key).then(
        () => this.accepted(lane, entry),
        () => this.refused(lane, entry),
      );
    }
  }

  private build(lane: Lane, entry: Entry): void {
    lane.building = true;
    entry.build().then(
      (envelope) => {
        lane.building = false;
        entry.envelope = envelope;
        if (entry.gone) this.forgetIfIdle(lane);
        this.ready.add(lane);
        this.pump();
      },
      (error: unknown) => {
        lane.building = false;
        this.options.logger.warn({ relay: 'outbox', err: error }, 'building a relay envelope failed; trying again after a backoff');
        this.fail(lane);
        if (lane.inFlight === 0) this.scheduleRetry(lane);
      },
    );
  }

  private accepted(lane: Lane, entry: Entry): void {
    entry.inFlight = false;
    lane.inFlight -= 1;
    this.inFlight -= 1;
    const index = lane.entries.indexOf(entry);
    if (index >= 0) {
      lane.entries.splice(index, 1);
      if (index < lane.sent) lane.sent -= 1;
      this.remove(entry);
    }
    this.options.onSent();
    if (lane.probing || (!lane.failed && lane.failures > 0)) {
      lane.probing = false;
      this.recovered(lane);
    }
    if (lane.failed && lane.inFlight === 0) this.scheduleRetry(lane);
    if (this.sendable(lane)) this.ready.add(lane);
    this.forgetIfIdle(lane);
    this.pump();
  }

  private refused(lane: Lane, entry: Entry): void {
    entry.inFlight = false;
    lane.inFlight -= 1;
    this.inFlight -= 1;
    // Every later envelope of the key in flight is refused too (the bus paused the key): they all
    // settle before the retry, which starts again at the lane's oldest entry.
    this.fail(lane);
    if (lane.inFlight === 0) this.scheduleRetry(lane);
    this.pump();
  }

  /** Marks the lane failed (once per attempt) and the outbox degraded. */
  private fail(lane: Lane): void {
    if (lane.failed) return;
    lane.failed = true;
    lane.probing = false;
    if (lane.failures === 0) this.failingLanes += 1;
    lane.failures += 1;
    this.ready.delete(lane);
    this.setDegraded(true);
  }

  private recovered(lane: Lane): void {
    if (lane.failures === 0) return;
    lane.failures = 0;
    this.failingLanes -= 1;
    this.setDegraded(this.failingLanes > 0);
  }

  private scheduleRetry(lane: Lane): void {
    if (lane.retryTimer || this.closed) return;
    const { retryInitialMs, retryMaxMs } = this.options;
    const delay = Math.min(retryMaxMs, retryInitialMs * 2 ** Math.min(lane.failures - 1, 20));
    lane.retryTimer = setTimeout(() => {
      lane.retryTimer = undefined;
      if (this.closed) return;
      // The bus refuses the key until told otherwise; nothing of it is in flight now.
      if (lane.key !== undefined) this.options.bus.resume(lane.key);
      lane.failed = false;
      lane.sent = 0;
      if (lane.entries.length === 0) {
        this.recovered(lane);
        this.forgetIfIdle(lane);
        return;
      }
      lane.probing = true;
      this.ready.add(lane);
      this.pump();
    }, delay);
    lane.retryTimer.unref();
  }

  /** Drops the oldest entry not in flight (never `keep`, the one just pushed); false when there is none. */
  private dropOldest(keep: Entry): boolean {
    while (this.orderHead < this.order.length && this.order[this.orderHead].gone) this.orderHead += 1;
    for (let i = this.orderHead; i < this.order.length; i += 1) {
      const entry = this.order[i];
      if (entry.gone || entry.inFlight) continue;
      if (entry === keep) return false;
      const lane = this.lanes.get(entry.key)!;
      const index = lane.entries.indexOf(entry);
      lane.entries.splice(index, 1);
      if (index < lane.sent) lane.sent -= 1;
      this.remove(entry);
      this.options.onDropped();
      this.forgetIfIdle(lane);
      return true;
    }
    return false;
  }

  private remove(entry: Entry): void {
    entry.gone = true;
    this.count -= 1;
    this.bytes -= entry.bytes;
    // Gone entries stay in `order` until compacted: keep it within twice the live entries.
    const length = this.order.length - this.orderHead;
    if (length > 64 && length > 2 * this.count) {
      this.order = this.order.slice(this.orderHead).filter((e) => !e.gone);
      this.orderHead = 0;
    }
  }

  private forgetIfIdle(lane: Lane): void {
    if (lane.entries.length > 0 || lane.inFlight > 0 || lane.building || lane.failed || lane.probing || lane.failures > 0 || lane.retryTimer) return;
    this.lanes.delete(lane.key);
    this.ready.delete(lane);
  }

  private setDegraded(degraded: boolean): void {
    if (degraded === this.degraded) return;
    this.degraded = degraded;
    if (degraded) this.options.logger.warn({ relay: 'outbox', queued: this.count }, 'relay bus refuses messages; keeping them in the outbox and retrying with backoff');
    else this.options.logger.info({ relay: 'outbox', queued: this.count }, 'relay bus takes messages again; outbox draining');
    this.options.onDegraded(degraded);
  }
}
