/**
 * The in-memory relay bus: the test double for relay scenarios in one process. A
 * `MemoryBusNetwork` plays the topic; each `MemoryBus` is one pod's client, and the pods of a
 * region share their region's subscription (each envelope goes to one of them, chosen by its
 * ordering key, as Pub/Sub keeps a key on one subscriber stream; envelopes without a key, such
 * as heartbeats, go to the region's pods in turn, as Pub/Sub spreads them over the streams).
 *
 * It keeps the guarantees of types.ts and can break them on purpose, the way a real bus does:
 * `available = false` refuses publishes, `refuse` refuses chosen envelopes, `drop` loses chosen
 * envelopes for every region, `repeat` delivers chosen envelopes twice. Deliveries are
 * asynchronous and in publish order per region; a nacked envelope comes back after
 * `redeliveryMs`. A publish settles `publishLatencyMs` after it was handed over, so several are
 * in flight at once, as with Pub/Sub.
 *
 * Like Pub/Sub's ordered publishing, a pod's bus refuses every envelope of an ordering key after
 * one of that key was refused (those handed over before the refusal settled too) until
 * `resume(key)`: a sender that resends out of order, or forgets to resume, fails here as it
 * would against Pub/Sub.
 */
import { decodeEnvelope, encodeEnvelope, isMalformed, type RelayEnvelope } from './envelope.ts';
import type { BusDelivery, BusHealth, RelayBus } from './types.ts';

interface Queued {
  envelope: RelayEnvelope;
  key: string | undefined;
  bytes: number;
}

export class MemoryBusNetwork {
  /** False: every publish rejects, as an unreachable bus would. */
  available = true;
  /** Envelopes for which this returns true are lost for every region. */
  drop: ((envelope: RelayEnvelope) => boolean) | undefined;
  /** Envelopes for which this returns true are delivered twice. */
  repeat: ((envelope: RelayEnvelope) => boolean) | undefined;
  /** Envelopes for which this returns true are refused, as a failed publish would be. */
  refuse: ((envelope: RelayEnvelope) => boolean) | undefined;
  readonly redeliveryMs: number;
  readonly publishLatencyMs: number;
  private readonly subscribers = new Map<string, MemoryBus[]>();
  private readonly queues = new Map<string, Queued[]>();
  private readonly scheduled = new Set<string>();
  /** Per region: the next pod for an envelope without ordering key. */
  private readonly turns = new Map<string, number>();

  constructor(options: { redeliveryMs?: number; publishLatencyMs?: number } = {}) {
    this.redeliveryMs = options.redeliveryMs ?? 20;
    this.publishLatencyMs = options.publishLatencyMs ?? 0;
  }

  attach(bus: MemoryBus): void {
    const list = this.subscribers.get(bus.region) ?? [];
    list.push(bus);
    this.subscribers.set(bus.region, list);
  }

  detach(bus: MemoryBus): void {
    const list = (this.subscribers.get(bus.region) ?? []).filter((b) => b !== bus);
    if (list.length > 0) this.subscribers.set(bus.region, list);
    else this.subscribers.delete(bus.region);
  }

  /** Encodes and decodes like the real bus, so a double never accepts what Pub/Sub would not carry. */
  publish(envelope: RelayEnvelope, key: string | undefined): void {
    if (!this.available) throw new Error('memory bus unavailable');
    if (this.refuse?.(envelope)) throw new Error('memory bus refused the envelope');
    const encoded = encodeEnvelope(envelope);
    if (this.drop?.(envelope)) return;
    const decoded = decodeEnvelope(encoded.data);
    if (isMalformed(decoded)) throw new Error(`memory bus: ${decoded.malformed}`);
    const copies = this.repeat?.(envelope) ? 2 : 1;
    for (const region of this.subscribers.keys()) {
      for (let i = 0; i < copies; i += 1) this.enqueue(region, { envelope: decoded, key, bytes: encoded.data.length });
    }
  }

  private enqueue(region: string, item: Queued): void {
    const queue = this.queues.get(region) ?? [];
    queue.push(item);
    this.queues.set(region, queue);
    if (this.scheduled.has(region)) return;
    this.scheduled.add(region);
    setImmediate(() => this.flush(region));
  }

  /** A key stays on one pod (as Pub/Sub keeps it on one stream); envelopes without one go round the pods. */
  private pick(region: string, key: string | undefined): number {
    if (key !== undefined) return keyHash(key);
    const turn = this.turns.get(region) ?? 0;
    this.turns.set(region, turn + 1);
    return turn;
  }

  private flush(region: string): void {
    this.scheduled.delete(region);
    const queue = this.queues.get(region) ?? [];
    this.queues.delete(region);
    for (const item of queue) {
      const buses = this.subscribers.get(region);
      if (!buses || buses.length === 0) return; // nobody subscribed: lost, as with Pub/Sub
      const bus = buses[this.pick(region, item.key) % buses.length];
      let settled = false;
      const delivery: BusDelivery = {
        envelope: item.envelope,
        bytes: item.bytes,
        ack: () => {
          settled = true;
        },
        nack: () => {
          if (settled) return;
          settled = true;
          setTimeout(() => this.enqueue(region, item), this.redeliveryMs).unref();
        },
      };
      bus.receive(delivery);
    }
  }
}

function keyHash(key: string | undefined): number {
  let hash = 0;
  for (const char of key ?? '') hash = (hash * 31 + char.charCodeAt(0)) >>> 0;
  return hash;
}

export class MemoryBus implements RelayBus {
  readonly region: string;
  private readonly network: MemoryBusNetwork;
  private handler: ((delivery: BusDelivery) => void) | undefined;
  private lastError: string | undefined;
  /** Keys refused since their last `resume`. */
  private readonly pausedKeys = new Set<string>();

  constructor(network: MemoryBusNetwork, region: string) {
    this.network = network;
    this.region = region;
  }

  async start(receive: (delivery: BusDelivery) => void): Promise<void> {
    this.handler = receive;
    this.network.attach(this);
  }

  receive(delivery: BusDelivery): void {
    this.handler?.(delivery);
  }

  async publish(envelope: RelayEnvelope, orderingKey: string | undefined): Promise<void> {
    let failure: Error | undefined;
    try {
      if (orderingKey !== undefined && this.pausedKeys.has(orderingKey)) throw new Error(`memory bus: ordering key paused after a failed publish`);
      this.network.publish(envelope, orderingKey);
      this.lastError = undefined;
    } catch (error) {
      failure = error as Error;
      this.lastError = failure.message;
      if (orderingKey !== undefined) this.pausedKeys.add(orderingKey);
    }
    const latency = this.network.publishLatencyMs;
    if (latency > 0) await new Promise((resolve) => setTimeout(resolve, latency).unref());
    if (failure) throw failure;
  }

  resume(orderingKey: string): void {
    this.pausedKeys.delete(orderingKey);
  }

  health(): BusHealth {
    return { publishing: this.lastError === undefined, receiving: this.handler !== undefined, lastError: this.lastError };
  }

  async close(): Promise<void> {
    this.network.detach(this);
    this.handler = undefined;
  }
}
