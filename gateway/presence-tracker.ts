/**
 * Presence of this node's connections: an entry per (room, client) added on subscribe,
 * refreshed every `presence.refreshMs` (the engine expires entries after `presence.ttlMs`,
 * which covers crashed pods), removed on unsubscribe and close, with join/leave pushes through
 * the broker so every pod's subscribers see them. Refreshes go out a share of the connections
 * per tick of one timer (spread-round.ts), not all at once: 20,000 refreshes in one turn would
 * be one burst of engine commands from every pod. Rooms with more clients than
 * `presence.joinLeaveMaxMembers` get no join/leave pushes (their cost grows as N²).
 */
import type { Logger } from 'pino';
import type { Connection } from './connection.ts';
import type { Engine, Member } from './engine/types.ts';
import { SpreadRound } from './spread-round.ts';

export interface PresenceTrackerOptions {
  engine: Engine;
  logger: Logger;
  region: string;
  refreshMs: number;
  /** Longest tick of the refresh timer; each tick refreshes the connections due in it. */
  tickMs: number;
  joinLeaveMaxMembers: number;
  /** Connections whose entries are refreshed. */
  connections: () => ReadonlySet<Connection>;
  /** The rooms a connection is subscribed to (the hub's membership). */
  subscribedRooms: (conn: Connection) => Iterable<string>;
  /** This node's subscribers of a room: a lower bound of the room's members, known without a round trip. */
  localMembers: (room: string) => number;
}

export function memberOf(conn: Connection, region: string): Member {
  const identity = conn.identity!;
  const member: Member = { user: identity.user, client: conn.id, region };
  if (identity.name) member.name = identity.name;
  return member;
}

export class PresenceTracker {
  private readonly options: PresenceTrackerOptions;
  private timer?: NodeJS.Timeout;

  constructor(options: PresenceTrackerOptions) {
    this.options = options;
  }

  start(): void {
    const { refreshMs, connections } = this.options;
    const tickMs = Math.min(this.options.tickMs, refreshMs);
    const round = new SpreadRound({ members: connections, periodMs: refreshMs, tickMs, visit: (conn: Connection) => this.refresh(conn) });
    this.timer = setInterval(() => round.tick(), tickMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** Adds the member and announces the join; failures are logged, never thrown (presence is best effort). */
  async joined(conn: Connection, room: string): Promise<void> {
    const member = memberOf(conn, this.options.region);
    const { presence, broker } = this.options.engine;
    try {
      await presence.add(room, member);
      if (await this.announces(room)) await broker.publishEvent(room, { type: 'join', member });
    } catch (error) {
      conn.logger.warn({ err: error, room }, 'presence add failed');
    }
  }

  async left(conn: Connection, room: string): Promise<void> {
    if (!conn.identity) return;
    const member = memberOf(conn, this.options.region);
    const { presence, broker } = this.options.engine;
    try {
      await presence.remove(room, conn.id);
      if (await this.announces(room)) await broker.publishEvent(room, { type: 'leave', member });
    } catch (error) {
      conn.logger.warn({ err: error, room }, 'presence remove failed');
    }
  }

  private async announces(room: string): Promise<boolean> {
    const { joinLeaveMaxMembers } = this.options;
    if (joinLeaveMaxMembers === 0) return false;
    // Big rooms are settled locally: asking the engine costs O(members), so a subscribe storm
    // into one room would cost O(N²).
    if (this.options.localMembers(room) > joinLeaveMaxMembers) return false;
    // A count, not the member list: a reconnect storm asks this once per join and per leave.
    return (await this.options.engine.presence.count(room)) <= joinLeaveMaxMembers;
  }

  private refresh(conn: Connection): void {
    if (conn.state !== 'ready') return;
    const { presence } = this.options.engine;
    for (const room of this.options.subscribedRooms(conn)) {
      presence.add(room, memberOf(conn, this.options.region)).catch((error: unknown) => {
        this.options.logger.warn({ err: error, room, client: conn.id }, 'presence refresh failed');
      });
    }
  }
}
