/**
 * The relay seam: how the regions of a cluster share rooms through one global bus.
 *
 * A `RelayBus` carries envelopes (envelope.ts) between regions. Two implementations:
 * `PubSubBus` (Google Cloud Pub/Sub: one topic per cluster, one subscription per region shared
 * by the region's pods) and `MemoryBus` (in-process, the test double; it can lose, repeat and
 * refuse messages on purpose).
 *
 * What a bus guarantees, and what the relay builds on top (docs/relay.md):
 * - At least once, and possibly never: a message can be delivered twice (redelivery after a
 *   nack or an expired ack deadline), and a bus that loses state (an emulator restart, a
 *   subscription deleted and recreated) loses what it held. The relay never relies on the bus
 *   for completeness: each region's history is the truth, and gaps are repaired from the origin.
 * - Order per publisher and ordering key only: envelopes one publisher sends with the same
 *   `orderingKey` (the room) arrive in that order. Two pods of one region publish through two
 *   publishers, so their envelopes can arrive in either order: the receiver restores the
 *   origin's order from the envelope's (epoch, offset, prev).
 * - Every pod of a region receives a share of the region's subscription, never a copy: any
 *   per-room state a receiving pod keeps is a cache, checked against the region's history.
 * - Own-region envelopes may arrive (a filter is an optimisation the emulator ignores); the
 *   receiver drops them.
 *
 * What the relay guarantees on top:
 * - Idempotent apply: a remote message is appended to the region's history through the
 *   engine's publish, which de-duplicates by `mid`; a receiving pod also skips an envelope at
 *   or below the room's applied origin offset. A message is stored once per region.
 * - Per-origin, per-room order: messages from one origin region to one room are appended in
 *   every region in the origin's offset order. Messages of different origins are not ordered
 *   with respect to each other (each region interleaves them in arrival order).
 * - Local delivery never waits for the bus: envelopes go out from a bounded outbox after the
 *   local publish succeeded.
 */
import type { RelayEnvelope } from './envelope.ts';

/** One envelope as received: acked once it was applied, nacked to have the bus deliver it again. */
export interface BusDelivery {
  readonly envelope: RelayEnvelope;
  /** Encoded size, for flow accounting and logs. */
  readonly bytes: number;
  ack(): void;
  nack(): void;
}

/** Why the bus is not fully working; undefined parts are fine. */
export interface BusHealth {
  /** Publishing to the topic works (as of the last attempt). */
  publishing: boolean;
  /** The region's subscription is open and delivering. */
  receiving: boolean;
  /** The last problem, readable, without message bodies. */
  lastError?: string;
}

export interface RelayBus {
  /**
   * Opens the region's subscription and starts calling `receive`. Never rejects for a bus that
   * is down or misconfigured: it reports that through `health()` and keeps trying.
   */
  start(receive: (delivery: BusDelivery) => void): Promise<void>;
  /**
   * Sends one envelope (ordered with others of the same `orderingKey` from this publisher).
   * Several may be in flight at once; those of one key are accepted in the order they were
   * handed over. Rejects when the bus refused it; the caller keeps it and tries again later.
   * After a refusal, every later envelope of the same key is refused too (including those
   * already in flight) until `resume(key)`: what one key got accepted is a prefix of what was
   * handed over, so nothing of a key can overtake a refused envelope.
   */
  publish(envelope: RelayEnvelope, orderingKey: string | undefined): Promise<void>;
  /** Accepts envelopes of `orderingKey` again after a refusal; called once nothing of the key is in flight. */
  resume(orderingKey: string): void;
  health(): BusHealth;
  close(): Promise<void>;
}
