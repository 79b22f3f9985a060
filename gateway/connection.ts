/**
 * One client connection: its state (connecting → authenticating → ready → closed), its
 * subscriptions, its limits (publish token bucket, violations, pending commands) and its
 * byte-capped outbound path.
 *
 * The outbound queue is the socket's own buffer (`ws.bufferedAmount`: bytes ws and the
 * kernel-side stream have not flushed yet). A write that would take it past
 * `limits.outboundQueueBytes` closes the connection with 4008 instead; the frame is not
 * queued, so a slow client costs at most its cap in memory and never delays anyone else.
 *
 * Writes are coalesced: the frames a connection gets within one event-loop turn (a fan-out
 * loop, several publications read from one broker packet, a reply and the pushes after it) wait
 * in a per-connection batch, and one `setImmediate` at the end of the turn writes each batch
 * with a single socket write. A batch is written at once when it reaches
 * `limits.writeBatchFrames` or `limits.writeBatchBytes`. Its bytes count toward the outbound
 * cap like queued ones. Replies go through the same batch as pushes, so their order holds.
 * With permessage-deflate (no raw frames) every message goes through `ws.send`, uncoalesced.
 */
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type WebSocket from 'ws';
import type { Identity } from './auth.ts';
import type { GatewayConfig } from './config.ts';
import { closeCodes, toGatewayError, type CloseReason, type ErrorCode } from './errors.ts';
import type { GatewayMetrics } from './metrics.ts';
import { TokenBucket } from '../lib/token-bucket.ts';
import { WindowCounter } from './token-bucket.ts';
import { acceptsRawFrames, forgetLastRun, frameText, writeFrames, type SharedFrame } from './ws-frame.ts';

export type ConnectionState = 'connecting' | 'authenticating' | 'ready' | 'closed';

/** Subscription state of one room on one connection. */
export type RoomState = 'subscribing' | 'subscribed';

export interface ConnectionDeps {
  config: GatewayConfig;
  metrics: GatewayMetrics;
  logger: Logger;
  now: () => number;
}

// Connections with a batch waiting for the end of this event-loop turn; one setImmediate
// writes them all. setImmediate (not a microtask) lets every publication that arrives in the
// same I/O phase join the batch, and adds no timer delay.
const flushQueue: Connection[] = [];
let flushScheduled = false;

function flushAll(): void {
  flushScheduled = false;
  for (const conn of flushQueue) {
    try {
      conn.endTurn();
    } catch (error) {
      // One connection's failed write must not keep the others' batches from going out.
      conn.logger.error({ err: error }, 'write failed; closing the connection');
      conn.ws.terminate();
    }
  }
  flushQueue.length = 0;
  forgetLastRun();
}

function queueFlush(conn: Connection): void {
  flushQueue.push(conn);
  if (!flushScheduled) {
    flushScheduled = true;
    setImmediate(flushAll);
  }
}

export function newClientId(): string {
  return 'c' + randomBytes(9).toString('base64url');
}

export class Connection {
  readonly id = newClientId();
  readonly ws: WebSocket;
  readonly rooms = new Map<string, RoomState>();
  state: ConnectionState = 'connecting';
  identity?: Identity;
  /** Engine-bound commands in flight. */
  pending = 0;
  /** Cleared on each ping; set by any pong or frame. */
  alive = true;

  private readonly deps: ConnectionDeps;
  // Made on first use: an idle connection (the common case) never needs them.
  private publishBucket?: TokenBucket;
  private violations?: WindowCounter;
  /** The connect deadline until ready, then the token expiry. */
  private timer?: NodeJS.Timeout;
  /** False from the moment the gateway closes the connection (or the socket closes): nothing more is written. Read on every fan-out write, hence a field. */
  isOpen = true;
  /** Extensions are fixed at the handshake, so this is decided once. */
  private readonly rawFrames: boolean;
  private childLogger?: Logger;
  /** Frames waiting for the end of the turn (raw-frame connections only); made on first use. */
  private batch?: SharedFrame[];
  private batchBytes = 0;
  private flushQueued = false;

  constructor(ws: WebSocket, deps: ConnectionDeps) {
    this.ws = ws;
    this.deps = deps;
    this.rawFrames = acceptsRawFrames(ws);
    this.timer = setTimeout(() => {
      if (this.state === 'connecting' || this.state === 'authenticating') this.close('CONNECT_TIMEOUT', 'connect not sent in time');
    }, deps.config.limits.connectTimeoutMs);
  }

  /** A child logger with this connection's client (and user) id, made on first use: most connections never log. */
  get logger(): Logger {
    this.childLogger ??= this.deps.logger.child(this.identity ? { client: this.id, user: this.identity.user } : { client: this.id });
    return this.childLogger;
  }

  get user(): string | undefined {
    return this.identity?.user;
  }

  /** Becomes ready for `identity`; the connection closes with 4001 when the token expires. */
  markReady(identity: Identity): void {
    this.identity = identity;
    this.state = 'ready';
    this.childLogger = undefined;
    clearTimeout(this.timer);
    this.scheduleExpiry(identity.expiresAt * 1000);
  }

  private scheduleExpiry(expiresAtMs: number): void {
    const left = expiresAtMs - this.deps.now();
    // Timers above 2^31-1 ms fire at once; a token that long-lived is re-checked at that bound.
    const maxTimer = 2 ** 31 - 1;
    if (left > maxTimer) this.timer = setTimeout(() => this.scheduleExpiry(expiresAtMs), maxTimer);
    else this.timer = setTimeout(() => this.close('BAD_TOKEN', 'token expired'), Math.max(0, left));
  }

  takePublishToken(): boolean {
    const { limits } = this.deps.config;
    this.publishBucket ??= new TokenBucket({ ratePerSec: limits.publishRatePerSec, burst: limits.publishBurst, now: this.deps.now });
    return this.publishBucket.take();
  }

  /** Counts a protocol violation; true when the connection has now had too many. */
  private violated(): boolean {
    const { limits } = this.deps.config;
    this.violations ??= new WindowCounter({ limit: limits.violationsBeforeClose, windowMs: limits.violationWindowMs, now: this.deps.now });
    return this.violations.add();
  }

  /** Sends one JSON reply or push (encoded for this connection only). */
  send(message: unknown): boolean {
    const text = JSON.stringify(message);
    if (this.rawFrames) return this.sendShared(frameText(Buffer.from(text)));
    if (!this.admit(Buffer.byteLength(text))) return false;
    this.ws.send(text);
    return true;
  }

  /** Writes a frame shared by many connections (see ws-frame.ts), coalesced with this turn's others. */
  sendShared(shared: SharedFrame): boolean {
    if (!this.admit(shared.bytes)) return false;
    if (!this.rawFrames) {
      this.ws.send(shared.payload, { binary: false });
      return true;
    }
    const { writeBatchFrames, writeBatchBytes } = this.deps.config.limits;
    if (this.batchBytes > 0 && this.batchBytes + shared.bytes > writeBatchBytes) this.flushBatch();
    this.batch ??= [];
    this.batch.push(shared);
    this.batchBytes += shared.bytes;
    if (this.batch.length >= writeBatchFrames || this.batchBytes >= writeBatchBytes) this.flushBatch();
    else if (!this.flushQueued) {
      this.flushQueued = true;
      queueFlush(this);
    }
    return true;
  }

  /**
   * Writes the waiting frames with one socket write. Called at the end of the turn, when the
   * batch is full, and before a close frame (which must follow them). After the socket closed
   * there is nobody to write to: the batch is dropped (those frames were never delivered, as
   * with any bytes still queued when a socket drops).
   */
  flushBatch(): void {
    const batch = this.batch;
    if (!batch || batch.length === 0) return;
    if (this.ws.readyState === this.ws.OPEN) writeFrames(this.ws, batch);
    batch.length = 0;
    this.batchBytes = 0;
  }

  /** The end of the event-loop turn: writes the batch; the next frame queues a new flush. */
  endTurn(): void {
    this.flushQueued = false;
    this.flushBatch();
  }

  /** Checks the outbound cap for `bytes` more (closing with 4008 past it) and counts them. */
  private admit(bytes: number): boolean {
    if (!this.isOpen) return false;
    if (this.ws.bufferedAmount + this.batchBytes + bytes > this.deps.config.limits.outboundQueueBytes) {
      this.close('SLOW_CONSUMER', 'slow consumer');
      return false;
    }
    this.deps.metrics.countOut(1, bytes);
    return true;
  }

  /** Sends an error frame; protocol violations also count toward the 4400 close. */
  sendError(code: ErrorCode, message: string, id?: number, { violation = false } = {}): void {
    this.deps.metrics.errors.inc({ code });
    this.send(id === undefined ? { op: 'error', code, message } : { op: 'error', id, code, message });
    if (violation && this.violated()) this.close('PROTOCOL_VIOLATIONS', 'too many protocol violations');
  }

  /** Sends the error for anything thrown while serving a command. */
  fail(error: unknown, id?: number): void {
    const gatewayError = toGatewayError(error);
    if (gatewayError.code === 'INTERNAL') this.logger.error({ err: error }, 'command failed');
    else if (gatewayError.code === 'UNAVAILABLE') this.logger.warn({ err: error }, 'engine unavailable');
    const violation = gatewayError.code === 'BAD_REQUEST' || gatewayError.code === 'RATE_LIMITED';
    this.sendError(gatewayError.code, gatewayError.message, id, { violation });
  }

  /** Closes with a registered close code; later writes are refused. Idempotent. */
  close(reason: CloseReason, text: string): void {
    if (!this.isOpen) return;
    this.isOpen = false;
    const { code } = closeCodes[reason];
    this.deps.metrics.disconnects.inc({ code: String(code) });
    this.logger.info({ code, reason: text }, 'closing connection');
    // Frames admitted before the close go out first (a 4008 batch is within the cap).
    this.flushBatch();
    // For a slow consumer the close frame queues behind its backlog; a client that never
    // reads it is cut when ws's close timeout (30 s) passes, so the socket cannot linger.
    this.ws.close(code, text);
  }

  /** Called once when the socket has closed: stops the timer. */
  dispose(): void {
    this.state = 'closed';
    this.isOpen = false;
    clearTimeout(this.timer);
    this.flushBatch();
  }
}
