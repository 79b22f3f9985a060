/**
 * The gateway's configuration fields: one table drives parsing, validation, defaults,
 * environment overrides and the docs (test/gateway-config.test.ts checks every field is in
 * docs/configuration.md).
 */
import { notifyConfigFields } from './notify/config-fields.ts';
import { RELAY_SUBSCRIPTION_DEFAULTS } from '../lib/relay-topology.ts';

export type FieldKind = 'int' | 'string' | 'bool' | 'url' | 'redis-url' | 'enum';

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
  { path: 'listenBacklog', kind: 'int', default: 4096, min: 1, doc: "Connections the kernel queues for the gateway until it accepts them (capped by the kernel's net.core.somaxconn). Node's default of 511 overflowed in a reconnect storm, and a client whose SYN is dropped tries again only after 1, 3, 7, 15 s." },
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

  { path: 'redisUrl', kind: 'redis-url', doc: 'Redis URL for the regional engine; absent → in-memory engine (single pod). `redis://[user:password@]host:port[/db]` (or `rediss://`) for one Redis; `redis+cluster://[user:password@]host1:port1,host2:port2,…` (or `rediss+cluster://`) for a Redis Cluster ≥ 7, the hosts being seed nodes (see docs/engines.md).' },
  { path: 'redis.keyPrefix', kind: 'string', default: 'meridian', doc: 'Prefix of every Redis key and channel the engine uses, so several deployments can share one Redis without seeing each other’s rooms.' },
  { path: 'redis.commandTimeoutMs', kind: 'int', default: 1000, min: 10, doc: 'A Redis command without a reply after this long fails with UNAVAILABLE (and starts a health probe).' },
  { path: 'redis.connectTimeoutMs', kind: 'int', default: 2000, min: 10, doc: 'Each Redis connection attempt fails after this long.' },
  { path: 'redis.maxReconnectDelayMs', kind: 'int', default: 2000, min: 10, doc: 'Cap of the reconnect backoff (it grows by 100 ms per attempt); reconnecting never gives up.' },
  { path: 'redis.subscribeBatchSize', kind: 'int', default: 512, min: 1, doc: 'Most channels per SUBSCRIBE/UNSUBSCRIBE: the subscribes of one event-loop turn (a reconnect storm) are coalesced and sent in commands of this size.' },
  { path: 'redis.maxPayloadBytes', kind: 'int', default: 1_048_576, min: 1024, doc: 'Channel messages, stream entries and presence values larger than this are skipped as malformed (counted in meridian_engine_events_total).' },
  { path: 'redis.resubscribeRetryMs', kind: 'int', default: 1000, min: 10, doc: 'After a failed re-subscription on a live connection, try again after this long.' },
  { path: 'redis.clusterRefreshMs', kind: 'int', default: 5000, min: 100, doc: 'Redis Cluster only: how often the slot map is read again even when no MOVED reply or lost node forced it.' },
  { path: 'redis.waitReplicas', kind: 'int', default: 0, min: 0, doc: 'Acknowledge a publish only after this many replicas confirmed it (`WAIT` after the publish script); 0 acknowledges once the master stored it. A publish confirmed by fewer within redis.waitTimeoutMs fails with UNAVAILABLE (stored on the master: retry with the same mid).' },
  { path: 'redis.waitTimeoutMs', kind: 'int', default: 100, min: 1, doc: 'How long a publish waits for redis.waitReplicas confirmations; keep it well below redis.commandTimeoutMs.' },
  { path: 'redis.healthCheckMs', kind: 'int', default: 1000, min: 100, doc: 'How often a one-command probe checks that Redis answers within commandTimeoutMs and accepts writes; a stalled or full Redis makes /readyz answer 503.' },
  { path: 'memory.sweepIntervalMs', kind: 'int', default: 10_000, min: 100, doc: 'In-memory engine: how often expired rooms (history and presence) are dropped, with or without traffic.' },
  { path: 'memory.maxRetainedBytes', kind: 'int', default: 268_435_456, min: 65_536, doc: 'In-memory engine: most bytes of publications kept over all rooms; a publish past it (after dropping expired rooms) answers STORAGE_FULL.' },

  // The cross-region relay (docs/relay.md).
  { path: 'relay.pubsub.projectId', kind: 'string', env: 'MERIDIAN_PUBSUB_PROJECT', doc: 'Google Cloud project of the cross-region relay topic; absent → no relay. Set with relay.pubsub.topic. The client library reads `PUBSUB_EMULATOR_HOST` itself for local runs.' },
  { path: 'relay.pubsub.topic', kind: 'string', env: 'MERIDIAN_PUBSUB_TOPIC', doc: "The cluster's relay topic; each region consumes it through the subscription `<topic>-<region>`." },
  { path: 'relay.pubsub.create', kind: 'bool', default: false, env: 'MERIDIAN_PUBSUB_CREATE', doc: 'Create the topic and this region\'s subscription when missing (local runs, tests). Off: a missing one is logged as an error and the relay stays degraded (retrying) while the region keeps serving.' },
  { path: 'relay.pubsub.batchMaxMs', kind: 'int', default: 1, min: 0, doc: "Longest a relayed message waits in the publisher's batch (the client's default, 10 ms, is tuned for throughput)." },
  { path: 'relay.pubsub.batchMaxMessages', kind: 'int', default: 100, min: 1, doc: 'Most messages in one publish batch; a full batch is sent at once.' },
  { path: 'relay.pubsub.publishTimeoutMs', kind: 'int', default: 10_000, min: 100, doc: 'One publish attempt fails after this long; the outbox retries it with backoff.' },
  { path: 'relay.pubsub.ackDeadlineSec', kind: 'int', default: RELAY_SUBSCRIPTION_DEFAULTS.ackDeadlineSeconds, min: 10, doc: 'Ack deadline of a subscription the gateway creates (relay.pubsub.create); the operator uses the same value.' },
  { path: 'relay.pubsub.reopenMs', kind: 'int', default: 2000, min: 100, doc: 'After the subscription stream fails (deleted, bus restarted), it is checked and reopened this often until it works.' },
  { path: 'relay.flowMaxMessages', kind: 'int', default: 1000, min: 1, doc: 'Flow control: most unacked relay messages one pod holds (received, not yet applied).' },
  { path: 'relay.flowMaxBytes', kind: 'int', default: 33_554_432, min: 1024, doc: 'Flow control: most bytes of unacked relay messages one pod holds.' },
  { path: 'relay.outboxMaxMessages', kind: 'int', default: 10_000, min: 1, doc: 'Envelopes one pod keeps for the bus while it is slow or down; beyond it the oldest is dropped (receivers repair it from history).' },
  { path: 'relay.outboxMaxBytes', kind: 'int', default: 33_554_432, min: 1024, doc: 'Bytes one pod keeps in the outbox; beyond it the oldest is dropped.' },
  { path: 'relay.outboxMaxInFlight', kind: 'int', default: 256, min: 1, doc: 'Most envelopes one pod has handed to the bus and not yet seen accepted or refused (counted within relay.outboxMaxMessages).' },
  { path: 'relay.outboxMode', kind: 'enum', default: 'window', values: ['window', 'pipelined'], doc: "`window`: up to relay.outboxMaxInFlight envelopes go out together and the next wait until all of them settled. `pipelined`: each envelope goes to the bus as soon as it is queued, in order per room, while earlier ones are in flight. Either way a refusal holds back only its room. `window` is the default because it measured the shorter tail against the emulator (docs/benchmarks.md)." },
  { path: 'relay.retryInitialMs', kind: 'int', default: 200, min: 10, doc: 'First backoff after the bus refused a publish; it doubles per failed attempt.' },
  { path: 'relay.retryMaxMs', kind: 'int', default: 5000, min: 10, doc: 'Longest backoff between publish attempts.' },
  { path: 'relay.reorderWindowMs', kind: 'int', default: 500, min: 0, doc: "How long a receiver waits for an origin's earlier message (two origin pods publish independently) before asking the origin to repair the gap." },
  { path: 'relay.repairTimeoutMs', kind: 'int', default: 5000, min: 100, doc: 'A repair request without an answer is sent again after this long.' },
  { path: 'relay.repairAttempts', kind: 'int', default: 3, min: 1, doc: 'Repair requests per gap; then the gap is recorded as unrecoverable and the room moves on.' },
  { path: 'relay.digestIntervalMs', kind: 'int', default: 20_000, min: 100, doc: "How often each pod sends a digest per active room (newest own message, its members); must be below presence.ttlMs, since it refreshes remote members' entries." },
  { path: 'relay.digestMaxRooms', kind: 'int', default: 1000, min: 1, doc: 'Most rooms in one round of digests per pod (most recently active first).' },
  { path: 'relay.digestMaxMembers', kind: 'int', default: 200, min: 0, doc: 'Most members per room in one digest; members beyond it appear in other regions by their join only, until their TTL.' },
  { path: 'relay.maxTrackedRooms', kind: 'int', default: 10_000, min: 1, doc: 'Rooms (per origin) whose relay position one pod remembers; forgetting one costs a history read.' },
  { path: 'relay.lagWindowMs', kind: 'int', default: 60_000, min: 1000, doc: "/loadz reports the relay's lag as the p99 of origin publish → append here over the applies of this window (at most relay.lagSamples); none in it → no lag reported." },
  { path: 'relay.lagSamples', kind: 'int', default: 512, min: 1, doc: 'Most recent applies the relay lag of /loadz is taken over.' },
  { path: 'relay.heartbeatMs', kind: 'int', default: 10_000, min: 0, doc: "Each pod publishes a small heartbeat (its region, the publish time) on the relay topic this often, so receivers notice a silent bus without traffic (docs/relay.md, Liveness); 0 disables it. A failed heartbeat counts like any failed publish." },
  { path: 'relay.silenceMs', kind: 'int', default: 30_000, min: 0, doc: 'The pod reports `receiving: false` (relay degraded) when nothing at all (heartbeat or message) arrived for this long while it remembers a peer region; 0 disables the check. Must exceed relay.heartbeatMs.' },
  { path: 'relay.peerForgetMs', kind: 'int', default: 600_000, min: 1000, doc: 'A peer region not heard from for this long is forgotten (dropped from /loadz and metrics); a pod that remembers no peer is not degraded by silence.' },
  { path: 'relay.maxPeerRegions', kind: 'int', default: 64, min: 1, doc: 'Most peer regions one pod remembers (the least recently heard is forgotten first): bounds /loadz and the per-region metric labels against a peer that invents region names.' },

  { path: 'history.size', kind: 'int', default: 300, min: 1, doc: 'Publications kept per room.' },
  { path: 'history.ttlMs', kind: 'int', default: 600_000, min: 1000, doc: "A room's history (and epoch) expires after this long without a publish." },
  { path: 'history.maxRecover', kind: 'int', default: 300, min: 1, doc: 'Most publications returned by one recovery or history read; a larger gap answers recovered:false.' },
  { path: 'history.maxReadBytes', kind: 'int', default: 4_194_304, min: 1024, doc: 'Most bytes of publications one engine history read returns (at least one publication); a longer read is cut short, so a recovery that needs more answers recovered:false and a history reply returns fewer messages.' },
  { path: 'history.idempotencyTtlMs', kind: 'int', default: 120_000, min: 1000, doc: 'How long a publish is remembered by `mid` for idempotent retries.' },
  { path: 'history.positionCheckMs', kind: 'int', default: 40_000, min: 0, doc: 'How often every room with local subscribers is compared with its history, so a lost last message (no later one reveals the gap) is still delivered; 0 turns the check off.' },
  { path: 'history.repairRetries', kind: 'int', default: 5, min: 0, doc: 'A gap-repair, resync-check or catch-up history read that fails (UNAVAILABLE: Redis stalled or away) is tried this many more times, with backoff, before the room\'s subscribers are closed with 4010 (a failed periodic position check is skipped instead); 0 closes at the first failure.' },
  { path: 'history.repairRetryInitialMs', kind: 'int', default: 200, min: 10, doc: 'Wait before the first retry of a failed gap-repair read; it doubles per failed attempt. Later publications of the room wait, in order, meanwhile (at most history.maxRecover, then the room is closed with 4010).' },
  { path: 'history.repairRetryMaxMs', kind: 'int', default: 3200, min: 10, doc: 'Longest wait between two attempts of a gap-repair read (the defaults try for about 6 s plus the reads themselves).' },

  { path: 'presence.ttlMs', kind: 'int', default: 60_000, min: 1000, doc: 'A presence entry expires after this long without a refresh (covers crashed pods).' },
  { path: 'presence.refreshMs', kind: 'int', default: 25_000, min: 100, doc: 'How often each connection refreshes its presence entries; the refreshes of all connections are spread over this interval (a share every 50 ms), not sent at once.' },
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
  { path: 'limits.maxConnections', kind: 'int', default: 20_000, min: 1, doc: 'Connected sockets (past `connect`) this node accepts; one more `connect` closes with 4009. Sockets still waiting to connect are counted by limits.maxAnonymousSockets instead.' },
  { path: 'limits.connectTimeoutMs', kind: 'int', default: 10_000, min: 10, doc: 'Time a new socket has to send a valid connect frame; then it is closed with 4003.' },
  { path: 'limits.maxRoomNameLength', kind: 'int', default: 200, min: 8, doc: 'Longest room name accepted.' },
  { path: 'limits.writeBatchFrames', kind: 'int', default: 16, min: 1, doc: 'Most frames joined into one socket write: frames a client gets within one event-loop turn are written together (1 writes each frame on its own). Not used with permessage-deflate, nor when the start-up check of the ws internals fails (a warning is logged and every message goes through `ws.send`).' },
  { path: 'limits.writeBatchBytes', kind: 'int', default: 65_536, min: 1024, doc: 'Most bytes joined into one socket write; a larger frame is written on its own.' },
  { path: 'limits.httpHeadersTimeoutMs', kind: 'int', default: 10_000, min: 100, doc: 'Time a client has to send the request headers (HTTP and WebSocket upgrade); slow-header clients are cut off.' },
  { path: 'limits.httpRequestTimeoutMs', kind: 'int', default: 30_000, min: 100, doc: 'Time a client has to send a whole HTTP request, body included.' },
  { path: 'limits.maxPendingCommands', kind: 'int', default: 64, min: 1, doc: 'Publish, history and presence commands in flight per connection; more answers RATE_LIMITED.' },
  { path: 'limits.maxAnonymousSockets', kind: 'int', default: 4096, min: 1, doc: 'Sockets this node holds that have not completed `connect` (counted apart from limits.maxConnections, so they never keep a user out); past it a WebSocket upgrade answers HTTP 503 OVERLOADED with Retry-After.' },
  { path: 'limits.maxAnonymousSocketsPerAddress', kind: 'int', default: 256, min: 1, doc: 'Sockets from one remote address that have not completed `connect`; past it a WebSocket upgrade from that address answers HTTP 429 LIMIT_EXCEEDED with Retry-After. Behind a proxy every client shares the proxy\'s address: raise it there.' },
  { path: 'limits.maxJsonDepth', kind: 'int', default: 64, min: 2, doc: 'Deepest nesting of arrays and objects in a client frame or HTTP body (the frame itself is level 1, so `data` may nest one level less); deeper answers BAD_REQUEST (with the frame\'s id) before the value is used or stored.' },
  { path: 'limits.httpMaxRequestsPerSocket', kind: 'int', default: 100, min: 1, doc: 'HTTP requests served on one keep-alive (or pipelined) connection of the public listener; the last reply says `Connection: close` and the connection closes once it is written; requests pipelined behind it get no reply and no work.' },
  { path: 'limits.httpMaxConcurrentRequests', kind: 'int', default: 512, min: 1, doc: 'HTTP requests in progress at once on the public listener (/healthz and /readyz excepted); a pipelined request counts until its reply is written. More answer 503 OVERLOADED with Retry-After: 1.' },

  { path: 'metrics.host', kind: 'string', default: '127.0.0.1', doc: 'Address of the metrics listener (GET /metrics, Prometheus text). Loopback by default: metrics never share the public listener; in a pod set `0.0.0.0` so the cluster\'s Prometheus can scrape it.' },
  { path: 'metrics.port', kind: 'int', default: 9091, min: 0, doc: 'TCP port of the metrics listener; 0 picks a free port.' },
  { path: 'limits.historyReadsPerConnection', kind: 'int', default: 4, min: 1, doc: 'History commands in flight per connection; more answers RATE_LIMITED (a violation).' },
  { path: 'limits.historyReplyBytes', kind: 'int', default: 262_144, min: 1024, doc: 'Most bytes of messages in one history reply, and in one page of a recovery; never more than half of limits.outboundQueueBytes. A history reply that stops here says `more:true` (ask again from its last offset); a recovery sends the rest as `message` pushes, page by page, as the client reads them. Each history command reserves this much of the outbound queue before the read starts; when the queue has no room, it answers RATE_LIMITED.' },
  { path: 'limits.subscribeRatePerSec', kind: 'int', default: 20, min: 1, doc: 'Subscribe and unsubscribe token bucket refill rate per connection; over it, RATE_LIMITED (a violation).' },
  { path: 'limits.subscribeBurst', kind: 'int', default: 256, min: 1, doc: 'Subscribe and unsubscribe token bucket size per connection: what a reconnect may resubscribe at once.' },
  { path: 'limits.subscribesInFlight', kind: 'int', default: 64, min: 1, doc: 'Subscribes reading the engine (history or position, then presence) at once on this node, counted with the presence removals of closed sockets leaving their rooms. More wait their turn in arrival order (removals are never refused), so a reconnect storm, cut and comebacks, reaches Redis at a bounded rate instead of all at once (where every command would pass redis.commandTimeoutMs and fail UNAVAILABLE).' },
  { path: 'limits.subscribeQueueLength', kind: 'int', default: 4096, min: 0, doc: 'Subscribes waiting for a turn (limits.subscribesInFlight) on this node; one more is refused at once with OVERLOADED and a `retryAfterMs` hint. A waiting subscribe holds no engine work, only its frame.' },
  { path: 'limits.subscribeRetryAfterMs', kind: 'int', default: 1000, min: 1, doc: 'The least `retryAfterMs` a subscribe refused for limits.subscribeQueueLength carries; each refusal adds up to as much again at random, so the refused do not come back together.' },
  { path: 'limits.roomsPerUserPerMinute', kind: 'int', default: 300, min: 1, doc: 'Distinct rooms one user may name (subscribe, publish, history, presence) per minute on this node, over all its connections; rooms already named in the current minute stay free. A further room answers LIMIT_EXCEEDED. Bounds how fast one user makes the engine create rooms; what all rooms keep is bounded by the engine (the in-memory engine’s bound on retained history bytes; for Redis, its own `maxmemory`).' },

  { path: 'pingIntervalMs', kind: 'int', default: 25_000, min: 100, doc: 'WebSocket ping interval; a client that has not answered the previous ping is terminated. The pings of all connections are spread over the interval (a share every 50 ms).' },
  { path: 'perMessageDeflate', kind: 'bool', default: false, doc: 'Negotiate permessage-deflate. Off by default: it costs memory and disables frame-once fan-out.' },

  { path: 'drain.windowMs', kind: 'int', default: 10_000, min: 0, doc: 'On SIGTERM, closes (1012) are spread over this window in batches.' },
  { path: 'drain.batchSize', kind: 'int', default: 128, min: 1, doc: 'Most connections closed at once while draining.' },
  { path: 'drain.maxReconnectEndpoints', kind: 'int', default: 20, min: 1, doc: 'Most endpoints an operator may name in `POST /v1/admin/reconnect-targets` (pushed to clients in a `reconnect` frame before a drain closes them); more answers BAD_REQUEST.' },
  { path: 'rebalance.maxShedPerMinute', kind: 'int', default: 600, min: 1, doc: 'Most connections per minute an operator may ask this pod to close (1012) while rebalancing (`POST /v1/admin/shed`); a higher rate answers BAD_REQUEST.' },
  { path: 'rebalance.maxInstructionTtlMs', kind: 'int', default: 300_000, min: 1000, doc: 'Longest an instruction to shed lasts without renewal; a longer `ttlMs` answers BAD_REQUEST.' },
  { path: 'rebalance.tickMs', kind: 'int', default: 1000, min: 10, doc: 'How often a pod that sheds closes its next connections.' },
  { path: 'drain.deadlineMs', kind: 'int', default: 30_000, min: 100, doc: 'The process exits at this deadline even if clients have not finished closing.' },

  // Notifications (docs/notifications.md).
  ...notifyConfigFields,
];
