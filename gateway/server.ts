/**
 * The gateway: node:http plus ws (noServer) on one port. WebSocket upgrades at /v1/ws, HTTP
 * routes from http-api.ts. It takes an Engine and assumes nothing about other pods: every
 * cross-connection effect (publish, presence, history) goes through the engine.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import { AiService } from './ai/service.ts';
import { createTokenVerifier, type TokenVerifier } from './auth.ts';
import { CommandHandler } from './commands.ts';
import type { GatewayConfig } from './config.ts';
import { Connection } from './connection.ts';
import type { Engine } from './engine/types.ts';
import { createHttpHandler, requestUrl, sendJson } from './http-api.ts';
import { Hub } from './hub.ts';
import { GatewayMetrics } from './metrics.ts';
import { PresenceTracker } from './presence-tracker.ts';

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
  /** Overrides the AI service built from config.ai (benchmarks). */
  ai?: AiService;
}

export interface Gateway {
  readonly port: number;
  readonly metrics: GatewayMetrics;
  readonly hub: Hub;
  readonly connections: ReadonlySet<Connection>;
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

export function createGateway(options: GatewayOptions): Gateway {
  const { config, engine, logger } = options;
  const now = options.now ?? Date.now;
  const metrics = new GatewayMetrics({ processMetrics: options.processMetrics });
  metrics.observeEngine(engine);
  const connections = new Set<Connection>();
  const readyByUser = new Map<string, number>();
  let draining = false;
  let server: Server | undefined;
  /** Set while drain waits for the last connection to close. */
  let onEmpty: (() => void) | undefined;

  const verifier = options.verifier ?? createTokenVerifier(config.jwt);
  const hub = new Hub({ engine, metrics, logger, maxRecover: config.history.maxRecover, subscribeBatchSize: config.limits.subscribeBatchSize, now });
  const presence = new PresenceTracker({
    engine,
    logger,
    region: config.region,
    refreshMs: config.presence.refreshMs,
    joinLeaveMaxMembers: config.presence.joinLeaveMaxMembers,
    connections: () => connections,
    localMembers: (room) => hub.localSubscribers(room),
  });
  const ai =
    options.ai ??
    (config.ai
      ? new AiService({ config: config.ai, engine, logger, registry: metrics.registry, region: config.region, maxRoomNameLength: config.limits.maxRoomNameLength, maxHistory: config.history.maxRecover, now })
      : undefined);
  const commands = new CommandHandler({
    ai,
    config,
    engine,
    hub,
    presence,
    verifier,
    metrics,
    now,
    userConnections: (user) => readyByUser.get(user) ?? 0,
    onReady: (conn) => readyByUser.set(conn.user!, (readyByUser.get(conn.user!) ?? 0) + 1),
  });

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
    conn.alive = true;
    metrics.countIn(rawLength(data));
    if (isBinary) {
      conn.sendError('BAD_REQUEST', 'binary frames are not supported; send JSON text frames', undefined, { violation: true });
      return;
    }
    commands.handleFrame(conn, rawText(data));
  }

  function onPong(this: WebSocket): void {
    connectionOf(this).alive = true;
  }

  function onError(this: WebSocket, error: Error & { code?: string }): void {
    // ws closes the socket itself after a protocol error (1009 for maxPayload, 1007, 1002 …).
    if (error.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') metrics.disconnects.inc({ code: '1009' });
    connectionOf(this).logger.info({ code: error.code }, 'websocket protocol error');
  }

  function onClose(this: WebSocket, code: number): void {
    const conn = connectionOf(this);
    conn.logger.debug({ code }, 'connection closed');
    connections.delete(conn);
    metrics.connections.set(connections.size);
    if (connections.size === 0) onEmpty?.();
    if (conn.state === 'ready' && conn.user) {
      const left = (readyByUser.get(conn.user) ?? 1) - 1;
      if (left > 0) readyByUser.set(conn.user, left);
      else readyByUser.delete(conn.user);
    }
    conn.dispose();
    commands.closed(conn).catch((error: unknown) => conn.logger.warn({ err: error }, 'cleanup after close failed'));
  }

  const connectionDeps = { config, metrics, logger, now };

  function accept(ws: WebSocket): void {
    const conn = new Connection(ws, connectionDeps);
    (ws as unknown as Record<symbol, Connection>)[kConnection] = conn;
    connections.add(conn);
    metrics.connections.set(connections.size);
    ws.on('message', onMessage);
    ws.on('pong', onPong);
    ws.on('error', onError);
    ws.on('close', onClose);
    if (connections.size > config.limits.maxConnections) {
      conn.close('CONNECTION_LIMIT', `node is at ${config.limits.maxConnections} connections`);
    }
  }

  function upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const path = requestUrl(req)?.pathname;
    if (path !== wsPath || draining) {
      const status = draining ? '503 Service Unavailable' : path === undefined ? '400 Bad Request' : '404 Not Found';
      socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
      return;
    }
    wss.handleUpgrade(req, socket, head, accept);
  }

  const pingTimer = setInterval(() => {
    for (const conn of connections) {
      if (!conn.alive) {
        conn.logger.info('no pong since the last ping; terminating');
        conn.ws.terminate();
        continue;
      }
      conn.alive = false;
      conn.ws.ping();
    }
  }, config.pingIntervalMs);
  pingTimer.unref();
  const positionTimer = config.history.positionCheckMs > 0 ? setInterval(() => hub.checkPositions(), config.history.positionCheckMs) : undefined;
  positionTimer?.unref();

  const load = () => metrics.load({ connections: connections.size, rooms: hub.roomCount, draining });
  const httpHandler = createHttpHandler({ config, engine, metrics, logger, now, ai, draining: () => draining, load, extraRoutes: options.extraRoutes });

  async function closeServer(): Promise<void> {
    clearInterval(pingTimer);
    clearInterval(positionTimer);
    presence.stop();
    metrics.close();
    if (server?.listening) await new Promise<void>((resolve) => server!.close(() => resolve()));
    server?.closeAllConnections();
  }

  const gateway: Gateway = {
    get port() {
      return (server?.address() as AddressInfo | null)?.port ?? 0;
    },
    metrics,
    hub,
    connections,
    ai,
    get draining() {
      return draining;
    },
    async start() {
      await engine.start({
        publication: (pub) => hub.onPublication(pub),
        roomEvent: (room, event) => hub.onRoomEvent(room, event),
        resynced: (rooms) => hub.onResynced(rooms),
      });
      presence.start();
      server = createServer({ headersTimeout: config.limits.httpHeadersTimeoutMs, requestTimeout: config.limits.httpRequestTimeoutMs }, (req, res) => {
        if (draining && req.url === wsPath) return sendJson(res, 503, { error: { code: 'DRAINING', message: 'draining' } });
        httpHandler(req, res);
      });
      server.on('upgrade', upgrade);
      await new Promise<void>((resolve, reject) => {
        server!.once('error', reject);
        server!.listen(config.port, config.host, () => {
          server!.off('error', reject);
          resolve();
        });
      });
      logger.info({ port: gateway.port, host: config.host, engine: engine.name }, 'gateway listening');
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
      for (let i = 0; i < batches; i += 1) {
        for (const conn of targets.slice(i * batchSize, (i + 1) * batchSize)) conn.close('DRAINING', 'server draining; reconnect');
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

function rawLength(data: RawData): number {
  if (Array.isArray(data)) return data.reduce((n, b) => n + b.length, 0);
  return (data as Buffer | ArrayBuffer).byteLength;
}

function rawText(data: RawData): string {
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  if (data instanceof ArrayBuffer) return Buffer.from(data).toString('utf8');
  return data.toString('utf8');
}
