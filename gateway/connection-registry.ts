/**
 * The node's connections and every count kept of them: sockets still waiting to `connect`
 * (anonymous, capped node-wide and per address: anonymous-sockets.ts), connections that are
 * ready (`limits.maxConnections`) and how many each user holds ready
 * (`limits.connectionsPerUser`). All of them go up and down here and nowhere else: a connection
 * is added when its socket opens, admitted as ready once its token checks out, and removed when
 * its socket closes.
 */
import { AnonymousSockets, type AnonymousLimits, type AnonymousRefusal } from './anonymous-sockets.ts';
import type { Identity } from './auth.ts';
import type { Connection } from './connection.ts';

export interface RegistryLimits extends AnonymousLimits {
  maxConnections: number;
  connectionsPerUser: number;
}

/** Why a token that checked out was still not admitted. */
export type AdmitRefusal = 'node' | 'user';

export class ConnectionRegistry {
  private readonly all = new Set<Connection>();
  private readonly readyByUser = new Map<string, number>();
  private readonly anonymous: AnonymousSockets<Connection>;
  private readonly limits: RegistryLimits;
  private ready = 0;

  constructor(limits: RegistryLimits) {
    this.limits = limits;
    this.anonymous = new AnonymousSockets(limits);
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
