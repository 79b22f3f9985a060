/**
 * The node's connections and every count kept of them: sockets still waiting to `connect`
 * (anonymous, capped node-wide and per address: anonymous-sockets.ts), connections that are
 * ready (`limits.maxConnections`), how many each user holds ready (`limits.connectionsPerUser`)
 * and which rooms each user named in the current minute (`limits.roomsPerUserPerMinute`). All
 * of them change here and nowhere else: a connection
 * is added when its socket opens, admitted as ready once its token checks out, and removed when
 * its socket closes. A user's room window outlives its connections until the minute is over, so
 * reconnecting does not reset it.
 */
import { AnonymousSockets, type AnonymousLimits, type AnonymousRefusal } from './anonymous-sockets.ts';
import type { Identity } from './auth.ts';
import type { Connection } from './connection.ts';

export interface RegistryLimits extends AnonymousLimits {
  maxConnections: number;
  connectionsPerUser: number;
  roomsPerUserPerMinute: number;
}

/** Why a token that checked out was still not admitted. */
export type AdmitRefusal = 'node' | 'user';

/** The rooms one user named since `start`. */
interface RoomWindow {
  start: number;
  readonly rooms: Set<string>;
}

const roomWindowMs = 60_000;

export class ConnectionRegistry {
  private readonly all = new Set<Connection>();
  private readonly readyByUser = new Map<string, number>();
  private readonly anonymous: AnonymousSockets<Connection>;
  private readonly roomsByUser = new Map<string, RoomWindow>();
  private readonly limits: RegistryLimits;
  private readonly now: () => number;
  private ready = 0;
  private lastSweep: number;

  constructor(limits: RegistryLimits & { now: () => number }) {
    this.limits = limits;
    this.now = limits.now;
    this.anonymous = new AnonymousSockets(limits);
    this.lastSweep = limits.now();
  }

  /** Every open connection, ready or not. */
  get connections(): ReadonlySet<Connection> {
    return this.all;
  }

  get size(): number {
    return this.all.size;
  }

  /** Sockets that have not completed `connect`. */
  get anonymousCount(): number {
    return this.anonymous.size;
  }

  /** Why a new socket from `address` must be refused at the upgrade, or undefined. */
  refusal(address: string): AnonymousRefusal | undefined {
    return this.anonymous.refusal(address);
  }

  /** A socket opened: it counts as anonymous until it is admitted. */
  add(conn: Connection, address: string): void {
    this.all.add(conn);
    this.anonymous.add(conn, address);
  }

  /**
   * Makes `conn` ready for `identity` and counts it; nothing changes and the reason is returned
   * when the node already holds `maxConnections` ready connections or the user
   * `connectionsPerUser` of them.
   */
  admitReady(conn: Connection, identity: Identity): AdmitRefusal | undefined {
    if (this.ready >= this.limits.maxConnections) return 'node';
    const held = this.readyByUser.get(identity.user) ?? 0;
    if (held >= this.limits.connectionsPerUser) return 'user';
    conn.markReady(identity);
    this.anonymous.release(conn);
    this.readyByUser.set(identity.user, held + 1);
    this.ready += 1;
    return undefined;
  }

  /** The socket closed: forgets `conn` and, if it was admitted, its place in the counts. */
  /**
   * Whether `user` may name `room` now: true for a room it named in the current minute, or
   * while it has named fewer than `roomsPerUserPerMinute` rooms this minute (the room is then
   * counted).
   */
  mayUseRoom(user: string, room: string): boolean {
    const now = this.now();
    if (now - this.lastSweep >= roomWindowMs) this.sweepRoomWindows(now);
    let window = this.roomsByUser.get(user);
    if (!window || now - window.start >= roomWindowMs) {
      window = { start: now, rooms: new Set() };
      this.roomsByUser.set(user, window);
    }
    if (window.rooms.has(room)) return true;
    if (window.rooms.size >= this.limits.roomsPerUserPerMinute) return false;
    window.rooms.add(room);
    return true;
  }

  /** Drops the windows whose minute is over (users who left keep theirs until then). */
  private sweepRoomWindows(now: number): void {
    this.lastSweep = now;
    for (const [user, window] of this.roomsByUser) if (now - window.start >= roomWindowMs) this.roomsByUser.delete(user);
  }

  remove(conn: Connection): void {
    if (!this.all.delete(conn)) return;
    this.anonymous.release(conn);
    // Only admitReady sets a connection's identity, so a user here means it was counted.
    const user = conn.user;
    if (user === undefined) return;
    this.ready -= 1;
    const left = (this.readyByUser.get(user) ?? 1) - 1;
    if (left > 0) this.readyByUser.set(user, left);
    else this.readyByUser.delete(user);
  }
}
