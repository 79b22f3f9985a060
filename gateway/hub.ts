/**
 * Local fan-out: room → the connections of this node subscribed to it.
 *
 * - Each publication is encoded and framed once, and the same bytes go to every subscriber.
 * - Per room the hub tracks the last delivered (epoch, offset). A publication that skips
 *   offsets (the broker is at most once) is preceded by the missing ones read from history;
 *   when history no longer has them, the room's subscribers are closed with 4010 so they
 *   resubscribe with recover. Publications at or below the position are duplicates, dropped.
 * - `subscribe` with recover buffers live publications while it reads history and merges both
 *   by offset, so the client sees every offset once, in order.
 * - `resynced` (the engine's feed was interrupted) checks each room against history the same way.
 * Rooms are processed independently; within a room strictly in order.
 */
import type { Logger } from 'pino';
import type { Connection } from './connection.ts';
import type { Engine, Publication, RoomEvent } from './engine/types.ts';
import type { GatewayMetrics } from './metrics.ts';
import type { RecoverPosition } from './protocol.ts';
import { RoomFeed } from './room-feed.ts';
import { encodeFrame } from './ws-frame.ts';

export interface HubOptions {
  engine: Engine;
  metrics: GatewayMetrics;
  logger: Logger;
  /** Most publications read from history for one recovery or one gap repair. */
  maxRecover: number;
  now: () => number;
}

export interface SubscribeResult {
  epoch: string;
  offset: number;
  recovered?: boolean;
  messages: Publication[];
}

type Work = { kind: 'publication'; pub: Publication } | { kind: 'check' };

interface Room {
  readonly name: string;
  readonly subscribers: Set<Connection>;
  /** Connections whose subscribe is reading history: live publications are buffered for them. */
  readonly syncing: Map<Connection, Publication[]>;
  /** Last delivered position; unknown until the first publication or subscribe reply. */
  epoch?: string;
  offset: number;
  readonly queue: Work[];
  processing: boolean;
}

/** The message pushed to subscribers (and listed in subscribe/history replies without `op`). */
export function publicationView(pub: Publication): Record<string, unknown> {
  return { room: pub.room, epoch: pub.epoch, offset: pub.offset, mid: pub.mid, data: pub.data, from: pub.from, region: pub.region, ts: pub.ts };
}

export class Hub {
  private readonly rooms = new Map<string, Room>();
  private readonly options: HubOptions;
  private readonly feed: RoomFeed;
  private readonly logger: Logger;

  constructor(options: HubOptions) {
    this.options = options;
    this.logger = options.logger;
    this.feed = new RoomFeed(options.engine.broker, (error, rooms) =>
      this.logger.warn({ err: error, rooms: rooms.length }, 'broker unsubscribe failed; deliveries for those rooms are ignored'),
    );
  }

  get roomCount(): number {
    return this.rooms.size;
  }

  localSubscribers(room: string): number {
    return this.rooms.get(room)?.subscribers.size ?? 0;
  }

  // ---- engine handlers -------------------------------------------------------------------

  onPublication(pub: Publication): void {
    const room = this.rooms.get(pub.room);
    if (!room) return; // no local member any more (unsubscribe raced the delivery)
    room.queue.push({ kind: 'publication', pub });
    this.process(room);
  }

  onRoomEvent(roomName: string, event: RoomEvent): void {
    const room = this.rooms.get(roomName);
    if (!room || room.subscribers.size === 0) return;
    const shared = encodeFrame({ op: event.type, room: roomName, member: event.member });
    for (const conn of room.subscribers) conn.sendShared(shared);
  }

  onResynced(roomNames: readonly string[]): void {
    for (const name of roomNames) {
      const room = this.rooms.get(name);
      if (!room) continue;
      room.queue.push({ kind: 'check' });
      this.process(room);
    }
  }

  // ---- subscriptions ---------------------------------------------------------------------

  /**
   * Subscribes `conn` to the room. `ready` runs synchronously at the moment the connection
   * joins live delivery, so a reply sent from it precedes every live message.
   */
  async subscribe(conn: Connection, roomName: string, recover: RecoverPosition | undefined, ready: (result: SubscribeResult) => void): Promise<void> {
    const room = this.room(roomName);
    const buffered: Publication[] = [];
    room.syncing.set(conn, buffered);
    try {
      await this.feed.want(roomName);
      const { history } = this.options.engine;
      let recovered: boolean | undefined;
      let epoch: string;
      let offset: number;
      let messages: Publication[] = [];
      if (recover) {
        const page = await history.read(roomName, { since: recover.offset, limit: this.options.maxRecover });
        ({ epoch, offset } = page);
        recovered = page.epoch === recover.epoch && isComplete(recover.offset, page.offset, page.publications);
        if (recovered) messages = page.publications;
      } else {
        ({ epoch, offset } = await history.position(roomName));
      }
      // Live publications that arrived while history was read: keep those after `offset`.
      for (const pub of buffered) {
        if (pub.epoch !== epoch || pub.offset > offset) {
          messages.push(pub);
          ({ epoch, offset } = pub);
        }
      }
      if (!conn.isOpen) throw new Error('connection closed during subscribe');
      room.syncing.delete(conn);
      if (room.epoch === undefined) {
        room.epoch = epoch;
        room.offset = offset;
      }
      ready({ epoch, offset, recovered, messages });
      room.subscribers.add(conn);
    } catch (error) {
      room.syncing.delete(conn);
      this.releaseIfEmpty(room);
      throw error;
    }
  }

  /** Removes the connection from the room; false when it was not a member. */
  unsubscribe(conn: Connection, roomName: string): boolean {
    const room = this.rooms.get(roomName);
    if (!room) return false;
    const was = room.subscribers.delete(conn) || room.syncing.delete(conn);
    this.releaseIfEmpty(room);
    return was;
  }

  private room(name: string): Room {
    let room = this.rooms.get(name);
    if (!room) {
      room = { name, subscribers: new Set(), syncing: new Map(), offset: 0, queue: [], processing: false };
      this.rooms.set(name, room);
      this.options.metrics.rooms.set(this.rooms.size);
    }
    return room;
  }

  private releaseIfEmpty(room: Room): void {
    if (room.subscribers.size > 0 || room.syncing.size > 0) return;
    if (this.rooms.get(room.name) !== room) return;
    this.rooms.delete(room.name);
    this.feed.unwant(room.name);
    this.options.metrics.rooms.set(this.rooms.size);
  }

  // ---- ordered delivery ------------------------------------------------------------------

  /** Drains the room's queue in order; runs synchronously unless a history read is needed. */
  private process(room: Room): void {
    if (room.processing) return;
    while (room.queue.length > 0) {
      const work = room.queue[0];
      const needsHistory = work.kind === 'check' || this.hasGap(room, work.pub);
      if (needsHistory) {
        room.processing = true;
        this.repair(room, work)
          .catch((error: unknown) => {
            this.logger.error({ err: error, room: room.name }, 'gap repair failed');
            this.lose(room);
          })
          .finally(() => {
            room.queue.shift();
            room.processing = false;
            this.process(room);
          });
        return;
      }
      room.queue.shift();
      if (work.kind !== 'publication') continue;
      try {
        this.deliverIfNew(room, work.pub);
      } catch (error) {
        // A fault here must not stop the engine's delivery loop for other rooms.
        this.logger.error({ err: error, room: room.name, offset: work.pub.offset }, 'delivery failed');
      }
    }
  }

  private hasGap(room: Room, pub: Publication): boolean {
    return room.epoch !== undefined && pub.epoch === room.epoch && pub.offset > room.offset + 1;
  }

  private deliverIfNew(room: Room, pub: Publication): void {
    if (room.epoch === pub.epoch && pub.offset <= room.offset) return; // duplicate
    this.deliver(room, pub);
  }

  /** Fills a gap (or checks a room after a resync) from history, then delivers `work`. */
  private async repair(room: Room, work: Work): Promise<void> {
    const since = room.offset;
    const epoch = room.epoch;
    const until = work.kind === 'publication' ? work.pub.offset - 1 : Number.MAX_SAFE_INTEGER;
    if (epoch === undefined) {
      if (work.kind === 'publication') this.deliver(room, work.pub);
      return;
    }
    const limit = Math.min(this.options.maxRecover, until - since);
    const page = await this.options.engine.history.read(room.name, { since, limit });
    const missing = page.publications.filter((p) => p.offset <= until);
    const top = work.kind === 'publication' ? until : page.offset;
    const complete = page.epoch === epoch && (top <= since || isComplete(since, top, missing));
    if (!complete) {
      this.options.metrics.gapRepairs.inc({ outcome: 'lost' });
      this.lose(room);
    } else if (missing.length > 0) {
      this.options.metrics.gapRepairs.inc({ outcome: 'repaired' });
      for (const pub of missing) this.deliverIfNew(room, pub);
    }
    if (page.epoch !== epoch && work.kind === 'check') {
      room.epoch = page.epoch;
      room.offset = page.offset;
    }
    if (work.kind === 'publication') this.deliverIfNew(room, work.pub);
  }

  /** Messages were lost for good: the room's subscribers must resubscribe with recover. */
  private lose(room: Room): void {
    for (const conn of [...room.subscribers, ...room.syncing.keys()]) {
      conn.close('INSUFFICIENT_STATE', `messages lost in ${room.name}`);
    }
    room.epoch = undefined;
  }

  private deliver(room: Room, pub: Publication): void {
    room.epoch = pub.epoch;
    room.offset = pub.offset;
    for (const buffer of room.syncing.values()) buffer.push(pub);
    if (room.subscribers.size === 0) return;
    const shared = encodeFrame({ op: 'message', ...publicationView(pub) });
    for (const conn of room.subscribers) conn.sendShared(shared);
    this.options.metrics.publishDeliverLatency.observe(Math.max(0, this.options.now() - pub.ts) / 1000);
  }
}

/** True when `publications` hold every offset in (since, top], oldest first. */
function isComplete(since: number, top: number, publications: readonly Publication[]): boolean {
  if (since > top) return false;
  if (since === top) return true;
  return publications.length === top - since && publications[0].offset === since + 1 && publications.at(-1)!.offset === top;
}
