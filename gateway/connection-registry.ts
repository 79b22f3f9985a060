/**
 * The node's connections, and per user: how many of them it holds ready (for
 * `limits.connectionsPerUser`) and which rooms it named in the current minute (for
 * `limits.roomsPerUserPerMinute`). These counts change here and nowhere else: a connection
 * is added when its socket opens, admitted as ready once its token checks out, and removed when
 * its socket closes. A user's room window outlives its connections until the minute is over, so
 * reconnecting does not reset it.
 */
import type { Identity } from './auth.ts';
import type { Connection } from './connection.ts';

/** The rooms one user named since `start`. */
interface RoomWindow {
  start: number;
  readonly rooms: Set<string>;
}

const roomWindowMs = 60_000;

export interface ConnectionRegistryOptions {
  connectionsPerUser: number;
  roomsPerUserPerMinute: number;
  now: () => number;
}

export class ConnectionRegistry {
  private readonly all = new Set<Connection>();
  private readonly readyByUser = new Map<string, number>();
  private readonly roomsByUser = new Map<string, RoomWindow>();
  private lastSweep: number;
  private readonly options: ConnectionRegistryOptions;

  constructor(options: ConnectionRegistryOptions) {
    this.options = options;
    this.lastSweep = options.now();
  }

  /** Every open connection, ready or not. */
  get connections(): ReadonlySet<Connection> {
    return this.all;
  }

  get size(): number {
    return this.all.size;
  }

  add(conn: Connection): void {
    this.all.add(conn);
  }

  /**
   * Makes `conn` ready for `identity` and counts it for its user; false (nothing changed) when
   * the user already holds `connectionsPerUser` ready connections on this node.
   */
  admitReady(conn: Connection, identity: Identity): boolean {
    const held = this.readyByUser.get(identity.user) ?? 0;
    if (held >= this.options.connectionsPerUser) return false;
    conn.markReady(identity);
    this.readyByUser.set(identity.user, held + 1);
    return true;
  }

  /**
   * Whether `user` may name `room` now: true for a room it named in the current minute, or
   * while it has named fewer than `roomsPerUserPerMinute` rooms this minute (the room is then
   * counted).
   */
  mayUseRoom(user: string, room: string): boolean {
    const now = this.options.now();
    if (now - this.lastSweep >= roomWindowMs) this.sweepRoomWindows(now);
    let window = this.roomsByUser.get(user);
    if (!window || now - window.start >= roomWindowMs) {
      window = { start: now, rooms: new Set() };
      this.roomsByUser.set(user, window);
    }
    if (window.rooms.has(room)) return true;
    if (window.rooms.size >= this.options.roomsPerUserPerMinute) return false;
    window.rooms.add(room);
    return true;
  }

  /** Drops the windows whose minute is over (users who left keep theirs until then). */
  private sweepRoomWindows(now: number): void {
    this.lastSweep = now;
    for (const [user, window] of this.roomsByUser) if (now - window.start >= roomWindowMs) this.roomsByUser.delete(user);
  }

  /** The socket closed: forgets `conn` and, if it was admitted, its place in its user's count. */
  remove(conn: Connection): void {
    if (!this.all.delete(conn)) return;
    // Only admitReady sets a connection's identity, so a user here means it was counted.
    const user = conn.user;
    if (user === undefined) return;
    const left = (this.readyByUser.get(user) ?? 1) - 1;
    if (left > 0) this.readyByUser.set(user, left);
    else this.readyByUser.delete(user);
  }
}
