/**
 * Serves the protocol v1 commands of one connection (DESIGN §3, docs/protocol.md).
 *
 * Every reply carries the command's `id`. Engine-bound commands count against
 * `limits.maxPendingCommands`; errors are answered with a stable code and never close the
 * connection, except for token failures (4001), an unreachable key server (1013) and repeated
 * violations (4400). Publish, presence and history are operations.ts's; subscriptions are the
 * hub's; this file turns frames into those calls and their results into replies.
 */
import { randomUUID } from 'node:crypto';
import type { AiService } from './ai/service.ts';
import type { TokenVerifier } from './auth.ts';
import type { GatewayConfig } from './config.ts';
import type { ConnectionRegistry } from './connection-registry.ts';
import type { Connection } from './connection.ts';
import { gatewayError, GatewayError } from './errors.ts';
import type { Hub } from './hub.ts';
import { historyPageBytes, publicationView, type Operations } from './operations.ts';
import type { PresenceTracker } from './presence-tracker.ts';
import type { SubscribeGate } from './subscribe-gate.ts';
import { isNotifyOp, serveNotifyOp, type Notifier } from './notify/index.ts';
import { parseFrame, type Command, type ParseLimits, type RecoverPosition } from './protocol.ts';

export interface CommandDeps {
  /** Absent: ai and ai_cancel answer UNAVAILABLE. */
  ai?: AiService;
  config: GatewayConfig;
  operations: Operations;
  hub: Hub;
  presence: PresenceTracker;
  verifier: TokenVerifier;
  /** Admits a connection as ready (it owns every connection count). */
  connections: ConnectionRegistry;
  /** Serves the notification ops; absent when notify.enabled is false. */
  notifier?: Notifier;
  /** Bounds the subscribes reading the engine at once on this node. */
  subscribeGate: SubscribeGate;
}

type Reply = Record<string, unknown>;

export class CommandHandler {
  private readonly deps: CommandDeps;
  private readonly parseLimits: ParseLimits;

  constructor(deps: CommandDeps) {
    this.deps = deps;
    const { limits } = deps.config;
    this.parseLimits = { maxRoomNameLength: limits.maxRoomNameLength, maxHistoryLimit: deps.config.history.maxRecover, maxJsonDepth: limits.maxJsonDepth };
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
        if ('fields' in command) return this.notifyCommand(conn, command);
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
    conn.beginConnect();
    let identity;
    try {
      identity = await this.deps.verifier.verify(token);
    } catch (error) {
      if (error instanceof GatewayError && error.code === 'UNAVAILABLE') {
        // The key server did not answer: the token is not at fault, so the client must not be
        // told to fetch a new one. It retries later with the same token.
        conn.logger.warn({ err: error }, 'token keys unavailable');
        conn.sendError('UNAVAILABLE', error.message, id);
        conn.close('TRY_AGAIN_LATER', 'token keys unavailable; retry later');
        return;
      }
      const message = error instanceof Error && (error as { code?: string }).code === 'UNAUTHORIZED' ? error.message : 'token invalid';
      conn.sendError('UNAUTHORIZED', message, id);
      conn.close('BAD_TOKEN', message);
      return;
    }
    if (!conn.isOpen) return;
    const { limits } = this.deps.config;
    const refused = this.deps.connections.admitReady(conn, identity);
    if (refused === 'node') {
      conn.close('CONNECTION_LIMIT', `node is at ${limits.maxConnections} connections`);
      return;
    }
    if (refused === 'user') {
      conn.close('CONNECTION_LIMIT', `user has ${limits.connectionsPerUser} connections on this node`);
      return;
    }
    const { region, node } = this.deps.config;
    conn.send(withId(id, { op: 'connected', client: conn.id, user: identity.user, personalRoom: identity.access.personalRoom, region, node }));
    conn.logger.debug('connected');
  }

  private async notifyCommand(conn: Connection, command: Extract<Command, { fields: unknown }>): Promise<void> {
    const { notifier, config } = this.deps;
    if (!notifier) throw gatewayError('UNAVAILABLE', 'notifications are not enabled on this gateway');
    if (conn.pendingCommands >= config.limits.maxPendingCommands) throw gatewayError('RATE_LIMITED', `more than ${config.limits.maxPendingCommands} commands in flight`);
    conn.commandStarted();
    try {
      conn.send(withId(command.id, await serveNotifyOp(notifier, conn.identity!.access, command.op, command.fields, config.limits.maxRoomNameLength)));
    } finally {
      conn.commandFinished();
    }
  }

  private async engineCommand(conn: Connection, command: Exclude<Command, { op: 'connect' | 'ping' | 'ai' | 'ai_cancel' } | { fields: unknown }>): Promise<void> {
    const access = conn.identity!.access;
    if (command.op !== 'unsubscribe' && !access.allows(command.room)) {
      throw gatewayError('FORBIDDEN', `the token does not allow room ${command.room}`);
    }
    const { limits } = this.deps.config;
    if (command.op === 'publish' && !conn.takePublishToken()) {
      throw gatewayError('RATE_LIMITED', `publish rate above ${limits.publishRatePerSec}/s`);
    }
    // Each subscribe and unsubscribe makes join/leave work for every member: metered together.
    if ((command.op === 'subscribe' || command.op === 'unsubscribe') && !conn.takeSubscribeToken()) {
      throw gatewayError('RATE_LIMITED', `subscribe/unsubscribe rate above ${limits.subscribeRatePerSec}/s`);
    }
    // Subscribes are bounded by roomsPerConnection already (a room is held while subscribing).
    if (command.op !== 'subscribe' && command.op !== 'unsubscribe' && conn.pendingCommands >= limits.maxPendingCommands) {
      throw gatewayError('RATE_LIMITED', `more than ${limits.maxPendingCommands} commands in flight`);
    }
    // Naming a room may make the engine create it (an epoch, a stream): bounded per user.
    if (command.op !== 'unsubscribe' && !this.deps.connections.mayUseRoom(conn.user!, command.room)) {
      throw gatewayError('LIMIT_EXCEEDED', `more than ${limits.roomsPerUserPerMinute} rooms per minute for this user; use rooms already in use, or wait`);
    }
    if (command.op === 'history') return this.history(conn, command);
    conn.commandStarted();
    try {
      const reply = await this.engineReply(conn, command);
      if (reply) conn.send(withId(command.id, reply));
    } finally {
      conn.commandFinished();
    }
  }

  /**
   * A history page, its reply's bytes reserved on the outbound queue before the read starts;
   * nothing is read or encoded for a connection that closed meanwhile.
   */
  private async history(conn: Connection, command: Extract<Command, { op: 'history' }>): Promise<void> {
    const { limits } = this.deps.config;
    const replyBytes = historyPageBytes(this.deps.config);
    const refused = conn.startHistoryRead(replyBytes);
    if (refused === 'too-many') throw gatewayError('RATE_LIMITED', `more than ${limits.historyReadsPerConnection} history reads in flight`);
    if (refused === 'queue-full') throw gatewayError('RATE_LIMITED', 'the outbound queue has no room for another history reply; read the replies first');
    conn.commandStarted();
    try {
      const view = await this.deps.operations.history(command.room, { limit: command.limit, since: command.since }, () => conn.isOpen);
      if (view) conn.send(withId(command.id, { op: 'history', ...view }));
    } finally {
      conn.finishHistoryRead(replyBytes);
      conn.commandFinished();
    }
  }

  private async engineReply(conn: Connection, command: Exclude<Command, { op: 'connect' | 'ping' | 'ai' | 'ai_cancel' | 'history' } | { fields: unknown }>): Promise<Reply | undefined> {
    const { operations } = this.deps;
    switch (command.op) {
      case 'subscribe':
        return this.subscribe(conn, command.room, command.recover, command.id);
      case 'unsubscribe': {
        if (this.deps.hub.stateOf(conn, command.room) !== 'subscribed') {
          throw gatewayError('NOT_SUBSCRIBED', `not subscribed to ${command.room}`);
        }
        this.deps.hub.unsubscribe(conn, command.room);
        await this.deps.presence.left(conn, command.room);
        return { op: 'unsubscribed', room: command.room };
      }
      case 'publish': {
        const from = { user: conn.user!, client: conn.id };
        const mid = command.mid ?? randomUUID();
        // The publish seam for AI on room traffic: waits only for a `block` room's verdict.
        // (No await without AI: a publish costs no extra turn when nothing screens it.)
        if (this.deps.ai) await this.deps.ai.rooms.screenPublish({ room: command.room, mid, data: command.data, user: from.user });
        const { room, epoch, offset, duplicate } = await operations.publish({ room: command.room, data: command.data, mid, freshMid: command.mid === undefined, from });
        const reply: Reply = { op: 'published', room, epoch, offset, mid };
        if (duplicate) reply.duplicate = true;
        return reply;
      }
      case 'presence':
        return { op: 'presence', ...(await operations.presence(command.room)) };
    }
  }

  /** One turn of the subscribe gate: a socket that closed while waiting gives its turn up. */
  private async subscribe(conn: Connection, room: string, recover: RecoverPosition | undefined, id: number | undefined): Promise<undefined> {
    return this.deps.subscribeGate.run(() => conn.isOpen, () => this.subscribeNow(conn, room, recover, id));
  }

  private async subscribeNow(conn: Connection, room: string, recover: RecoverPosition | undefined, id: number | undefined): Promise<undefined> {
    const { hub, presence } = this.deps;
    try {
      await hub.subscribe(conn, room, recover, (result) => {
        const reply: Reply = { op: 'subscribed', room, epoch: result.epoch, offset: result.offset };
        if (result.recovered !== undefined) reply.recovered = result.recovered;
        reply.messages = result.messages.map(publicationView);
        if (result.more) reply.more = true;
        conn.send(withId(id, reply));
      });
    } catch (error) {
      if (!conn.isOpen) return undefined; // closed meanwhile: nobody to answer
      throw error;
    }
    if (!conn.isOpen) return undefined; // closing: the close handler leaves every room
    await presence.joined(conn, room);
    // Left (unsubscribe or close) while the entry was being added: take it out again.
    if (hub.stateOf(conn, room) !== 'subscribed') await presence.left(conn, room);
    return undefined;
  }

  /** Cleans up after the socket closed: leaves every room. */
  async closed(conn: Connection): Promise<void> {
    this.deps.ai?.closed(conn); // aborts its AI requests upstream
    const rooms = this.deps.hub.leaveAll(conn);
    // Through the subscribe gate: a cut of thousands of sockets is as many leaves at once.
    if (conn.identity) await Promise.all(rooms.map((room) => this.deps.subscribeGate.run(() => true, () => this.deps.presence.left(conn, room), { mayRefuse: false })));
  }
}

function withId(id: number | undefined, reply: Reply): Reply {
  return id === undefined ? reply : { id, ...reply };
}
