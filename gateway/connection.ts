/**
 * One client connection: its state (connecting → authenticating → ready → closed), its
 * liveness, its limits (publish token bucket, violations, pending commands) and its
 * byte-capped outbound path. Every field changes only through this class's methods; which
 * rooms the connection holds is the hub's (hub.ts), how many connections a user holds is the
 * registry's (connection-registry.ts).
 *
 * The outbound queue is the socket's own buffer (`ws.bufferedAmount`: bytes ws and the
 * kernel-side stream have not flushed yet). A write that would take it past
 * `limits.outboundQueueBytes` closes the connection with 4008 instead; the frame is not
 * queued, so a slow client costs at most its cap in memory and never delays anyone else.
 *
 * Writes are coalesced: the frames a connection gets within one event-loop turn (a fan-out
 * loop, several publications read from one broker packet, a reply and the pushes after it) wait
 * in a per-connection batch, and the gateway's write scheduler (write-scheduler.ts) writes each
 * batch with a single socket write at the end of the turn. A batch is written at once when it reaches
 * `limits.writeBatchFrames` or `limits.writeBatchBytes`. Its bytes count toward the outbound
 * cap like queued ones. Replies go through the same batch as pushes, so their order holds.
 * With permessage-deflate, or when ws's internals failed the start-up check (ws-internals.ts),
 * every message goes through `ws.send`, uncoalesced.
 */
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type WebSocket from 'ws';
import type { Identity } from './auth.ts';
import type { GatewayConfig } from './config.ts';
import type { DeadlineWheel } from './deadline-wheel.ts';
import { closeCodes, toGatewayError, type CloseReason, type ErrorCode } from './errors.ts';
import type { GatewayMetrics } from './metrics.ts';
import { TokenBucket } from '../lib/token-bucket.ts';
import { WindowCounter } from './token-bucket.ts';
import type { WriteScheduler } from './write-scheduler.ts';
import { frameText, type SharedFrame } from './ws-frame.ts';
import type { RawSocket } from './ws-internals.ts';

export type ConnectionState = 'connecting' | 'authenticating' | 'ready' | 'closed';

export interface ConnectionDeps {
  config: GatewayConfig;
  metrics: GatewayMetrics;
  logger: Logger;
  now: () => number;
  /** The gateway's write scheduler. */
  writes: WriteScheduler;
  /** The gateway's one timer for connection deadlines; calls `deadlinePassed` when one is due. */
  deadlines: DeadlineWheel<Connection>;
}

/**
 * How soon a connection waiting for outbound room looks again when its socket will not emit
 * 'drain' (the bytes are below the socket's high-water mark but still over a small cap).
 */
const drainRecheckMs = 10;

// ws.send's options for a shared frame's payload: made once, not per message.
const asText = Object.freeze({ binary: false });

export function newClientId(): string {
  return 'c' + randomBytes(9).toString('base64url');
}

export class Connection {
  readonly id = newClientId();
  readonly ws: WebSocket;
  private current: ConnectionState = 'connecting';
  private readyIdentity?: Identity;
  /** Engine-bound commands in flight. */
  private pending = 0;
  /** History commands in flight, and the outbound bytes reserved for their replies. */
  private historyReads = 0;
  private reservedBytes = 0;
  /** Cleared on each heartbeat; set by any pong or frame. */
  private alive = true;
  /** False from the moment the gateway closes the connection (or the socket closes): nothing more is written. */
  private open = true;

  private readonly deps: ConnectionDeps;
  // Made on first use: an idle connection (the common case) never needs them.
  private publishBucket?: TokenBucket;
  private subscribeBucket?: TokenBucket;
  private violations?: WindowCounter;
  /** The slot of this connection's deadline in `deps.deadlines`: the connect deadline until ready, then the token expiry. */
  private deadlineSlot?: number;
  /** Where raw frames go; undefined when every message goes through `ws.send`. Extensions are fixed at the handshake, so this is decided once. */
  private readonly raw: RawSocket | undefined;
  /** Frames waiting for the end of the turn (raw-frame connections only); made when the first one comes, dropped when written. */
  private batch?: SharedFrame[];
  private batchBytes = 0;
  private flushQueued = false;

  constructor(ws: WebSocket, deps: ConnectionDeps) {
    this.ws = ws;
    this.deps = deps;
    this.raw = deps.writes.socketFor(ws);
    this.deadlineSlot = deps.deadlines.add(this, deps.now() + deps.config.limits.connectTimeoutMs);
  }

  get state(): ConnectionState {
    return this.current;
  }

  get identity(): Identity | undefined {
    return this.readyIdentity;
  }

  /** Read on every fan-out write. */
  get isOpen(): boolean {
    return this.open;
  }

  get pendingCommands(): number {
    return this.pending;
  }

  /**
   * A child logger with this connection's client (and user) id, made for each use and not
   * kept: a pino child holds its bindings and a function per enabled level (~600 bytes), which
   * every idle connection would carry for the one line most of them log at connect.
   */
  get logger(): Logger {
    return this.deps.logger.child(this.identity ? { client: this.id, user: this.identity.user } : { client: this.id });
  }

  get user(): string | undefined {
    return this.identity?.user;
  }

  /** A connect frame arrived: its token is being verified. */
  beginConnect(): void {
    this.current = 'authenticating';
  }

  /**
   * Becomes ready for `identity`; the connection closes with 4001 when the token expires.
   * Called by the registry (connection-registry.ts), which counts the user's connections.
   */
  markReady(identity: Identity): void {
    this.readyIdentity = identity;
    this.current = 'ready';
    this.clearDeadline();
    this.deadlineSlot = this.deps.deadlines.add(this, identity.expiresAt * 1000);
  }

  /** The deadline set in the constructor or by `markReady` has come (called by the deadline wheel). */
  deadlinePassed(): void {
    this.deadlineSlot = undefined;
    if (this.current === 'connecting' || this.current === 'authenticating') this.close('CONNECT_TIMEOUT', 'connect not sent in time');
    else if (this.current === 'ready') this.close('BAD_TOKEN', 'token expired');
  }

  private clearDeadline(): void {
    if (this.deadlineSlot === undefined) return;
    this.deps.deadlines.remove(this, this.deadlineSlot);
    this.deadlineSlot = undefined;
  }

  /** An engine-bound command started; `commandFinished` must follow. */
  commandStarted(): void {
    this.pending += 1;
  }

  commandFinished(): void {
    this.pending -= 1;
  }

  /** Any frame or pong from the client. */
  markAlive(): void {
    this.alive = true;
  }

  /**
   * One ping interval passed: a client that has not answered the previous ping is terminated,
   * any other is pinged again.
   */
  heartbeat(): void {
    if (!this.alive) {
      this.logger.info('no pong since the last ping; terminating');
      this.ws.terminate();
      return;
    }
    this.alive = false;
    this.ws.ping();
  }

  takePublishToken(): boolean {
    const { limits } = this.deps.config;
    this.publishBucket ??= new TokenBucket({ ratePerSec: limits.publishRatePerSec, burst: limits.publishBurst, now: this.deps.now });
    return this.publishBucket.take();
  }

  /** Subscribe and unsubscribe share one bucket: churn between them is what it meters. */
  takeSubscribeToken(): boolean {
    const { limits } = this.deps.config;
    this.subscribeBucket ??= new TokenBucket({ ratePerSec: limits.subscribeRatePerSec, burst: limits.subscribeBurst, now: this.deps.now });
    return this.subscribeBucket.take();
  }

  /**
   * Starts a history read whose reply may take `replyBytes`: counts it against
   * `limits.historyReadsPerConnection` and reserves the bytes against the outbound cap before
   * any work is done, so replies that could not be queued are never read. A reservation does
   * not count toward the 4008 close (it is not queued yet); it only keeps further reads from
   * starting. `finishHistoryRead` must follow. Returns why it cannot start, or undefined.
   */
  startHistoryRead(replyBytes: number): 'too-many' | 'queue-full' | undefined {
    if (this.historyReads >= this.deps.config.limits.historyReadsPerConnection) return 'too-many';
    if (this.queuedBytes + this.reservedBytes + replyBytes > this.deps.config.limits.outboundQueueBytes) return 'queue-full';
    this.historyReads += 1;
    this.reservedBytes += replyBytes;
    return undefined;
  }

  finishHistoryRead(replyBytes: number): void {
    this.historyReads -= 1;
    this.reservedBytes -= replyBytes;
  }

  /**
   * Resolves true once `bytes` more fit under the outbound cap (the client read what was
   * queued), false if the connection closes first. Used to send a long recovery page by page.
   * Waits on the socket's 'drain' when one will come, else re-checks after `drainRecheckMs`.
   */
  async whenWritable(bytes: number): Promise<boolean> {
    const cap = this.deps.config.limits.outboundQueueBytes;
    while (this.open) {
      if (this.queuedBytes + bytes <= cap) return true;
      const socket = (this.ws as unknown as { _socket?: NodeJS.WritableStream & { writableNeedDrain?: boolean } })._socket;
      await new Promise<void>((resolve) => {
        if (!socket?.writableNeedDrain) {
          setTimeout(resolve, drainRecheckMs);
          return;
        }
        const done = (): void => {
          socket.off('drain', done);
          this.ws.off('close', done);
          resolve();
        };
        socket.once('drain', done);
        this.ws.once('close', done);
      });
    }
    return false;
  }

  /** Bytes written or batched that the client has not read yet. */
  get queuedBytes(): number {
    return this.ws.bufferedAmount + this.batchBytes;
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
    if (this.raw) return this.sendShared(frameText(Buffer.from(text)));
    if (!this.admit(Buffer.byteLength(text))) return false;
    this.ws.send(text);
    return true;
  }

  /** Writes a frame shared by many connections (see ws-frame.ts), coalesced with this turn's others. */
  sendShared(shared: SharedFrame): boolean {
    if (!this.admit(shared.bytes)) return false;
    if (!this.raw) {
      this.ws.send(shared.payload, asText);
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
      this.deps.writes.atEndOfTurn(this);
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
    if (this.ws.readyState === this.ws.OPEN) this.deps.writes.write(this.raw!, batch);
    // Not kept for the next turn: an idle connection would hold the array and its backing store.
    this.batch = undefined;
    this.batchBytes = 0;
  }

  /** The end of the event-loop turn: writes the batch; the next frame queues a new flush. */
  endTurn(): void {
    this.flushQueued = false;
    this.flushBatch();
  }

  /** The end-of-turn write threw: the socket is in an unknown state, so it is cut. */
  writeFailed(error: unknown): void {
    this.logger.error({ err: error }, 'write failed; closing the connection');
    this.open = false;
    this.ws.terminate();
  }

  /** Checks the outbound cap for `bytes` more (closing with 4008 past it) and counts them. */
  private admit(bytes: number): boolean {
    if (!this.open) return false;
    if (this.queuedBytes + bytes > this.deps.config.limits.outboundQueueBytes) {
      this.close('SLOW_CONSUMER', 'slow consumer');
      return false;
    }
    this.deps.metrics.countOut(1, bytes);
    return true;
  }

  /** Sends an error frame; protocol violations also count toward the 4400 close. */
  sendError(code: ErrorCode, message: string, id?: number, { violation = false, retryAfterMs }: { violation?: boolean; retryAfterMs?: number } = {}): void {
    this.deps.metrics.errors.inc({ code });
    const frame: Record<string, unknown> = id === undefined ? { op: 'error', code, message } : { op: 'error', id, code, message };
    if (retryAfterMs !== undefined) frame.retryAfterMs = retryAfterMs;
    this.send(frame);
    if (violation && this.violated()) this.close('PROTOCOL_VIOLATIONS', 'too many protocol violations');
  }

  /** Sends the error for anything thrown while serving a command. */
  fail(error: unknown, id?: number): void {
    const gatewayError = toGatewayError(error);
    if (gatewayError.code === 'INTERNAL') this.logger.error({ err: error }, 'command failed');
    else if (gatewayError.code === 'UNAVAILABLE') this.logger.warn({ err: error }, 'engine unavailable');
    const violation = gatewayError.code === 'BAD_REQUEST' || gatewayError.code === 'RATE_LIMITED';
    this.sendError(gatewayError.code, gatewayError.message, id, { violation, retryAfterMs: gatewayError.retryAfterMs });
  }

  /** Closes with a registered close code; later writes are refused. Idempotent. */
  close(reason: CloseReason, text: string): void {
    if (!this.open) return;
    this.open = false;
    const { code } = closeCodes[reason];
    this.deps.metrics.disconnects.inc({ code: String(code) });
    this.logger.info({ code, reason: text }, 'closing connection');
    // Frames admitted before the close go out first (a 4008 batch is within the cap).
    this.flushBatch();
    // For a slow consumer the close frame queues behind its backlog; a client that never
    // reads it is cut when ws's close timeout (30 s) passes, so the socket cannot linger.
    this.ws.close(code, text);
  }

  /** Called once when the socket has closed: drops its deadline. */
  dispose(): void {
    this.current = 'closed';
    this.open = false;
    this.clearDeadline();
    this.flushBatch();
  }
}
