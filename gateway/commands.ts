/**
 * Serves the protocol v1 commands of one connection (DESIGN §3, docs/protocol.md).
 *
 * Every reply carries the command's `id`. Engine-bound commands count against
 * `limits.maxPendingCommands`; errors are answered with a stable code and never close the
 * connection, except for token failures (4001) and repeated violations (4400).
 */
import { randomUUID } from 'node:crypto';
import type { AiService } from './ai/service.ts';
import type { TokenVerifier } from './auth.ts';
import type { GatewayConfig } from './config.ts';
import type { Connection } from './connection.ts';
import type { Engine } from './engine/types.ts';
import { gatewayError } from './errors.ts';
import { publicationView, type Hub } from './hub.ts';
import type { GatewayMetrics } from './metrics.ts';
import type { PresenceTracker } from './presence-tracker.ts';
import { parseFrame, type Command, type ParseLimits, type RecoverPosition } from './protocol.ts';

export interface CommandDeps {
  /** Absent: ai and ai_cancel answer UNAVAILABLE. */
  ai?: AiService;
  config: GatewayConfig;
  engine: Engine;
  hub: Hub;
  presence: PresenceTracker;
  verifier: TokenVerifier;
  metrics: GatewayMetrics;
  now: () => number;
  /** Connections of `user` that are ready on this node. */
  userConnections(user: string): number;
  /** Registers a connection as ready for its user (for the per-user limit). */
  onReady(conn: Connection): void;
}

type Reply = Record<string, unknown>;

export class CommandHandler {
  private readonly deps: CommandDeps;
  private readonly parseLimits: ParseLimits;

  constructor(deps: CommandDeps) {
    this.deps = deps;
    this.parseLimits = { maxRoomNameLength: deps.config.limits.maxRoomNameLength, maxHistoryLimit: deps.config.history.maxRecover };
  }

  /** Handles one text frame from the client. Never throws. */
  handleFrame(conn: Connection, text: string): void {
    if (!conn.isOpen) return; // closing: the client was told why, nothing more is served
    const parsed = parseFrame(text, this.parseLimits);
    if (!parsed.ok) {
      conn.sendError(parsed.error.code, parsed.error.message, parsed.id, { violation: true });
      return;
    }
    const command = parsed.command;
    if (conn.state === 'connecting' && command.op !== 'connect') {
      conn.sendError('UNAUTHORIZED', 'send connect first', command.id, { violation: true });
      return;
    }
    if (conn.state !== 'ready' && conn.state !== 'connecting') {
      conn.sendError('BAD_REQUEST', 'connect is in progress; wait for connected', command.id, { violation: true });
      return;
    }
    if (conn.state === 'ready' && command.op === 'connect') {
      conn.sendError('ALREADY_CONNECTED', 'this connection is already connected', command.id, { violation: true });
      return;
    }
    this.run(conn, command).catch((error: unknown) => conn.fail(error, command.id));
  }

  private async run(conn: Connection, command: Command): Promise<void> {
    switch (command.op) {
      case 'connect':
        return this.connect(conn, command.token, command.id);
      case 'ping':
        conn.send(withId(command.id, { op: 'pong' }));
        return;
      case 'ai':
      case 'ai_cancel':
        return this.aiCommand(conn, command);
      default:
        return this.engineCommand(conn, command);
    }
  }

  /** The AI seam: the service owns the request from here (frames, limits, cancel). */
  private aiCommand(conn: Connection, command: Extract<Command, { op: 'ai' | 'ai_cancel' }>): void {
    const { ai } = this.deps;
    if (!ai) throw gatewayError('UNAVAILABLE', 'ai is not enabled on this gateway');
    const access = conn.identity!.access;
    const caller = { user: conn.identity!.user, allows: (room: string) => access.allows(room), send: (frame: Record<string, unknown>) => conn.send(frame) };
    if (command.op === 'ai') ai.request(conn, caller, command.id, command.task, command.input);
    else ai.cancel(conn, caller, command.id!);
  }

  private async connect(conn: Connection, token: string, id?: number): Promise<void> {
    conn.state = 'authenticating';
    let identity;
    try {
      identity = await this.deps.verifier.verify(token);
    } catch (error) {
      const message = error instanceof Error && (error as { code?: string }).code === 'UNAUTHORIZED' ? error.message : 'token invalid';
      conn.sendError('UNAUTHORIZED', message, id);
      conn.close('BAD_TOKEN', message);
      return;
    }
    if (!conn.isOpen) return;
    const { limits } = this.deps.config;
    if (this.deps.userConnections(identity.user) >= limits.connectionsPerUser) {
      conn.close('CONNECTION_LIMIT', `user has ${limits.connectionsPerUser} connections on this node`);
      return;
    }
    conn.markReady(identity);
    this.deps.onReady(conn);
    const { region, node } = this.deps.config;
    conn.send(withId(id, { op: 'connected', client: conn.id, user: identity.user, region, node }));
    conn.logger.debug('connected');
  }

  private async engineCommand(conn: Connection, command: Exclude<Command, { op: 'connect' | 'ping' | 'ai' | 'ai_cancel' }>): Promise<void> {
    const access = conn.identity!.access;
    if (command.op !== 'unsubscribe' && !access.allows(command.room)) {
      throw gatewayError('FORBIDDEN', `the token does not allow room ${command.room}`);
    }
    if (command.op === 'publish' && !conn.takePublishToken()) {
      throw gatewayError('RATE_LIMITED', `publish rate above ${this.deps.config.limits.publishRatePerSec}/s`);
    }
    // Subscribes are bounded by roomsPerConnection already (a room is held while subscribing).
    if (command.op !== 'subscribe' && command.op !== 'unsubscribe' && conn.pending >= this.deps.config.limits.maxPendingCommands) {
      throw gatewayError('RATE_LIMITED', `more than ${this.deps.config.limits.maxPendingCommands} commands in flight`);
    }
    conn.pending += 1;
    try {
      const reply = await this.engineReply(conn, command);
      if (reply) conn.send(withId(command.id, reply));
    } finally {
      conn.pending -= 1;
    }
  }

  private async engineReply(conn: Connection, command: Exclude<Command, { op: 'connect' | 'ping' | 'ai' | 'ai_cancel' }>): Promise<Reply | undefined> {
    const { engine, config } = this.deps;
    switch (command.op) {
      case 'subscribe':
        return this.subscribe(conn, command.room, command.recover, command.id);
      case 'unsubscribe': {
        if (conn.rooms.get(command.room) !== 'subscribed') {
          throw gatewayError('NOT_SUBSCRIBED', `not subscribed to ${command.room}`);
        }
        conn.rooms.delete(command.room);
        this.deps.hub.unsubscribe(conn, command.room);
        await this.deps.presence.left(conn, command.room);
        return { op: 'unsubscribed', room: command.room };
      }
      case 'publish': {
        const mid = command.mid ?? randomUUID();
        const from = { user: conn.identity!.user, client: conn.id };
        // The publish seam for AI on room traffic: waits only for a `block` room's verdict.
        await this.deps.ai?.rooms.screenPublish({ room: command.room, mid, data: command.data, user: from.user });
        const result = await engine.broker.publish({ room: command.room, mid, data: command.data, from, region: config.region, ts: this.deps.now() });
        const reply: Reply = { op: 'published', room: command.room, epoch: result.epoch, offset: result.offset, mid };
        if (result.duplicate) reply.duplicate = true;
        return reply;
      }
      case 'presence': {
        const members = await engine.presence.list(command.room);
        const max = config.presence.maxMembers;
        return { op: 'presence', room: command.room, members: members.slice(0, max), total: members.length };
      }
      case 'history': {
        const page = await engine.history.read(command.room, { limit: command.limit, since: command.since });
        return { op: 'history', room: command.room, epoch: page.epoch, offset: page.offset, messages: page.publications.map(publicationView) };
      }
    }
  }

  private async subscribe(conn: Connection, room: string, recover: RecoverPosition | undefined, id: number | undefined): Promise<undefined> {
    if (conn.rooms.has(room)) throw gatewayError('ALREADY_SUBSCRIBED', `already subscribed to ${room}`);
    const max = this.deps.config.limits.roomsPerConnection;
    if (conn.rooms.size >= max) throw gatewayError('LIMIT_EXCEEDED', `at most ${max} rooms per connection`);
    conn.rooms.set(room, 'subscribing');
    try {
      await this.deps.hub.subscribe(conn, room, recover, (result) => {
        conn.rooms.set(room, 'subscribed');
        const reply: Reply = { op: 'subscribed', room, epoch: result.epoch, offset: result.offset };
        if (result.recovered !== undefined) reply.recovered = result.recovered;
        reply.messages = result.messages.map(publicationView);
        conn.send(withId(id, reply));
      });
    } catch (error) {
      conn.rooms.delete(room);
      if (!conn.isOpen) return undefined; // closed meanwhile: nobody to answer
      throw error;
    }
    if (!conn.isOpen) {
      // Closed while subscribing: `closed()` may have run before the room was marked.
      conn.rooms.delete(room);
      this.deps.hub.unsubscribe(conn, room);
      return undefined;
    }
    await this.deps.presence.joined(conn, room);
    // Left (unsubscribe or close) while the entry was being added: take it out again.
    if (conn.rooms.get(room) !== 'subscribed') await this.deps.presence.left(conn, room);
    return undefined;
  }

  /** Cleans up after the socket closed: leaves every room. */
  async closed(conn: Connection): Promise<void> {
    this.deps.ai?.closed(conn); // aborts its AI requests upstream
    const rooms = [...conn.rooms.keys()];
    conn.rooms.clear();
    for (const room of rooms) this.deps.hub.unsubscribe(conn, room);
    if (conn.identity) await Promise.all(rooms.map((room) => this.deps.presence.left(conn, room)));
  }
}

function withId(id: number | undefined, reply: Reply): Reply {
  return id === undefined ? reply : { id, ...reply };
}
