/**
 * HTTP on the gateway's port: the server API (bearer API key), health, readiness and load
 * (metrics have their own listener, metrics-server.ts). Bodies are capped at
 * `limits.maxMessageBytes` and `limits.maxJsonDepth`; every error is JSON
 * `{"error":{"code","message"}}` with a code from errors.ts. The server API's publish,
 * presence and history are operations.ts's, as over WebSocket; this file parses the request.
 */
import { timingSafeEqual, createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { AiService } from './ai/service.ts';
import type { GatewayConfig } from './config.ts';
import type { Engine } from './engine/types.ts';
import { gatewayError, toGatewayError } from './errors.ts';
import type { GatewayMetrics, LoadReport } from './metrics.ts';
import type { Operations } from './operations.ts';
import { parseJson, parsePublish } from './protocol.ts';
import { validateRoom } from './rooms.ts';
import { isNotifyPath, serveNotifyHttp, type Notifier } from './notify/index.ts';
import { parseShedInstruction, type ShedInstruction, type ShedLimits, type ShedState } from './rebalance.ts';
import { parseReconnectTargets, type ReconnectTargets } from './reconnect-targets.ts';

export interface HttpApiDeps {
  config: GatewayConfig;
  /** For readiness only. */
  engine: Engine;
  operations: Operations;
  metrics: GatewayMetrics;
  logger: Logger;
  draining(): boolean;
  load(): LoadReport;
  /** Present when AI is configured: serves /v1/rooms/{room}/sentiment and /v1/ai/usage. */
  ai?: AiService;
  /** Extra routes (dev mode: the demo page and its token endpoint), tried first. */
  extraRoutes?: (req: IncomingMessage, res: ServerResponse, url: URL) => boolean | Promise<boolean>;
  /** Serves the notification routes (docs/notifications.md); absent when notify.enabled is false. */
  notifier?: Notifier;
  /** Rebalancing (rebalance.ts): POST /v1/admin/shed sets an instruction, GET reads it. */
  shed: { instruct(instruction: ShedInstruction): ShedState; state(): ShedState; limits: ShedLimits };
  /** Planned maintenance (reconnect-targets.ts): POST /v1/admin/reconnect-targets sets where a drain sends clients, GET reads it. */
  reconnectTargets: ReconnectTargets;
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
  res.end(text);
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

/**
 * The API key on the operator's path: a Kubernetes API server consumes `Authorization` (it
 * carries the cluster credential) and never forwards it through pods/proxy, so the operator
 * sends the key in this header instead.
 */
export const API_KEY_HEADER = 'x-meridian-api-key';

/** Constant-time API key check (hashing first makes lengths equal, so no length leak either). */
function hasApiKey(req: IncomingMessage, apiKey: string | undefined): boolean {
  if (!apiKey) return false;
  const header = req.headers.authorization ?? '';
  const match = /^Bearer (.+)$/.exec(header);
  const presented = match?.[1] ?? req.headers[API_KEY_HEADER];
  if (typeof presented !== 'string' || presented === '') return false;
  return timingSafeEqual(sha256(presented), sha256(apiKey));
}

async function readJsonBody(req: IncomingMessage, maxBytes: number, maxDepth: number): Promise<unknown> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > maxBytes) throw gatewayError('TOO_LARGE', `body larger than ${maxBytes} bytes`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBytes) throw gatewayError('TOO_LARGE', `body larger than ${maxBytes} bytes`);
    chunks.push(chunk);
  }
  return parseJson(Buffer.concat(chunks).toString('utf8'), maxDepth, 'body');
}

export function createHttpHandler(deps: HttpApiDeps): (req: IncomingMessage, res: ServerResponse) => void {
  const { config, engine, operations, metrics } = deps;
  const maxRoom = config.limits.maxRoomNameLength;

  const requireKey = (req: IncomingMessage): void => {
    if (!hasApiKey(req, config.apiKey)) throw gatewayError('UNAUTHORIZED', config.apiKey ? 'missing or wrong API key (Authorization: Bearer <key>)' : 'server API disabled: no apiKey configured');
  };
  const requireMethod = (req: IncomingMessage, method: string): void => {
    if (req.method !== method) throw gatewayError('METHOD_NOT_ALLOWED', `use ${method}`);
  };

  async function route(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    if (deps.extraRoutes && (await deps.extraRoutes(req, res, url))) return;
    const path = url.pathname;
    if (path === '/healthz') return sendJson(res, 200, { ok: true });
    if (path === '/readyz') {
      const health = engine.health();
      const ready = !deps.draining() && health.healthy;
      return sendJson(res, ready ? 200 : 503, { ready, draining: deps.draining(), engine: health.healthy ? 'ok' : health.reason });
    }
    if (path === '/loadz') return sendJson(res, 200, deps.load());
    if (path === '/v1/publish') {
      requireMethod(req, 'POST');
      requireKey(req);
      return publish(req, res);
    }
    if (path === '/v1/admin/shed') {
      requireKey(req);
      if (req.method === 'GET') return sendJson(res, 200, deps.shed.state());
      requireMethod(req, 'POST');
      const body = await readJsonBody(req, config.limits.maxMessageBytes, config.limits.maxJsonDepth);
      return sendJson(res, 200, deps.shed.instruct(parseShedInstruction(body, deps.shed.limits)));
    }
    if (path === '/v1/admin/reconnect-targets') {
      requireKey(req);
      if (req.method === 'GET') return sendJson(res, 200, deps.reconnectTargets.state());
      requireMethod(req, 'POST');
      const body = await readJsonBody(req, config.limits.maxMessageBytes, config.limits.maxJsonDepth);
      return sendJson(res, 200, deps.reconnectTargets.set(parseReconnectTargets(body, config.drain.maxReconnectEndpoints)));
    }
    if (path === '/v1/ai/usage' || /^\/v1\/rooms\/[^/]+\/sentiment$/.test(path)) return aiRoute(req, res, url);
    const roomRoute = /^\/v1\/rooms\/([^/]+)\/(presence|history)$/.exec(path);
    if (roomRoute) {
      requireMethod(req, 'GET');
      requireKey(req);
      const room = validateRoom(safeDecode(roomRoute[1]), maxRoom);
      if (roomRoute[2] === 'presence') return sendJson(res, 200, await operations.presence(room));
      const limit = intParam(url, 'limit', 1, config.history.maxRecover);
      const since = intParam(url, 'since', 0, Number.MAX_SAFE_INTEGER);
      // Nothing is encoded for a client that hung up while history was read.
      const view = await operations.history(room, { limit, since }, () => !req.socket.destroyed);
      if (view) sendJson(res, 200, view);
      return;
    }
    if (deps.notifier && isNotifyPath(path)) {
      requireKey(req);
      const readBody = () => readJsonBody(req, config.limits.maxMessageBytes, config.limits.maxJsonDepth);
      const reply = await serveNotifyHttp(deps.notifier, req, url, readBody, maxRoom);
      return sendJson(res, reply.status, reply.body);
    }
    throw gatewayError('NOT_FOUND', 'no such route');
  }

  async function publish(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readJsonBody(req, config.limits.maxMessageBytes, config.limits.maxJsonDepth);
    if (typeof body !== 'object' || body === null || Array.isArray(body)) throw gatewayError('BAD_REQUEST', 'body must be a JSON object {room, data, mid?}');
    sendJson(res, 200, await operations.publish(parsePublish(body as Record<string, unknown>, maxRoom)));
  }

  /** AI reads for dashboards, behind the API key: a room's rolling sentiment and today's spend. */
  async function aiRoute(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    requireMethod(req, 'GET');
    requireKey(req);
    if (!deps.ai) throw gatewayError('UNAVAILABLE', 'ai is not enabled on this gateway');
    if (url.pathname === '/v1/ai/usage') {
      const user = url.searchParams.get('user') ?? undefined;
      return sendJson(res, 200, await deps.ai.usage(user));
    }
    const room = validateRoom(safeDecode(url.pathname.split('/')[3]), maxRoom);
    return sendJson(res, 200, await deps.ai.rooms.sentiment(room));
  }

  return (req, res) => {
    const url = requestUrl(req);
    if (!url) {
      metrics.errors.inc({ code: 'BAD_REQUEST' });
      return sendJson(res, 400, { error: { code: 'BAD_REQUEST', message: 'the request target is not a valid URL' } });
    }
    route(req, res, url).catch((error: unknown) => {
      const failure = toGatewayError(error);
      metrics.errors.inc({ code: failure.code });
      if (failure.code === 'INTERNAL') deps.logger.error({ err: error, path: url.pathname }, 'http request failed');
      if (res.headersSent) {
        res.destroy();
        return;
      }
      // Stop reading an oversized body, but let the reply reach the client first.
      if (failure.code === 'TOO_LARGE') res.setHeader('connection', 'close');
      sendJson(res, failure.httpStatus, { error: { code: failure.code, message: failure.message } });
    });
  };
}

/**
 * The request's URL, or undefined when the request target does not parse (`GET //[`): the
 * parser accepts such targets, and `new URL` throwing there would crash the process.
 */
export function requestUrl(req: IncomingMessage): URL | undefined {
  return URL.parse(req.url ?? '/', 'http://gateway') ?? undefined;
}

function safeDecode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw gatewayError('BAD_REQUEST', 'room is not valid percent-encoding');
  }
}

function intParam(url: URL, name: string, min: number, max: number): number | undefined {
  const raw = url.searchParams.get(name);
  if (raw === null) return undefined;
  const value = Number(raw);
  if (!/^\d+$/.test(raw) || !Number.isSafeInteger(value) || value < min || value > max) {
    throw gatewayError('BAD_REQUEST', `${name} must be an integer between ${min} and ${max}`);
  }
  return value;
}
