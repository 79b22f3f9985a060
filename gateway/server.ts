/**
 * The gateway: node:http plus ws (noServer) on one public port. WebSocket upgrades at /v1/ws,
 * HTTP routes from http-api.ts; metrics on their own listener (metrics-server.ts). It takes an
 * Engine and assumes nothing about other pods: every cross-connection effect (publish,
 * presence, history) goes through the engine.
 *
 * Admission bounds on the public port: sockets that have not sent `connect` are capped apart
 * from connected ones (anonymous-sockets.ts); HTTP requests per keep-alive socket
 * (`limits.httpMaxRequestsPerSocket`) and in progress node-wide
 * (`limits.httpMaxConcurrentRequests`) are capped, so pipelining cannot pile up work.
 */
import { createServer, STATUS_CODES, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import { AiService } from './ai/service.ts';
import { createTokenVerifier, type TokenVerifier } from './auth.ts';
import { CommandHandler } from './commands.ts';
import type { GatewayConfig } from './config.ts';
import { parseRedisUrl } from './engine/redis-connection.ts';
import { ConnectionRegistry } from './connection-registry.ts';
import { Connection } from './connection.ts';
import type { Engine } from './engine/types.ts';
import { errorCodes, type ErrorCode } from './errors.ts';
import { createHttpHandler, requestUrl, sendJson } from './http-api.ts';
import { Hub } from './hub.ts';
import { SubscribeGate } from './subscribe-gate.ts';
import { DeadlineWheel } from './deadline-wheel.ts';
import { createMetricsServer } from './metrics-server.ts';
import { GatewayMetrics } from './metrics.ts';
import { historyPageBytes, Operations } from './operations.ts';
import { PresenceEvents } from './presence-events.ts';
import { PresenceTracker } from './presence-tracker.ts';
import { ReconnectTargets } from './reconnect-targets.ts';
import { Shedder } from './rebalance.ts';
import { SpreadRound } from './spread-round.ts';
import { WriteScheduler } from './write-scheduler.ts';
import type { RelayLoad } from './relay/relay.ts';
import { createNotifier, parseRoomRules, withRoomRules, type Notifier, type NotifyOverrides } from './notify/index.ts';

export interface GatewayOptions {
  config: GatewayConfig;
  engine: Engine;
  logger: Logger;
  now?: () => number;
  /** Overrides the verifier built from config.jwt (tests, dev mode). */
  verifier?: TokenVerifier;
  /** Extra HTTP routes tried before the built-in ones (dev mode's demo page). */
  extraRoutes?: (req: IncomingMessage, res: ServerResponse, url: URL) => boolean | Promise<boolean>;
  processMetrics?: boolean;
  /** Overrides the start-up check of ws's internals (tests of the `ws.send` fallback). */
  checkWsInternals?: () => readonly string[];
  /** Adds metrics of components built before the gateway (the relay) to its registry. */
  registerMetrics?: (registry: Registry) => void;
  /** The relay's state and lag for /loadz (absent without a relay). */
  relayLoad?: () => RelayLoad;
  /** Overrides the AI service built from config.ai (benchmarks). */
  ai?: AiService;
  /** Clock, randomness, store or push TLS agent of the notification module (tests, benchmarks). */
  notify?: NotifyOverrides;
}

export interface Gateway {
  readonly port: number;
  /** Port of the metrics listener (GET /metrics). */
  readonly metricsPort: number;
  readonly metrics: GatewayMetrics;
  readonly hub: Hub;
  readonly connections: ReadonlySet<Connection>;
  /** The notification module (docs/notifications.md); absent when notify.enabled is false. */
  readonly notifier?: Notifier;
  readonly draining: boolean;
  /** Present when config.ai is set. */
  readonly ai?: AiService;
  start(): Promise<void>;
  /** Refuses new connections, closes existing ones with 1012 over drain.windowMs, then closes. */
  drain(): Promise<void>;
  /** Closes everything at once (1001 to clients). */
  close(): Promise<void>;
}

const wsPath = '/v1/ws';
const kConnection = Symbol('meridian.connection');
/** Probes are answered at once and must reach the pod even while requests are capped. */
const probePaths = new Set(['/healthz', '/readyz']);
/** Retry-After on 503 OVERLOADED for HTTP requests: work in progress ends within moments. */
const httpRetryAfterSec = 1;
/**
 * Tick of the deadline wheel shared by all connections (connect deadlines, token expiries): a
 * deadline fires at most this much late. A shorter connect timeout ticks at its own length.
 */
export const sharedTimerTickMs = 1000;
/**
 * Tick of the rounds that visit every connection once per interval (heartbeats, presence
 * refreshes), each tick doing tick/interval of a round's work. Short, so that a tick stays
 * short: at 19,000 connections and 25 s intervals a 1 s tick wrote 760 pings and made 760
 * presence calls in one turn, 8–12 ms of busy loop every second (bench/profile-summary.ts
 * --long-turns), the longest recurring turn and so the loop's lag and delivery p99; at 50 ms
 * a tick is 38 of each (under 1 ms). Shorter configured intervals tick at their own length.
 */
export const spreadTickMs = 50;

export function createGateway(options: GatewayOptions): Gateway {
  const { config, engine, logger } = options;
  const now = options.now ?? Date.now;
  const metrics = new GatewayMetrics({ processMetrics: options.processMetrics });
  metrics.observeEngine(engine);
  const registry = new ConnectionRegistry({ ...config.limits, now });
  const connections = registry.connections;
  metrics.observeAnonymousSockets(() => registry.anonymousCount);
  const writes = WriteScheduler.checked(logger, options.checkWsInternals);
  options.registerMetrics?.(metrics.registry);
  let httpInFlight = 0;
  const requestsPerSocket = new WeakMap<object, number>();
  const metricsServer = createMetricsServer(config, metrics, logger);
  let draining = false;
  let server: Server | undefined;
  /** Set while drain waits for the last connection to close. */
  let onEmpty: (() => void) | undefined;

  const verifier = options.verifier ?? createTokenVerifier(config.jwt);
  const hub = new Hub({
    engine,
    metrics,
    logger,
    maxRecover: config.history.maxRecover,
    recoveryPageBytes: historyPageBytes(config),
    roomsPerConnection: config.limits.roomsPerConnection,
    historyRetry: { retries: config.history.repairRetries, initialMs: config.history.repairRetryInitialMs, maxMs: config.history.repairRetryMaxMs },
    now,
  });
  // The notification queue's scripts span keys of several slots, so it needs one Redis: on a
  // Redis Cluster notifications stay off, said once, rather than failing the gateway's start.
  const onCluster = config.redisUrl !== undefined && parseRedisUrl(config.redisUrl).kind === 'cluster';
  if (config.notify.enabled && onCluster && !options.notify?.store) {
    logger.warn('notifications are off: their queue needs a single Redis, and MERIDIAN_REDIS_URL names a Redis Cluster (docs/notifications.md)');
  }
  const notifier = config.notify.enabled && (!onCluster || options.notify?.store) ? createNotifier(config, engine, logger, { now, ...options.notify }) : undefined;
  notifier?.metrics.register(metrics.registry);
  const ruleEngine = notifier ? withRoomRules(engine, notifier, parseRoomRules(config.notify.roomRules), (error, room) => logger.warn({ err: error, room }, 'room rule notification failed')) : engine;
  const operations = new Operations({ config, engine: ruleEngine, now, stored: (pub) => hub.onStored(pub) });
  const presence = new PresenceTracker({
    engine,
    logger,
    region: config.region,
    refreshMs: config.presence.refreshMs,
    tickMs: spreadTickMs,
    joinLeaveMaxMembers: config.presence.joinLeaveMaxMembers,
    connections: () => connections,
    subscribedRooms: (conn) => hub.subscribedRooms(conn),
    localMembers: (room) => hub.localSubscribers(room),
  });
  const presenceEvents = new PresenceEvents({ windowMs: config.presence.eventWindowMs, push: (room, event) => hub.onRoomEvent(room, event) });
  const ai =
    options.ai ??
    (config.ai
      ? new AiService({ config: config.ai, engine, logger, registry: metrics.registry, region: config.region, maxRoomNameLength: config.limits.maxRoomNameLength, maxHistory: config.history.maxRecover, now })
      : undefined);
  const subscribeGate = new SubscribeGate({ inFlight: config.limits.subscribesInFlight, queueLength: config.limits.subscribeQueueLength, retryAfterMs: config.limits.subscribeRetryAfterMs });
  const commands = new CommandHandler({ config, operations, hub, presence, verifier, connections: registry, ai, notifier, subscribeGate });

  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: config.limits.maxMessageBytes,
    perMessageDeflate: config.perMessageDeflate,
    clientTracking: false,
  });

  // Socket handlers are shared by every connection (found through the socket) rather than
  // made per connection: closures are a sizeable part of an idle connection's heap.
  const connectionOf = (ws: WebSocket): Connection => (ws as unknown as Record<symbol, Connection>)[kConnection];

  function onMessage(this: WebSocket, data: RawData, isBinary: boolean): void {
    const conn = connectionOf(this);
    conn.markAlive();
    metrics.countIn(rawLength(data));
    if (isBinary) {
      conn.sendError('BAD_REQUEST', 'binary frames are not supported; send JSON text frames', undefined, { violation: true });
      return;
    }
    commands.handleFrame(conn, rawText(data));
  }

  function onPong(this: WebSocket): void {
    connectionOf(this).markAlive();
  }

  function onError(this: WebSocket, error: Error & { code?: string }): void {
    // ws closes the socket itself after a protocol error (1009 for maxPayload, 1007, 1002 …).
    if (error.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') metrics.disconnects.inc({ code: '1009' });
    connectionOf(this).logger.info({ code: error.code }, 'websocket protocol error');
  }

  function onClose(this: WebSocket, code: number): void {
    const conn = connectionOf(this);
    conn.logger.debug({ code }, 'connection closed');
    registry.remove(conn);
    metrics.connections.set(connections.size);
    if (connections.size === 0) onEmpty?.();
    conn.dispose();
    commands.closed(conn).catch((error: unknown) => conn.logger.warn({ err: error }, 'cleanup after close failed'));
  }

  // One timer for every connection's connect deadline and token expiry.
  const deadlines = new DeadlineWheel<Connection>({
    resolutionMs: Math.min(sharedTimerTickMs, config.limits.connectTimeoutMs),
    now,
    fire: (conn) => conn.deadlinePassed(),
  });
  const connectionDeps = { config, metrics, logger, now, writes, deadlines };

  // limits.maxConnections counts connected sockets and is checked at `connect` (commands.ts);
  // a new socket counts as anonymous until then.
  function accept(ws: WebSocket, address: string): void {
    const conn = new Connection(ws, connectionDeps);
    (ws as unknown as Record<symbol, Connection>)[kConnection] = conn;
    registry.add(conn, address);
    metrics.connections.set(connections.size);
    ws.on('message', onMessage);
    ws.on('pong', onPong);
    ws.on('error', onError);
    ws.on('close', onClose);
  }

  function upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const path = requestUrl(req)?.pathname;
    if (path !== wsPath || draining) {
      const status = draining ? '503 Service Unavailable' : path === undefined ? '400 Bad Request' : '404 Not Found';
      socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
      return;
    }
    const address = req.socket.remoteAddress ?? '';
    const refusal = registry.refusal(address);
    if (refusal) {
      metrics.refusals.inc({ reason: refusal.reason });
      // Sockets already waiting have connected or been closed within the connect timeout.
      refuseUpgrade(socket, refusal.code, refusal.message, Math.ceil(config.limits.connectTimeoutMs / 1000));
      return;
    }
    // handleUpgrade calls back synchronously once the handshake is written, or never (a bad
    // handshake), so the address is counted only for sockets that exist.
    wss.handleUpgrade(req, socket, head, (ws) => accept(ws, address));
  }

  /**
   * Serves one public HTTP request within limits.httpMaxRequestsPerSocket and
   * limits.httpMaxConcurrentRequests (probes excepted from the latter). Requests pipelined
   * past the per-socket cap never reach this handler: Node ends each at once (server
   * `maxRequestsPerSocket`), which keeps its own backpressure working. The cap-th reply is
   * marked `Connection: close` here as well, because only that makes Node close the socket as
   * soon as the reply is written, dropping what is queued behind it (otherwise the socket
   * stays until a timeout).
   */
  function onRequest(req: IncomingMessage, res: ServerResponse): void {
    const served = (requestsPerSocket.get(req.socket) ?? 0) + 1;
    requestsPerSocket.set(req.socket, served);
    if (served >= config.limits.httpMaxRequestsPerSocket) res.setHeader('connection', 'close');
    if (draining && req.url === wsPath) return sendJson(res, 503, { error: { code: 'DRAINING', message: 'draining' } });
    const path = requestUrl(req)?.pathname;
    if (path === undefined || !probePaths.has(path)) {
      if (httpInFlight >= config.limits.httpMaxConcurrentRequests) {
        metrics.refusals.inc({ reason: 'http_concurrency' });
        metrics.errors.inc({ code: 'OVERLOADED' });
        res.setHeader('retry-after', String(httpRetryAfterSec));
        return sendJson(res, 503, { error: { code: 'OVERLOADED', message: `${config.limits.httpMaxConcurrentRequests} HTTP requests in progress; retry later` } });
      }
      // 'close' comes once the reply is written or the socket is gone, whichever is first.
      httpInFlight += 1;
      res.once('close', () => (httpInFlight -= 1));
    }
    httpHandler(req, res);
  }

  const deadlineTimer = setInterval(() => deadlines.advance(), Math.min(sharedTimerTickMs, config.limits.connectTimeoutMs));
  deadlineTimer.unref();
  // Every connection is pinged once per pingIntervalMs, a share of them per tick, so the
  // writes of 20,000 pings do not all land in one turn of the event loop.
  const pingTickMs = Math.min(spreadTickMs, config.pingIntervalMs);
  const heartbeats = new SpreadRound({ members: () => connections, periodMs: config.pingIntervalMs, tickMs: pingTickMs, visit: (conn: Connection) => conn.heartbeat() });
  const pingTimer = setInterval(() => heartbeats.tick(), pingTickMs);
  pingTimer.unref();
  const positionTimer = config.history.positionCheckMs > 0 ? setInterval(() => hub.checkPositions(), config.history.positionCheckMs) : undefined;
  positionTimer?.unref();

  const load = () => {
    let outboundQueuedBytes = 0;
    for (const conn of connections) outboundQueuedBytes += conn.queuedBytes;
    return metrics.load({ connections: connections.size, rooms: hub.roomCount, draining, outboundQueuedBytes, relay: options.relayLoad?.(), ai: ai?.spendToday.current() });
  };
  const shedder = new Shedder({ limits: config.rebalance, connections: () => connections, draining: () => draining, logger, now });
  const shed = { instruct: shedder.instruct.bind(shedder), state: shedder.state.bind(shedder), limits: config.rebalance };
  const reconnectTargets = new ReconnectTargets();
  const httpHandler = createHttpHandler({ config, engine, operations, metrics, logger, ai, draining: () => draining, load, extraRoutes: options.extraRoutes, notifier, shed, reconnectTargets });

  async function closeServer(): Promise<void> {
    clearInterval(pingTimer);
    shedder.stop();
    clearInterval(deadlineTimer);
    clearInterval(positionTimer);
    presence.stop();
    presenceEvents.stop();
    await notifier?.stop();
    metrics.close();
    await metricsServer.close();
    if (server?.listening) await new Promise<void>((resolve) => server!.close(() => resolve()));
    server?.closeAllConnections();
  }

  const gateway: Gateway = {
    get port() {
      return (server?.address() as AddressInfo | null)?.port ?? 0;
    },
    get metricsPort() {
      return metricsServer.port;
    },
    metrics,
    hub,
    connections,
    ai,
    notifier,
    get draining() {
      return draining;
    },
    async start() {
      await engine.start({
        publication: (pub) => hub.onPublication(pub),
        roomEvent: (room, event) => presenceEvents.add(room, event),
        resynced: (rooms) => hub.onResynced(rooms),
      });
      presence.start();
      await notifier?.start();
      server = createServer({ headersTimeout: config.limits.httpHeadersTimeoutMs, requestTimeout: config.limits.httpRequestTimeoutMs }, onRequest);
      server.maxRequestsPerSocket = config.limits.httpMaxRequestsPerSocket;
      server.on('upgrade', upgrade);
      await new Promise<void>((resolve, reject) => {
        server!.once('error', reject);
        server!.listen({ port: config.port, host: config.host, backlog: config.listenBacklog }, () => {
          server!.off('error', reject);
          resolve();
        });
      });
      await metricsServer.start().catch(async (error: unknown) => {
        await new Promise<void>((resolve) => server!.close(() => resolve()));
        throw error;
      });
      logger.info({ port: gateway.port, host: config.host, metricsPort: metricsServer.port, metricsHost: config.metrics.host, engine: engine.name }, 'gateway listening');
    },
    async drain() {
      if (draining) return;
      draining = true;
      const { windowMs, batchSize, deadlineMs } = config.drain;
      const deadline = now() + deadlineMs;
      const targets = [...connections];
      const batches = Math.ceil(targets.length / batchSize);
      const pause = batches > 1 ? windowMs / batches : 0;
      logger.info({ connections: targets.length, batches, windowMs }, 'draining');
      // Where to go, when the operator said (planned maintenance): pushed just before each close.
      const reconnect = reconnectTargets.frame();
      for (let i = 0; i < batches; i += 1) {
        for (const conn of targets.slice(i * batchSize, (i + 1) * batchSize)) {
          if (reconnect && conn.isOpen) conn.send(reconnect);
          conn.close('DRAINING', 'server draining; reconnect');
        }
        if (i < batches - 1) await new Promise((r) => setTimeout(r, pause));
      }
      if (connections.size > 0) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, Math.max(0, deadline - now()));
          onEmpty = () => {
            clearTimeout(timer);
            resolve();
          };
        });
      }
      if (connections.size > 0) logger.warn({ connections: connections.size }, 'drain deadline passed; terminating the rest');
      for (const conn of connections) conn.ws.terminate();
      await closeServer();
      logger.info('drained');
    },
    async close() {
      draining = true;
      for (const conn of connections) conn.ws.terminate();
      await closeServer();
    },
  };
  return gateway;
}

/** Refuses a WebSocket upgrade before the handshake with a JSON error body and Retry-After. */
function refuseUpgrade(socket: Duplex, code: ErrorCode, message: string, retryAfterSec: number): void {
  const status = errorCodes[code].http;
  const body = JSON.stringify({ error: { code, message } });
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nConnection: close\r\nContent-Type: application/json\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nRetry-After: ${retryAfterSec}\r\n\r\n${body}`,
  );
}

function rawLength(data: RawData): number {
  if (Array.isArray(data)) return data.reduce((n, b) => n + b.length, 0);
  return (data as Buffer | ArrayBuffer).byteLength;
}

function rawText(data: RawData): string {
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  if (data instanceof ArrayBuffer) return Buffer.from(data).toString('utf8');
  return data.toString('utf8');
}
