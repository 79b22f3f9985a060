/**
 * The node's connections, and how many of them each user holds ready (for
 * `limits.connectionsPerUser`). Both counts go up and down here and nowhere else: a connection
 * is added when its socket opens, admitted as ready once its token checks out, and removed when
 * its socket closes.
 */
import type { Identity } from './auth.ts';
import type { Connection } from './connection.ts';

export class ConnectionRegistry {
  private readonly all = new Set<Connection>();
  private readonly readyByUser = new Map<string, number>();
  private readonly connectionsPerUser: number;

  constructor(options: { connectionsPerUser: number }) {
    this.connectionsPerUser = options.connectionsPerUser;
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
    if (held >= this.connectionsPerUser) return false;
    conn.markReady(identity);
    this.readyByUser.set(identity.user, held + 1);
    return true;
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
