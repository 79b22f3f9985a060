/**
 * Local fan-out, and the one owner of room membership: room → this node's connections in it,
 * with connection → its rooms kept as an index of the same membership.
 *
 * - Each publication is encoded and framed once, and the same bytes go to every subscriber.
 * - Per room the hub tracks the last delivered (epoch, offset). A publication that skips
 *   offsets (the broker is at most once) is preceded by the missing ones read from history;
 *   when history no longer has them, the room's subscribers are closed with 4010 so they
 *   resubscribe with recover. Publications at or below the position are duplicates, dropped.
 * - A history read that fails (Redis stalled or away: UNAVAILABLE) proves nothing lost: the
 *   room waits and reads again with backoff (`historyRetry`), and only when every attempt
 *   failed are its subscribers closed with 4010 (a failed periodic check is just skipped).
 *   So a backend that stalls for a second does not turn into a reconnect storm.
 * - `subscribe` with recover buffers live publications while it reads history (page by page
 *   past one page: recovery.ts) and merges both by offset, so the client sees every offset
 *   once, in order. History can be ahead of live
 *   delivery (a publication is stored before its broadcast reaches this node): such a
 *   subscriber skips live publications up to its own offset. One that is behind the room's last
 *   live delivery first catches up from history, in the room's order.
 * - `resynced` (the engine's feed was interrupted) checks each room against history the same way.
 * - A publication this pod stored (`onStored`) is delivered at once when it is the room's next
 *   offset, without waiting for the engine to broadcast it back; its broadcast is then a
 *   duplicate and dropped. Two publishes can be answered out of order, and another pod's
 *   publication can be on its way: one that is not next waits (at most `maxRecover` per room)
 *   until the room reaches it, or until its own broadcast, which takes the usual path with gap
 *   repair, passes it. So the broadcast stays the authority and the stored copy only a shortcut.
 * Rooms are processed independently; within a room strictly in order.
 */
import type { Logger } from 'pino';
import type { Connection } from './connection.ts';
import { EngineUnavailableError, type Engine, type Publication, type RoomEvent, type StreamPosition } from './engine/types.ts';
import { gatewayError } from './errors.ts';
import type { GatewayMetrics } from './metrics.ts';
import { publicationView } from './operations.ts';
import type { RecoverPosition } from './protocol.ts';
import { isComplete, sendRemainingPages, startRecovery, type RecoveryOptions, type RecoveryStart } from './recovery.ts';
import { newRoom, RoomDelivery, roomMembers, type Room, type Work } from './room-delivery.ts';
import { encodeFrame } from './ws-frame.ts';

/** How a failed gap-repair, check or catch-up read is tried again (history.repairRetries…). */
export interface HistoryRetry {
  /** Attempts after the first; then the room (or the catching-up connection) is given up with 4010. */
  retries: number;
  /** Wait before the first retry; it doubles per failed attempt. */
  initialMs: number;
  /** Longest wait between attempts. */
  maxMs: number;
}

export interface HubOptions {
  engine: Engine;
  metrics: GatewayMetrics;
  logger: Logger;
  /** Most publications read from history for one recovery or one gap repair. */
  maxRecover: number;
  /** Bytes of one recovery page (operations.ts historyPageBytes). */
  recoveryPageBytes: number;
  /** Most rooms one connection may hold (subscribing or subscribed). */
  roomsPerConnection: number;
  historyRetry: HistoryRetry;
  now: () => number;
}

export interface SubscribeResult {
  epoch: string;
  offset: number;
  recovered?: boolean;
  messages: Publication[];
  /** The recovery goes on past `messages`: the rest follows as message pushes. */
  more?: true;
}

/** Subscription state of one room on one connection. */
export type RoomState = 'subscribing' | 'subscribed';

export class Hub {
  private readonly rooms = new Map<string, Room>();
  /** The rooms each connection holds; a connection with none has no entry. */
  private readonly roomsByConnection = new Map<Connection, Set<Room>>();
  private readonly options: HubOptions;
  private readonly logger: Logger;
  private readonly recovery: RecoveryOptions;
  private readonly delivery: RoomDelivery;

  constructor(options: HubOptions) {
    this.options = options;
    this.logger = options.logger;
    this.recovery = { history: options.engine.history, maxRecover: options.maxRecover, pageBytes: options.recoveryPageBytes };
    this.delivery = new RoomDelivery({ metrics: options.metrics, maxStoredAhead: options.maxRecover, now: options.now });
  }

  get roomCount(): number {
    return this.rooms.size;
  }

  localSubscribers(roomName: string): number {
    const room = this.rooms.get(roomName);
    return room ? room.subscribers.size + room.ahead.size + room.catchingUp.size : 0;
  }

  // ---- engine handlers -------------------------------------------------------------------

  onPublication(pub: Publication): void {
    const room = this.rooms.get(pub.room);
    if (!room) return; // no local member any more (unsubscribe raced the delivery)
    room.queue.push({ kind: 'publication', pub });
    this.process(room);
  }

  /** A publication this pod stored: local subscribers need not wait for the engine's broadcast. */
  onStored(pub: Publication): void {
    const room = this.rooms.get(pub.room);
    if (!room) return;
    room.queue.push({ kind: 'stored', pub });
    this.process(room);
  }

  onRoomEvent(roomName: string, event: RoomEvent): void {
    const room = this.rooms.get(roomName);
    if (!room || this.localSubscribers(roomName) === 0) return;
    const shared = encodeFrame({ op: event.type, room: roomName, member: event.member });
    for (const conn of [...room.subscribers, ...room.ahead.keys(), ...room.catchingUp]) conn.sendShared(shared);
  }

  onResynced(roomNames: readonly string[]): void {
    for (const name of roomNames) {
      const room = this.rooms.get(name);
      if (!room) continue;
      room.queue.push({ kind: 'check' });
      this.process(room);
    }
  }

  /**
   * The periodic position check: every room is compared with its history, so a lost *last*
   * delivery (no later publication reveals the gap) is still delivered.
   */
  checkPositions(): void {
    for (const room of this.rooms.values()) {
      // A room still busy with an earlier check (retrying a read) needs no second one queued.
      if (room.queue.some((work) => work.kind === 'check')) continue;
      room.queue.push({ kind: 'check', periodic: true });
      this.process(room);
    }
  }

  // ---- membership ------------------------------------------------------------------------

  /** Whether `conn` holds the room, and how far its subscribe has come. */
  stateOf(conn: Connection, roomName: string): RoomState | undefined {
    const room = this.rooms.get(roomName);
    if (!room || !this.roomsByConnection.get(conn)?.has(room)) return undefined;
    return room.syncing.has(conn) ? 'subscribing' : 'subscribed';
  }

  /** The rooms `conn` is subscribed to (not those still subscribing). */
  *subscribedRooms(conn: Connection): Iterable<string> {
    for (const room of this.roomsByConnection.get(conn) ?? []) if (!room.syncing.has(conn)) yield room.name;
  }

  /** Removes `conn` from every room it holds (the socket closed); returns their names. */
  leaveAll(conn: Connection): string[] {
    const names = [...(this.roomsByConnection.get(conn) ?? [])].map((room) => room.name);
    for (const name of names) this.unsubscribe(conn, name);
    return names;
  }

  private hold(conn: Connection, room: Room): void {
    const held = this.roomsByConnection.get(conn);
    if (held) held.add(room);
    else this.roomsByConnection.set(conn, new Set([room]));
  }

  private release(conn: Connection, room: Room): void {
    const held = this.roomsByConnection.get(conn);
    if (!held?.delete(room)) return;
    if (held.size === 0) this.roomsByConnection.delete(conn);
  }

  // ---- subscriptions ---------------------------------------------------------------------

  /**
   * Subscribes `conn` to the room: ALREADY_SUBSCRIBED when it holds the room (or is
   * subscribing), LIMIT_EXCEEDED past `roomsPerConnection`. `ready` runs synchronously at the
   * moment the connection joins live delivery, so a reply sent from it precedes every live
   * message; a recovery longer than a page calls it with the first page and `more`, pushes the
   * rest, then joins. Rejects when the connection left the room (closed) before that.
   */
  async subscribe(conn: Connection, roomName: string, recover: RecoverPosition | undefined, ready: (result: SubscribeResult) => void): Promise<void> {
    if (this.stateOf(conn, roomName)) throw gatewayError('ALREADY_SUBSCRIBED', `already subscribed to ${roomName}`);
    const max = this.options.roomsPerConnection;
    if ((this.roomsByConnection.get(conn)?.size ?? 0) >= max) throw gatewayError('LIMIT_EXCEEDED', `at most ${max} rooms per connection`);
    const room = this.room(roomName);
    const buffered: Publication[] = [];
    room.syncing.set(conn, buffered);
    this.hold(conn, room);
    try {
      // The engine coalesces the subscribes of one tick (a reconnect storm) into few commands.
      await this.options.engine.broker.subscribe([roomName]);
      let recovered: boolean | undefined, epoch: string, offset: number, paged: RecoveryStart | undefined;
      let messages: Publication[] = [];
      // Closed, or left the room (the socket closed and leaveAll ran) while history was read.
      const holds = (): boolean => {
        if (buffered.length > this.options.maxRecover) conn.close('SLOW_CONSUMER', `too far behind in ${roomName} to recover`);
        return conn.isOpen && room.syncing.get(conn) === buffered;
      };
      if (recover) {
        const start = await startRecovery(this.recovery, roomName, recover);
        ({ epoch, offset, recovered } = start);
        messages = start.publications;
        if (start.offset < start.top && holds()) {
          // Larger than a page: the reply carries the first, pushes the rest (recovery.ts).
          paged = start;
          ready({ epoch, offset, recovered, messages, more: true });
          messages = [];
          offset = await sendRemainingPages(this.recovery, roomName, conn, start, holds);
        }
      } else {
        ({ epoch, offset } = await this.options.engine.history.position(roomName));
      }
      // Live publications that arrived while history was read: keep those after `offset`.
      for (const pub of buffered) {
        if (pub.epoch !== epoch || pub.offset > offset) {
          messages.push(pub);
          ({ epoch, offset } = pub);
        }
      }
      if (!holds()) throw new Error('connection closed during subscribe');
      room.syncing.delete(conn);
      if (!paged) ready({ epoch, offset, recovered, messages });
      else for (const pub of messages) conn.sendShared(encodeFrame({ op: 'message', ...publicationView(pub) }));
      this.join(room, conn, { epoch, offset });
    } catch (error) {
      if (room.syncing.get(conn) === buffered) this.unsubscribe(conn, roomName);
      else this.releaseIfEmpty(room);
      throw error;
    }
  }

  /** Removes the connection from the room; false when it was not a member. */
  unsubscribe(conn: Connection, roomName: string): boolean {
    const room = this.rooms.get(roomName);
    if (!room) return false;
    const was = room.subscribers.delete(conn) || room.syncing.delete(conn) || room.ahead.delete(conn) || room.catchingUp.delete(conn);
    this.release(conn, room);
    this.releaseIfEmpty(room);
    return was;
  }

  private room(name: string): Room {
    let room = this.rooms.get(name);
    if (!room) {
      room = newRoom(name);
      this.rooms.set(name, room);
      this.options.metrics.rooms.set(this.rooms.size);
    }
    return room;
  }

  private releaseIfEmpty(room: Room): void {
    if (room.subscribers.size > 0 || room.syncing.size > 0 || room.ahead.size > 0 || room.catchingUp.size > 0) return;
    if (this.rooms.get(room.name) !== room) return;
    this.rooms.delete(room.name);
    // A pending subscribe of the room is cancelled by this; deliveries that race it are ignored.
    this.options.engine.broker
      .unsubscribe([room.name])
      .catch((error: unknown) => this.logger.warn({ err: error, room: room.name }, 'broker unsubscribe failed; deliveries for the room are ignored'));
    this.options.metrics.rooms.set(this.rooms.size);
  }

  /** Adds a connection whose client now holds `position` to live delivery. */
  private join(room: Room, conn: Connection, position: StreamPosition): void {
    if (room.epoch === undefined) {
      room.epoch = position.epoch;
      room.offset = position.offset;
    }
    if (position.epoch !== room.epoch || position.offset === room.offset) {
      room.subscribers.add(conn);
    } else if (position.offset > room.offset) {
      room.ahead.set(conn, position);
    } else {
      room.catchingUp.add(conn);
      room.queue.push({ kind: 'catchup', conn, from: position });
      this.process(room);
    }
  }

  // ---- ordered delivery ------------------------------------------------------------------

  /** Drains the room's queue in order; runs synchronously unless a history read is needed. */
  private process(room: Room): void {
    if (room.processing) return;
    while (room.queue.length > 0) {
      const work = room.queue[0];
      if (work.kind === 'check' || work.kind === 'catchup' || (work.kind === 'publication' && this.hasGap(room, work.pub))) {
        room.processing = true;
        this.readHistory(room, work, 0);
        return;
      }
      room.queue.shift();
      try {
        if (work.kind === 'stored') this.delivery.takeStored(room, work.pub);
        else this.delivery.deliverIfNew(room, work.pub);
      } catch (error) {
        // A fault here must not stop the engine's delivery loop for other rooms.
        this.logger.error({ err: error, room: room.name, offset: work.pub.offset }, 'delivery failed');
      }
    }
  }

  /**
   * Runs the history read `work` needs. A read the engine could not serve (UNAVAILABLE: Redis
   * stalled, away, or answering late) says nothing about what history holds, so it is tried
   * again with backoff while the room's later work waits in its queue, in order. Given up only
   * when the retries are spent, the room was released, or more than `maxRecover` publications
   * queued up behind it. A failed periodic check is just skipped.
   */
  private readHistory(room: Room, work: Extract<Work, { kind: 'publication' | 'check' | 'catchup' }>, attempt: number): void {
    const task = work.kind === 'catchup' ? this.catchUp(room, work.conn, work.from) : this.repair(room, work);
    task.then(
      () => this.finish(room),
      (error: unknown) => {
        const { retries, initialMs, maxMs } = this.options.historyRetry;
        // A periodic check found nothing missing yet: skipped, not retried (it would hold the
        // room's live delivery for nothing); the next one looks again.
        const periodic = work.kind === 'check' && work.periodic === true;
        const retry = !periodic && error instanceof EngineUnavailableError && attempt < retries && this.rooms.get(room.name) === room && room.queue.length <= this.options.maxRecover;
        if (retry) {
          this.options.metrics.gapRepairs.inc({ outcome: 'retried' });
          this.logger.debug({ err: error, room: room.name, attempt: attempt + 1 }, 'history read for delivery failed; reading again');
          setTimeout(() => this.readHistory(room, work, attempt + 1), Math.min(maxMs, initialMs * 2 ** attempt)).unref();
          return;
        }
        this.logger.error({ err: error, room: room.name, attempts: attempt + 1 }, 'history read for delivery failed');
        if (work.kind === 'catchup') work.conn.close('INSUFFICIENT_STATE', `cannot catch up in ${room.name}`);
        else if (!periodic) this.lose(room);
        this.finish(room);
      },
    );
  }

  private finish(room: Room): void {
    room.queue.shift();
    room.processing = false;
    this.process(room);
  }

  private hasGap(room: Room, pub: Publication): boolean {
    return room.epoch !== undefined && pub.epoch === room.epoch && pub.offset > room.offset + 1;
  }

  /** Fills a gap (or checks a room after a resync) from history, then delivers `work`. */
  private async repair(room: Room, work: Extract<Work, { kind: 'publication' | 'check' }>): Promise<void> {
    const since = room.offset;
    const epoch = room.epoch;
    const until = work.kind === 'publication' ? work.pub.offset - 1 : Number.MAX_SAFE_INTEGER;
    if (epoch === undefined) {
      if (work.kind === 'publication') this.delivery.deliver(room, work.pub);
      return;
    }
    const limit = Math.min(this.options.maxRecover, until - since);
    const page = await this.options.engine.history.read(room.name, { since, limit });
    if (work.kind === 'check' && work.periodic && page.epoch !== epoch && page.offset === 0) {
      // An idle room's history expired and nothing was published since: nothing was missed.
      room.epoch = page.epoch;
      room.offset = 0;
      return;
    }
    const missing = page.publications.filter((p) => p.offset <= until);
    const top = work.kind === 'publication' ? until : page.offset;
    const complete = page.epoch === epoch && (top <= since || isComplete(since, top, missing));
    if (!complete) {
      this.options.metrics.gapRepairs.inc({ outcome: 'lost' });
      this.lose(room);
    } else if (missing.length > 0) {
      this.options.metrics.gapRepairs.inc({ outcome: 'repaired' });
      for (const pub of missing) this.delivery.deliverIfNew(room, pub);
    }
    if (page.epoch !== epoch && work.kind === 'check') {
      room.epoch = page.epoch;
      room.offset = page.offset;
    }
    if (work.kind === 'publication') this.delivery.deliverIfNew(room, work.pub);
  }

  /** Sends a subscriber behind the room's last live delivery what it lacks, then adds it. */
  private async catchUp(room: Room, conn: Connection, from: StreamPosition): Promise<void> {
    const target = room.offset;
    if (room.catchingUp.has(conn) && room.epoch === from.epoch && from.offset < target) {
      const page = await this.options.engine.history.read(room.name, { since: from.offset, limit: Math.min(this.options.maxRecover, target - from.offset) });
      const missing = page.publications.filter((p) => p.offset <= target);
      if (page.epoch !== from.epoch || !isComplete(from.offset, target, missing)) {
        conn.close('INSUFFICIENT_STATE', `messages lost in ${room.name}`);
        return;
      }
      // Per connection, not shared: catching up is rare (concurrent subscribes racing a publish).
      if (room.catchingUp.has(conn)) for (const pub of missing) conn.sendShared(encodeFrame({ op: 'message', ...publicationView(pub) }));
    }
    if (room.catchingUp.delete(conn)) room.subscribers.add(conn);
  }

  /** Messages were lost for good (or could not be read): the room's subscribers must resubscribe with recover. */
  private lose(room: Room): void {
    for (const conn of roomMembers(room)) conn.close('INSUFFICIENT_STATE', `messages lost in ${room.name}`);
    room.epoch = undefined;
    room.storedAhead.clear();
  }
}
