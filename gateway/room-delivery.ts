/**
 * One room's local delivery, in order: the room's state (who is subscribed, at which position,
 * what waits in its queue) and the synchronous step that hands one publication to every local
 * subscriber. The hub (hub.ts) owns membership and decides *when* to deliver (after a gap
 * repair, a check or a catch-up); this file decides *how*: each publication is encoded and
 * framed once and the same bytes go to every subscriber, duplicates are dropped by offset, and
 * a publication this pod stored ahead of the room's position waits until the room reaches it.
 */
import type { Connection } from './connection.ts';
import type { Publication, StreamPosition } from './engine/types.ts';
import type { GatewayMetrics } from './metrics.ts';
import { publicationView } from './operations.ts';
import { encodeFrame, type SharedFrame } from './ws-frame.ts';

export type Work =
  | { kind: 'publication'; pub: Publication }
  | { kind: 'stored'; pub: Publication }
  | { kind: 'check'; periodic?: boolean }
  | { kind: 'catchup'; conn: Connection; from: StreamPosition };

export interface Room {
  readonly name: string;
  readonly subscribers: Set<Connection>;
  /** Connections whose subscribe is reading history: live publications are buffered for them. */
  readonly syncing: Map<Connection, Publication[]>;
  /** Subscribed at a position past the last live delivery: live publications up to it are skipped. */
  readonly ahead: Map<Connection, StreamPosition>;
  /** Subscribed at a position behind the last live delivery: catching up from history. */
  readonly catchingUp: Set<Connection>;
  /** Last delivered position; unknown until the first publication or subscribe reply. */
  epoch?: string;
  offset: number;
  /** Stored here, not yet the room's next offset: by offset, until the room reaches or passes them. */
  readonly storedAhead: Map<number, Publication>;
  readonly queue: Work[];
  processing: boolean;
}

export function newRoom(name: string): Room {
  return { name, subscribers: new Set(), syncing: new Map(), ahead: new Map(), catchingUp: new Set(), offset: 0, storedAhead: new Map(), queue: [], processing: false };
}

/** Every connection that holds the room, whatever its state. */
export function roomMembers(room: Room): Connection[] {
  return [...room.subscribers, ...room.syncing.keys(), ...room.ahead.keys(), ...room.catchingUp];
}

export interface RoomDeliveryOptions {
  metrics: GatewayMetrics;
  /** Most publications kept per room in `storedAhead` (history.maxRecover). */
  maxStoredAhead: number;
  now: () => number;
}

export class RoomDelivery {
  readonly #options: RoomDeliveryOptions;

  constructor(options: RoomDeliveryOptions) {
    this.#options = options;
  }

  /** Delivers a publication this pod stored if it is next; keeps it for later if it is ahead. */
  takeStored(room: Room, pub: Publication): void {
    if (room.epoch !== pub.epoch || pub.offset > room.offset + 1) {
      if (room.storedAhead.size < this.#options.maxStoredAhead) room.storedAhead.set(pub.offset, pub);
      // Not kept: its broadcast delivers it, as for any other pod's publication.
      return;
    }
    this.deliverIfNew(room, pub);
  }

  deliverIfNew(room: Room, pub: Publication): void {
    if (room.epoch === pub.epoch && pub.offset <= room.offset) return; // duplicate
    this.deliver(room, pub);
  }

  /** Delivers `pub`, then whatever this pod stored that follows it. */
  deliver(room: Room, pub: Publication): void {
    this.#send(room, pub);
    if (room.storedAhead.size === 0) return;
    let next = room.storedAhead.get(room.offset + 1);
    while (next !== undefined && next.epoch === room.epoch) {
      room.storedAhead.delete(next.offset);
      this.#send(room, next);
      next = room.storedAhead.get(room.offset + 1);
    }
    // Reached or passed by the broadcast (or of an epoch the room left): no longer needed.
    for (const [offset, kept] of room.storedAhead) if (offset <= room.offset || kept.epoch !== room.epoch) room.storedAhead.delete(offset);
  }

  #send(room: Room, pub: Publication): void {
    room.epoch = pub.epoch;
    room.offset = pub.offset;
    for (const buffer of room.syncing.values()) buffer.push(pub);
    let shared: SharedFrame | undefined;
    if (room.subscribers.size > 0) {
      shared = encodeFrame({ op: 'message', ...publicationView(pub) });
      for (const conn of room.subscribers) conn.sendShared(shared);
      this.#options.metrics.publishDeliverLatency.observe(Math.max(0, this.#options.now() - pub.ts) / 1000);
    }
    if (room.ahead.size > 0) advanceAhead(room, pub, shared);
  }
}

/** Subscribers ahead of live delivery get `pub` only past their own offset, then join the rest. */
function advanceAhead(room: Room, pub: Publication, shared: SharedFrame | undefined): void {
  for (const [conn, has] of room.ahead) {
    if (has.epoch === pub.epoch && pub.offset <= has.offset) {
      if (pub.offset < has.offset) continue;
    } else {
      shared ??= encodeFrame({ op: 'message', ...publicationView(pub) });
      conn.sendShared(shared);
    }
    room.ahead.delete(conn);
    room.subscribers.add(conn);
  }
}
