/**
 * The gateway's configuration fields: one table drives parsing, validation, defaults,
 * environment overrides and the docs (test/gateway-config.test.ts checks every field is in
 * docs/configuration.md).
 */

export type FieldKind = 'int' | 'string' | 'bool' | 'url' | 'enum';

export interface FieldSpec {
  /** Dotted path in the config file, e.g. `limits.maxMessageBytes`. */
  path: string;
  kind: FieldKind;
  /** Absent: the field is optional and stays undefined. */
  default?: number | string | boolean;
  /** Lowest accepted value for `int` fields. */
  min?: number;
  /** Accepted values for `enum` fields. */
  values?: readonly string[];
  /** Environment variable; derived from the path when absent (`limits.maxMessageBytes` → MERIDIAN_LIMITS_MAX_MESSAGE_BYTES). */
  env?: string;
  /** Never printed: logs and error messages show `<redacted>`. */
  secret?: boolean;
  doc: string;
}

export const configFields: readonly FieldSpec[] = [
  { path: 'host', kind: 'string', doc: 'Address the HTTP/WebSocket server listens on. Default `0.0.0.0`; in dev mode (no jwt.secret or jwt.jwksUrl) `127.0.0.1`, so the open dev token endpoint is not reachable from other machines.' },
  { path: 'port', kind: 'int', default: 8080, min: 0, doc: 'TCP port for WebSocket (/v1/ws) and HTTP; 0 picks a free port.' },
  { path: 'region', kind: 'string', default: 'local', doc: 'Region name reported to clients and stamped on publications.' },
  { path: 'node', kind: 'string', doc: 'Node (pod) name reported to clients; defaults to the host name.' },
  { path: 'logLevel', kind: 'enum', default: 'info', values: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], doc: 'pino log level.' },

  { path: 'jwt.secret', kind: 'string', secret: true, doc: 'HS256 secret for client tokens. With neither secret nor jwksUrl the gateway runs in dev mode: it generates a secret, prints a dev token and serves the demo page.' },
  { path: 'jwt.jwksUrl', kind: 'url', doc: 'JWKS URL for RS256/ES256 client tokens (used instead of jwt.secret).' },
  { path: 'jwt.issuer', kind: 'string', doc: 'Required `iss` claim, when set.' },
  { path: 'jwt.audience', kind: 'string', doc: 'Required `aud` claim, when set.' },
  { path: 'jwt.jwksTimeoutMs', kind: 'int', default: 5000, min: 100, doc: 'How long a fetch of the JWKS (jwt.jwksUrl) may take. When the key server does not answer in time, or fails, `connect` answers `UNAVAILABLE` and the socket closes with 1013 (retry later with the same token), not 4001.' },
  { path: 'jwt.clockToleranceSec', kind: 'int', default: 5, min: 0, doc: 'Seconds of clock skew accepted on `exp`/`nbf`.' },
  { path: 'apiKey', kind: 'string', secret: true, doc: 'Bearer key for the server API (/v1/publish, /v1/rooms/…). Unset: the server API answers 401 (dev mode generates one).' },

  { path: 'redisUrl', kind: 'url', doc: 'Redis URL for the regional engine; absent → in-memory engine (single pod).' },
  { path: 'pubsub.project', kind: 'string', doc: 'Google Cloud project of the cross-region relay; absent → no relay. Validated, but no relay runs yet: a gateway started with it logs a warning and publications stay in their region.' },
  { path: 'pubsub.topic', kind: 'string', doc: 'Pub/Sub topic of the cross-region relay; absent → no relay. Validated, but not used yet (see pubsub.project).' },

  { path: 'history.size', kind: 'int', default: 300, min: 1, doc: 'Publications kept per room.' },
  { path: 'history.ttlMs', kind: 'int', default: 600_000, min: 1000, doc: "A room's history (and epoch) expires after this long without a publish." },
  { path: 'history.maxRecover', kind: 'int', default: 300, min: 1, doc: 'Most publications returned by one recovery or history read; a larger gap answers recovered:false.' },
  { path: 'history.idempotencyTtlMs', kind: 'int', default: 120_000, min: 1000, doc: 'How long a publish is remembered by `mid` for idempotent retries.' },
  { path: 'history.positionCheckMs', kind: 'int', default: 40_000, min: 0, doc: 'How often every room with local subscribers is compared with its history, so a lost last message (no later one reveals the gap) is still delivered; 0 turns the check off.' },

  { path: 'presence.ttlMs', kind: 'int', default: 60_000, min: 1000, doc: 'A presence entry expires after this long without a refresh (covers crashed pods).' },
  { path: 'presence.refreshMs', kind: 'int', default: 25_000, min: 100, doc: 'How often each connection refreshes its presence entries.' },
  { path: 'presence.maxMembers', kind: 'int', default: 1000, min: 1, doc: 'Most members returned by a presence request (the reply says `total`).' },
  { path: 'presence.joinLeaveMaxMembers', kind: 'int', default: 200, min: 0, doc: 'join/leave pushes stop in rooms with more clients than this (their cost grows as N²).' },
  { path: 'presence.eventWindowMs', kind: 'int', default: 1000, min: 0, doc: "join/leave pushes of one room go out at most once per window: the first at once, later ones at the window's end, where a join and a leave of the same client cancel out (one push per client at most). Bounds what subscribe/unsubscribe churn costs a room's members; 0 pushes every event at once." },

  { path: 'limits.maxMessageBytes', kind: 'int', default: 65_536, min: 1, doc: 'Largest client frame and HTTP body; a larger WebSocket frame closes with 1009, a larger body answers 413.' },
  { path: 'limits.outboundQueueBytes', kind: 'int', default: 1_048_576, min: 1024, doc: 'Bytes queued to one client before it is closed with 4008 (slow consumer).' },
  { path: 'limits.publishRatePerSec', kind: 'int', default: 50, min: 1, doc: 'Publish token bucket refill rate per connection.' },
  { path: 'limits.publishBurst', kind: 'int', default: 100, min: 1, doc: 'Publish token bucket size per connection.' },
  { path: 'limits.violationsBeforeClose', kind: 'int', default: 20, min: 1, doc: 'Protocol violations (BAD_REQUEST, RATE_LIMITED, …) within violationWindowMs before closing with 4400.' },
  { path: 'limits.violationWindowMs', kind: 'int', default: 10_000, min: 100, doc: 'Window over which violations are counted.' },
  { path: 'limits.roomsPerConnection', kind: 'int', default: 128, min: 1, doc: 'Rooms one connection may be subscribed to; more answers LIMIT_EXCEEDED.' },
  { path: 'limits.connectionsPerUser', kind: 'int', default: 64, min: 1, doc: 'Connections one user may hold on this node; more closes with 4009.' },
  { path: 'limits.maxConnections', kind: 'int', default: 20_000, min: 1, doc: 'Connections this node accepts; more closes with 4009.' },
  { path: 'limits.connectTimeoutMs', kind: 'int', default: 10_000, min: 10, doc: 'Time a new socket has to send a valid connect frame; then it is closed with 4003.' },
  { path: 'limits.maxRoomNameLength', kind: 'int', default: 200, min: 8, doc: 'Longest room name accepted.' },
  { path: 'limits.subscribeBatchSize', kind: 'int', default: 512, min: 1, doc: 'Most rooms per broker subscribe call: subscribes made in the same tick (a reconnect storm) are sent together, in chunks of this size.' },
  { path: 'limits.writeBatchFrames', kind: 'int', default: 16, min: 1, doc: 'Most frames joined into one socket write: frames a client gets within one event-loop turn are written together (1 writes each frame on its own). Not used with permessage-deflate, nor when the start-up check of the ws internals fails (a warning is logged and every message goes through `ws.send`).' },
  { path: 'limits.writeBatchBytes', kind: 'int', default: 65_536, min: 1024, doc: 'Most bytes joined into one socket write; a larger frame is written on its own.' },
  { path: 'limits.httpHeadersTimeoutMs', kind: 'int', default: 10_000, min: 100, doc: 'Time a client has to send the request headers (HTTP and WebSocket upgrade); slow-header clients are cut off.' },
  { path: 'limits.httpRequestTimeoutMs', kind: 'int', default: 30_000, min: 100, doc: 'Time a client has to send a whole HTTP request, body included.' },
  { path: 'limits.maxPendingCommands', kind: 'int', default: 64, min: 1, doc: 'Publish, history and presence commands in flight per connection; more answers RATE_LIMITED.' },
  { path: 'limits.historyReadsPerConnection', kind: 'int', default: 4, min: 1, doc: 'History commands in flight per connection; more answers RATE_LIMITED (a violation).' },
  { path: 'limits.historyReplyBytes', kind: 'int', default: 262_144, min: 1024, doc: 'Most bytes of messages in one history reply, and in one page of a recovery; never more than half of limits.outboundQueueBytes. A history reply that stops here says `more:true` (ask again from its last offset); a recovery sends the rest as `message` pushes, page by page, as the client reads them. Each history command reserves this much of the outbound queue before the read starts; when the queue has no room, it answers RATE_LIMITED.' },
  { path: 'limits.subscribeRatePerSec', kind: 'int', default: 20, min: 1, doc: 'Subscribe and unsubscribe token bucket refill rate per connection; over it, RATE_LIMITED (a violation).' },
  { path: 'limits.subscribeBurst', kind: 'int', default: 256, min: 1, doc: 'Subscribe and unsubscribe token bucket size per connection: what a reconnect may resubscribe at once.' },
  { path: 'limits.roomsPerUserPerMinute', kind: 'int', default: 300, min: 1, doc: 'Distinct rooms one user may name (subscribe, publish, history, presence) per minute on this node, over all its connections; rooms already named in the current minute stay free. A further room answers LIMIT_EXCEEDED. Bounds how fast one user makes the engine create rooms; what all rooms keep is bounded by the engine (the in-memory engine’s bound on retained history bytes; for Redis, its own `maxmemory`).' },

  { path: 'pingIntervalMs', kind: 'int', default: 25_000, min: 100, doc: 'WebSocket ping interval; a client that has not answered the previous ping is terminated.' },
  { path: 'perMessageDeflate', kind: 'bool', default: false, doc: 'Negotiate permessage-deflate. Off by default: it costs memory and disables frame-once fan-out.' },

  { path: 'drain.windowMs', kind: 'int', default: 10_000, min: 0, doc: 'On SIGTERM, closes (1012) are spread over this window in batches.' },
  { path: 'drain.batchSize', kind: 'int', default: 128, min: 1, doc: 'Most connections closed at once while draining.' },
  { path: 'drain.deadlineMs', kind: 'int', default: 30_000, min: 100, doc: 'The process exits at this deadline even if clients have not finished closing.' },
];
