/**
 * The one registry of error codes and close codes the gateway speaks.
 *
 * Every `{"op":"error"}` frame, every HTTP error body and every close a client can observe uses
 * a name from here; test/gateway-errors-doc.test.ts checks each one is documented in
 * docs/protocol.md, so adding a code means documenting it.
 */

/** Stable upper-case codes carried by `{"op":"error","code":…}` frames and HTTP error bodies. */
export const errorCodes = {
  BAD_REQUEST: { http: 400, summary: 'the frame or request body is malformed or a field is missing or mistyped' },
  UNAUTHORIZED: { http: 401, summary: 'no valid token or API key' },
  FORBIDDEN: { http: 403, summary: "the token's rooms do not allow this room" },
  NOT_FOUND: { http: 404, summary: 'no such HTTP route' },
  METHOD_NOT_ALLOWED: { http: 405, summary: 'the HTTP route exists but not for this method' },
  TOO_LARGE: { http: 413, summary: 'the frame or body exceeds limits.maxMessageBytes' },
  RATE_LIMITED: { http: 429, summary: 'a per-connection rate or in-flight bound is reached (publish or subscribe/unsubscribe token bucket, commands or history reads in flight, outbound queue too full for a history reply); slow down' },
  LIMIT_EXCEEDED: { http: 429, summary: 'a per-connection, per-user or per-address limit is reached (rooms per connection, rooms per user per minute, sockets without connect per address)' },
  ALREADY_SUBSCRIBED: { http: 409, summary: 'the connection is already subscribed to (or subscribing to) the room' },
  NOT_SUBSCRIBED: { http: 409, summary: 'unsubscribe for a room the connection is not subscribed to' },
  ALREADY_CONNECTED: { http: 409, summary: 'a second connect on a connection that is already connected' },
  UNAVAILABLE: { http: 503, summary: 'the engine (history, presence, broker) or the token key server cannot be reached; retry later' },
  STORAGE_FULL: { http: 503, summary: 'the engine has no room to store the message (Redis at maxmemory, or memory.maxRetainedBytes); nothing was stored, retry later with the same mid' },
  DRAINING: { http: 503, summary: 'the gateway is shutting down and refuses new work' },
  OVERLOADED: { http: 503, summary: 'a node-wide bound (sockets without connect, HTTP requests in progress, subscribes in progress and waiting) is reached; retry after Retry-After (HTTP) or retryAfterMs (error frame)' },
  AI_UNAVAILABLE: { http: 503, summary: 'no AI provider could answer (all failed, or every circuit is open and no local provider is configured), or the day\'s spend could not be read (engine down) under onBudgetExceeded reject; `retryable` says whether to try again' },
  AI_STREAM_FAILED: { http: 502, summary: 'the AI provider failed after the answer had started; `retryable` says whether sending the request again may help' },
  AI_TIMEOUT: { http: 504, summary: 'the AI request took longer than ai.requestTimeoutMs' },
  AI_RATE_LIMITED: { http: 429, summary: 'the user sent more than ai.userRequestsPerMinute AI requests' },
  BUDGET_EXCEEDED: { http: 402, summary: 'the daily AI budget (region or user) is spent and ai.onBudgetExceeded is reject' },
  CANCELLED: { http: 499, summary: 'the AI request was cancelled by ai_cancel' },
  NOTHING_TO_CANCEL: { http: 409, summary: 'ai_cancel named an id with no AI request in flight (it may have just finished)' },
  BLOCKED: { http: 422, summary: "moderation refused the message (the room's rule is block), or could not check it in time with onTimeout block" },
  INTERNAL: { http: 500, summary: 'an unexpected server fault; the request may be retried' },
} as const;

export type ErrorCode = keyof typeof errorCodes;

/** WebSocket close codes the gateway (or ws, for 1002/1007/1009) sends, with the client's expected reaction. */
export const closeCodes = {
  PROTOCOL_ERROR: { code: 1002, summary: 'a malformed WebSocket frame (sent by ws itself)' },
  INVALID_UTF8: { code: 1007, summary: 'a text frame that is not valid UTF-8 (sent by ws itself)' },
  TOO_LARGE: { code: 1009, summary: 'a frame exceeded limits.maxMessageBytes' },
  DRAINING: { code: 1012, summary: 'the server is draining; reconnect (with jitter) to another pod' },
  TRY_AGAIN_LATER: { code: 1013, summary: 'the token could not be checked (the key server at jwt.jwksUrl did not answer); reconnect later with the same token' },
  BAD_TOKEN: { code: 4001, summary: 'the token is missing, invalid or expired; get a new one before reconnecting' },
  CONNECT_TIMEOUT: { code: 4003, summary: 'no valid connect frame within limits.connectTimeoutMs' },
  SLOW_CONSUMER: { code: 4008, summary: 'the outbound queue passed limits.outboundQueueBytes; reconnect and recover' },
  CONNECTION_LIMIT: { code: 4009, summary: 'limits.maxConnections (connected sockets) or limits.connectionsPerUser reached' },
  INSUFFICIENT_STATE: { code: 4010, summary: 'messages were lost and cannot be repaired from history; reconnect and resubscribe with recover' },
  PROTOCOL_VIOLATIONS: { code: 4400, summary: 'too many protocol violations (bad frames, rate limit) within limits.violationWindowMs' },
} as const;

export type CloseReason = keyof typeof closeCodes;

/** An error with a stable code, raised anywhere in the gateway and turned into a frame or HTTP body. */
export class GatewayError extends Error {
  readonly code: ErrorCode;
  /** How long the client should wait before trying again, ms: sent as `retryAfterMs` in the error frame. */
  readonly retryAfterMs?: number;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; retryAfterMs?: number }) {
    super(message, options);
    this.name = 'GatewayError';
    this.code = code;
    if (options?.retryAfterMs !== undefined) this.retryAfterMs = options.retryAfterMs;
  }

  get httpStatus(): number {
    return errorCodes[this.code].http;
  }
}

export function gatewayError(code: ErrorCode, message: string, cause?: unknown): GatewayError {
  return new GatewayError(code, message, cause === undefined ? undefined : { cause });
}

/**
 * Maps anything thrown to a GatewayError: engine failures (which carry `code: 'UNAVAILABLE'` or
 * `'STORAGE_FULL'`)
 * keep their code, anything unknown becomes INTERNAL so a client never sees an internal message.
 */
export function toGatewayError(error: unknown): GatewayError {
  if (error instanceof GatewayError) return error;
  const code = (error as { code?: unknown } | null)?.code;
  if (code === 'UNAVAILABLE') return gatewayError('UNAVAILABLE', 'engine unavailable, retry later', error);
  if (code === 'STORAGE_FULL') return gatewayError('STORAGE_FULL', 'engine storage is full, nothing was stored; retry later', error);
  if (code === 'BAD_REQUEST' && error instanceof Error) return gatewayError('BAD_REQUEST', error.message, error);
  return gatewayError('INTERNAL', 'internal error', error);
}
