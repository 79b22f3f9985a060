/**
 * Bookkeeping for one measured run in the load generator: which messages were published, how
 * many subscribers got each, in what order, and how long each delivery took. Every delivery
 * is counted; latency is recorded for every delivery (into a histogram, not an array).
 *
 * Bench payloads are JSON objects that start `{"bs":<seq>,"bt":<µs>,` so the frame is scanned
 * for those two integers without parsing the JSON around them (the same cost for every system).
 */
import { performance } from 'node:perf_hooks';
import { LatencyHistogram, type LatencySummary } from '../lib/stats.ts';
import { BENCH_FIELD } from '../clients/types.ts';

const TIME_FIELD = Buffer.from('"bt":');
const DIGIT_0 = 0x30;
const DIGIT_9 = 0x39;

export interface RunTarget {
  /** Index of the publisher connection that sends this target's messages. */
  publisher: number;
  room: string;
  /** Subscribers in the room: deliveries expected per message. */
  expected: number;
}

/** Per subscriber connection: the last sequence number it saw, to count reordering. */
export interface SubscriberState {
  lastSeq: number;
  /**
   * The publisher index whose server this subscriber is connected to, when the run knows it:
   * its deliveries are then also counted as local (published on the same server) or remote.
   */
  server?: number;
}

export interface DeliveryTotals {
  published: number;
  acked: number;
  expectedDeliveries: number;
  delivered: number;
  /** Deliveries beyond the expected count of a message. */
  duplicates: number;
  /** Messages that did not reach every subscriber. */
  incompleteMessages: number;
  /** Deliveries with a sequence number not above the subscriber's previous one. */
  outOfOrder: number;
  /** Deliveries whose sequence number this run never published. */
  stray: number;
  elapsedMs: number;
  deliveredPerSec: number;
  publishedPerSec: number;
  latency: LatencySummary;
  /**
   * Only for subscribers that know their server: deliveries of messages published on that same
   * server (`local`) and on another one (`remote`, through the broker), separately.
   */
  latencyBySide?: { local: LatencySummary; remote: LatencySummary };
}

export function nowMicros(): number {
  return Math.round(performance.now() * 1000);
}

/** Reads the unsigned integer that starts at `index`; -1 when there is none. */
function readUint(frame: Buffer, index: number): number {
  let value = -1;
  for (let i = index; i < frame.length; i++) {
    const c = frame[i];
    if (c < DIGIT_0 || c > DIGIT_9) break;
    value = (value < 0 ? 0 : value * 10) + (c - DIGIT_0);
  }
  return value;
}

export class DeliveryRun {
  readonly seqBase: number;
  readonly targets: readonly RunTarget[];
  private readonly counts: Uint32Array;
  private readonly latency = new LatencyHistogram();
  private readonly localLatency = new LatencyHistogram();
  private readonly remoteLatency = new LatencyHistogram();
  private readonly onComplete: () => void;
  published = 0;
  acked = 0;
  completed = 0;
  delivered = 0;
  duplicates = 0;
  outOfOrder = 0;
  stray = 0;
  firstPublishUs = 0;
  lastDeliveryUs = 0;
  lastProgressUs = 0;

  constructor(seqBase: number, capacity: number, targets: readonly RunTarget[], onComplete: () => void) {
    this.seqBase = seqBase;
    this.targets = targets;
    this.counts = new Uint32Array(capacity);
    this.onComplete = onComplete;
  }

  get capacity(): number {
    return this.counts.length;
  }

  /** The target of the next message, and its sequence number. */
  next(): { seq: number; target: RunTarget } {
    const index = this.published;
    return { seq: this.seqBase + index, target: this.targets[index % this.targets.length] };
  }

  markPublished(): void {
    const now = nowMicros();
    if (this.published === 0) this.firstPublishUs = now;
    this.published++;
    this.lastProgressUs = now;
  }

  /** `seqAt`: where the client found the sequence field (BENCH_FIELD) in the frame. */
  record(frame: Buffer, seqAt: number, subscriber: SubscriberState): void {
    const now = nowMicros();
    const seq = readUint(frame, seqAt + BENCH_FIELD.length);
    const index = seq - this.seqBase;
    if (seq < 0 || index < 0 || index >= this.published) {
      this.stray++;
      return;
    }
    if (seq <= subscriber.lastSeq) this.outOfOrder++;
    else subscriber.lastSeq = seq;
    const timeAt = frame.indexOf(TIME_FIELD, seqAt + BENCH_FIELD.length);
    if (timeAt >= 0) {
      const micros = now - readUint(frame, timeAt + TIME_FIELD.length);
      this.latency.record(micros);
      if (subscriber.server !== undefined) {
        const local = this.targets[index % this.targets.length].publisher === subscriber.server;
        (local ? this.localLatency : this.remoteLatency).record(micros);
      }
    }
    this.delivered++;
    this.lastDeliveryUs = now;
    this.lastProgressUs = now;
    const count = ++this.counts[index];
    const expected = this.targets[index % this.targets.length].expected;
    if (count === expected) {
      this.completed++;
      this.onComplete();
    } else if (count > expected) {
      this.duplicates++;
    }
  }

  totals(): DeliveryTotals {
    let expectedDeliveries = 0;
    for (let i = 0; i < this.published; i++) expectedDeliveries += this.targets[i % this.targets.length].expected;
    const elapsedMs = this.published > 0 ? Math.max(this.lastDeliveryUs - this.firstPublishUs, 1) / 1000 : 0;
    const bySide = this.localLatency.count + this.remoteLatency.count > 0 ? { latencyBySide: { local: this.localLatency.summary(), remote: this.remoteLatency.summary() } } : {};
    return {
      ...bySide,
      published: this.published,
      acked: this.acked,
      expectedDeliveries,
      delivered: this.delivered,
      duplicates: this.duplicates,
      incompleteMessages: this.published - this.completed,
      outOfOrder: this.outOfOrder,
      stray: this.stray,
      elapsedMs: Math.round(elapsedMs * 10) / 10,
      deliveredPerSec: elapsedMs > 0 ? Math.round((this.delivered / elapsedMs) * 1000) : 0,
      publishedPerSec: elapsedMs > 0 ? Math.round((this.published / elapsedMs) * 1000) : 0,
      latency: this.latency.summary(),
    };
  }
}

/** A payload of exactly `bytes` bytes (at least the fixed fields) carrying seq and publish time. */
export function benchPayload(seq: number, bytes: number): string {
  const head = `{"bs":${seq},"bt":${nowMicros()},"p":"`;
  const fill = Math.max(0, bytes - head.length - 2);
  return `${head}${'x'.repeat(fill)}"}`;
}
