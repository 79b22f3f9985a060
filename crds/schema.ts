/**
 * The OpenAPI v3 schema of RealtimeCluster: the one source of the CRD (crds/generate.ts writes
 * it out) and of docs/crd.md's field reference. The `lockStep` checks at the end fail `tsc`
 * when this schema and crds/types.ts disagree on any field, optional marker or enum value.
 */
import {
  array,
  boolean,
  enumOf,
  integer,
  intOrString,
  listMap,
  mapOf,
  number,
  object,
  string,
  type Same,
  type TypeOf,
} from './schema-builder.ts';
import {
  AI_BUDGET_EXCEEDED_MODES,
  AI_MODERATION_MODES,
  AI_MODERATION_TIMEOUT_OUTCOMES,
  AI_PROVIDER_NAMES,
  AI_STRATEGIES,
  CLUSTER_PHASES,
  CONDITION_STATUSES,
  NOTIFY_CHANNELS,
  PULL_POLICIES,
  REGION_PHASES,
  SCALING_DIRECTIONS,
  MAINTENANCE_STEPS,
  REGION_RELAY_STATES,
  type RealtimeClusterSpec,
  type RealtimeClusterStatus,
} from './types.ts';

/**
 * Every default the schema applies, by field. Optional objects whose fields all have defaults
 * (gateway.limits, gateway.history, autoscaling) default to `{}`, so the API server fills their
 * fields in even when the object is left out.
 * The operator uses these for objects written before a default existed.
 */
export const DEFAULTS = Object.freeze({
  imagePullPolicy: 'IfNotPresent',
  port: 8080,
  maxConnectionsPerPod: 20_000,
  maxMessageBytes: 65_536,
  messagesPerSecond: 50,
  roomsPerConnection: 100,
  historySize: 300,
  historyTtlSeconds: 600,
  minReplicas: 2,
  maxReplicas: 50,
  targetConnectionsPerPod: 10_000,
  scaleDownStabilizationSeconds: 300,
  headroomPercent: 10,
  headroomConnections: 0,
  scaleUpStabilizationSeconds: 0,
  scaleUpMaxPods: 4,
  scaleDownMaxPods: 1,
  maxDrainSharePercent: 50,
  eventLoopLagThresholdMs: 200,
  outboundQueueThresholdBytes: 64 * 1024 * 1024,
  failoverStabilizationSeconds: 300,
  rebalanceEnabled: true,
  rebalanceTolerancePercent: 20,
  rebalanceMaxShedPerMinute: 120,
  regionNamespace: 'meridian',
  aiStrategy: 'balanced',
  latencySloMs: 1500,
  dailyBudgetUsd: 100,
  paused: false,
} as const);

/** Bounds shared by the schema and crds/validate.ts. */
export const LIMITS = Object.freeze({
  maxRegions: 20,
  maxReplicas: 1000,
  maxConnectionsPerPod: 1_000_000,
});

export const DNS1123_LABEL = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$';
export const DNS1123_SUBDOMAIN = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$';
const SECRET_KEY = '^[-._a-zA-Z0-9]+$';
const QUANTITY = '^(\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))))?$';
const HTTP_URL = '^https?://[^\\s]+$';
const GCP_PROJECT_ID = '^[a-z][-a-z0-9]{4,28}[a-z0-9]$';
const PUBSUB_TOPIC = '^[A-Za-z][-A-Za-z0-9._~%+]{2,254}$';
const HOST_PORT = '^[A-Za-z0-9.-]+:[0-9]{1,5}$';
const CONDITION_TYPE =
  '^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$';
const CONDITION_REASON = '^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$';

const secretKeyRef = (description: string) =>
  object(
    description,
    {
      name: string('Name of the Secret, in the RealtimeCluster\'s namespace.', { pattern: DNS1123_SUBDOMAIN, maxLength: 253 }),
      key: string('Key within the Secret whose value is used.', { pattern: SECRET_KEY, maxLength: 253 }),
    },
    { required: ['name', 'key'] },
  );

const quantities = (description: string) =>
  mapOf(description, intOrString('A quantity such as `500m`, `256Mi` or `2`.', { pattern: QUANTITY }), { maxProperties: 16 });

const gateway = object(
  'The WebSocket gateway pods run in every region.',
  {
    image: string('Container image of the gateway (runs `meridian gateway`).', { minLength: 1, maxLength: 512 }),
    imagePullPolicy: enumOf('When the kubelet pulls the image.', PULL_POLICIES, { default: DEFAULTS.imagePullPolicy }),
    port: integer('Port the gateway listens on for WebSocket and HTTP inside the pod.', { minimum: 1024, maximum: 65535, default: DEFAULTS.port }),
    resources: object('Compute resources of each gateway container, as in a Pod spec.', {
      requests: quantities('Resources each container is guaranteed (`cpu`, `memory`).'),
      limits: quantities('Resources each container may use at most.'),
    }),
    maxConnectionsPerPod: integer('Hard limit of WebSocket connections per pod; new connections beyond it are closed with 4009.', {
      minimum: 1,
      maximum: LIMITS.maxConnectionsPerPod,
      default: DEFAULTS.maxConnectionsPerPod,
    }),
    limits: object('Per-connection limits enforced by the gateway.', {
      maxMessageBytes: integer('Largest accepted frame in bytes; larger frames close the connection with 1009.', {
        minimum: 128,
        maximum: 16 * 1024 * 1024,
        default: DEFAULTS.maxMessageBytes,
      }),
      messagesPerSecond: integer('Messages a connection may send per second before RATE_LIMITED errors.', {
        minimum: 1,
        maximum: 100_000,
        default: DEFAULTS.messagesPerSecond,
      }),
      roomsPerConnection: integer('Rooms one connection may be subscribed to at once.', { minimum: 1, maximum: 10_000, default: DEFAULTS.roomsPerConnection }),
    }, { default: {} }),
    history: object('Message history kept per room for recovery and the history command.', {
      size: integer('Messages kept per room (0 disables history and recovery).', { minimum: 0, maximum: 100_000, default: DEFAULTS.historySize }),
      ttlSeconds: integer('Seconds a room\'s history is kept after its last message.', { minimum: 1, maximum: 604_800, default: DEFAULTS.historyTtlSeconds }),
    }, { default: {} }),
    auth: object(
      'How the gateway verifies client JWTs. At least one of jwtSecretRef and jwksUrl is required.',
      {
        jwtSecretRef: secretKeyRef('Secret key holding the HS256 shared secret.'),
        jwksUrl: string('URL of a JWKS document with RS256/ES256 public keys.', { pattern: HTTP_URL, maxLength: 2048 }),
      },
      { validations: [{ rule: 'has(self.jwtSecretRef) || has(self.jwksUrl)', message: 'set jwtSecretRef or jwksUrl', reason: 'FieldValueRequired' }] },
    ),
    apiKeySecretRef: secretKeyRef('Secret key holding the API key of the server publish API (`POST /v1/publish`); absent: no key is configured.'),
  },
  { required: ['image', 'auth'] },
);

const autoscaling = object('Connection-based autoscaling of the gateway Deployment in each region; the operator owns `replicas`.', {
  minReplicas: integer('Fewest gateway pods per region.', { minimum: 1, maximum: LIMITS.maxReplicas, default: DEFAULTS.minReplicas }),
  maxReplicas: integer('Most gateway pods per region.', { minimum: 1, maximum: LIMITS.maxReplicas, default: DEFAULTS.maxReplicas }),
  targetConnectionsPerPod: integer('Connections per pod the autoscaler aims for; must not exceed gateway.maxConnectionsPerPod.', {
    minimum: 1,
    maximum: LIMITS.maxConnectionsPerPod,
    default: DEFAULTS.targetConnectionsPerPod,
  }),
  scaleDownStabilizationSeconds: integer('Seconds the lower replica count must hold before pods are removed: a window over recommendations (the highest in it wins), and at most one scale-down step per window.', {
    minimum: 0,
    maximum: 3600,
    default: DEFAULTS.scaleDownStabilizationSeconds,
  }),
  // The fields below have no schema default (stored objects stay as written); the operator applies DEFAULTS.
  headroomPercent: integer(`Free connection slots kept as a share of capacity (Agones\' buffer): pods = ceil(connections × 100 / (100 − headroomPercent) / target). Default ${DEFAULTS.headroomPercent}.`, { minimum: 0, maximum: 90 }),
  headroomConnections: integer(`Free connection slots kept at least, whatever the share. Default ${DEFAULTS.headroomConnections}.`, { minimum: 0, maximum: LIMITS.maxConnectionsPerPod }),
  scaleUpStabilizationSeconds: integer(`Window over recommendations before scaling up (the lowest in it wins). Default ${DEFAULTS.scaleUpStabilizationSeconds}: scale up at once.`, { minimum: 0, maximum: 3600 }),
  scaleUpMaxPods: integer(`Most pods added in one step, or the current count if larger (doubling). Default ${DEFAULTS.scaleUpMaxPods}.`, { minimum: 1, maximum: LIMITS.maxReplicas }),
  scaleDownMaxPods: integer(`Most pods removed in one step. Default ${DEFAULTS.scaleDownMaxPods}.`, { minimum: 1, maximum: LIMITS.maxReplicas }),
  maxDrainSharePercent: integer(`A scale-down step never removes a pod holding more than this share of the region\'s connections. Default ${DEFAULTS.maxDrainSharePercent}.`, { minimum: 1, maximum: 100 }),
  eventLoopLagThresholdMs: integer(`A pod whose event-loop lag passes this asks for one more pod. Default ${DEFAULTS.eventLoopLagThresholdMs}.`, { minimum: 1, maximum: 60_000 }),
  outboundQueueThresholdBytes: integer(`A pod whose queued outbound bytes pass this asks for one more pod. Default ${DEFAULTS.outboundQueueThresholdBytes}.`, { minimum: 1, maximum: 1_000_000_000_000, format: 'int64' }),
  failoverStabilizationSeconds: integer(`How long a failed region must stay healthy before the other regions\' raised floors return. Default ${DEFAULTS.failoverStabilizationSeconds}.`, { minimum: 0, maximum: 86_400 }),
  rebalance: object('After a scale-up, pods above their share shed the excess slowly (close 1012) so that new pods take load.', {
    enabled: boolean(`Rebalance at all. Default ${DEFAULTS.rebalanceEnabled}.`),
    tolerancePercent: integer(`A pod sheds only when it holds more than its share plus this percentage. Default ${DEFAULTS.rebalanceTolerancePercent}.`, { minimum: 0, maximum: 1000 }),
    maxShedPerMinute: integer(`Most connections one pod closes per minute while shedding. Default ${DEFAULTS.rebalanceMaxShedPerMinute}.`, { minimum: 1, maximum: 100_000 }),
  }),
}, { default: {} });

const relay = object(
  'Cross-region relay. Absent: regions do not exchange messages.',
  {
    pubsub: object(
      'Google Cloud Pub/Sub: one topic per RealtimeCluster, one subscription per region.',
      {
        projectId: string('Google Cloud project of the topic and subscriptions.', { pattern: GCP_PROJECT_ID, maxLength: 30 }),
        topic: string('Topic name; absent: `meridian-<namespace>-<name>`.', { pattern: PUBSUB_TOPIC, maxLength: 255 }),
        credentialsSecretRef: secretKeyRef('Secret key holding a service-account JSON key; absent: the pods\' workload identity.'),
        emulatorHost: string('host:port of a Pub/Sub emulator (sets PUBSUB_EMULATOR_HOST); for local sandboxes only.', { pattern: HOST_PORT, maxLength: 261 }),
      },
      { required: ['projectId'] },
    ),
  },
  { required: ['pubsub'] },
);

const region = object(
  'One region: a cluster (or the operator\'s own) and a namespace where the gateway runs.',
  {
    name: string('Region name, unique in the list (DNS-1123 label), e.g. `us-east1`.', { pattern: DNS1123_LABEL, maxLength: 63 }),
    kubeconfigSecretRef: secretKeyRef('Secret key holding a kubeconfig for the region\'s cluster; absent: the operator\'s own cluster.'),
    namespace: string('Namespace of the gateway objects in the region\'s cluster.', { pattern: DNS1123_LABEL, maxLength: 63, default: DEFAULTS.regionNamespace }),
    redis: object(
      'The region\'s Redis, shared by its gateway pods. Absent: in-memory engine, which allows one pod only.',
      { urlSecretRef: secretKeyRef('Secret key holding the Redis URL: `redis://host:port` (or `rediss://`) for one Redis, `redis+cluster://host1:port1,host2:port2` (or `rediss+cluster://`) for a Redis Cluster ≥ 7, whose hosts are seed nodes.') },
      { required: ['urlSecretRef'] },
    ),
    minReplicas: integer('Overrides autoscaling.minReplicas in this region (0 parks the region).', { minimum: 0, maximum: LIMITS.maxReplicas }),
    maxReplicas: integer('Overrides autoscaling.maxReplicas in this region.', { minimum: 0, maximum: LIMITS.maxReplicas }),
    maintenance: boolean(
      'Planned maintenance. True: the operator raises the other regions\' floors by this region\'s connections, waits until they are Ready with those pods, then scales this region\'s gateways to zero (each pod closes its clients with 1012 spread over its drain window) and holds it there; its objects are kept. False again (at any step): the region\'s replicas return, and the other regions\' floors after autoscaling.failoverStabilizationSeconds. Progress: status.regions[].maintenance and the Maintenance condition.',
      { default: false },
    ),
    endpoint: string('The region\'s public WebSocket URL (`wss://…`). When regions declare it, gateways drained for another region\'s maintenance push a `reconnect` frame naming the serving regions\' endpoints before closing with 1012.', { pattern: '^wss?://[^\\s]+$', maxLength: 2048 }),
    fallbackRegions: array('Regions this region\'s clients should go to, most preferred first, when it is in maintenance (the `reconnect` frame\'s order). Regions not listed follow in spec order. Default: spec order.', string('A region name, as in spec.regions.', { pattern: DNS1123_LABEL, maxLength: 63 }), { maxItems: LIMITS.maxRegions }),
  },
  { required: ['name'] },
);

const aiProvider = object(
  'One AI provider the router may pick.',
  {
    name: enumOf('Provider: `openai`, `gemini`, or `local` (offline fallback for sentiment, moderation and summaries).', AI_PROVIDER_NAMES),
    model: string('Model name, e.g. `gpt-4o-mini`; required for openai and gemini.', { minLength: 1, maxLength: 256 }),
    apiKeySecretRef: secretKeyRef('Secret key holding the provider API key; required for openai and gemini, forbidden for local.'),
    baseUrl: string('Alternative API endpoint (a proxy or a local fake); forbidden for local.', { pattern: HTTP_URL, maxLength: 2048 }),
    inputUsdPer1M: number('Price in USD per million input tokens; required on remote providers with strategy cost.', { minimum: 0, maximum: 10_000 }),
    outputUsdPer1M: number('Price in USD per million output tokens; required on remote providers with strategy cost.', { minimum: 0, maximum: 10_000 }),
  },
  { required: ['name'] },
);

const ROOM_PATTERN = '^[A-Za-z0-9_.:@-]*\\*?$';

const aiModerationRule = object(
  'A moderation rule for the rooms matching `rooms`.',
  {
    rooms: string('Room pattern, as in a token\'s `rooms` (`class-*`, `*`).', { minLength: 1, maxLength: 200, pattern: ROOM_PATTERN }),
    mode: enumOf('`off`; `flag` (checked after publishing, moderators get a flag event); `block` (the publish waits for the verdict).', AI_MODERATION_MODES),
    timeoutMs: integer('block: longest a publish waits for the verdict.', { minimum: 1, maximum: 60_000 }),
    onTimeout: enumOf('block: what a late or failed verdict means.', AI_MODERATION_TIMEOUT_OUTCOMES),
  },
  { required: ['rooms', 'mode'] },
);

const ai = object('Routing of AI requests (`ai` frames) across providers. Absent: AI requests are refused.', {
  strategy: enumOf('How the router picks among healthy providers: cheapest, fastest, or a weighted balance.', AI_STRATEGIES, { default: DEFAULTS.aiStrategy }),
  latencySloMs: integer('Providers whose p95 time to first token exceeds this are skipped while others remain.', {
    minimum: 50,
    maximum: 120_000,
    default: DEFAULTS.latencySloMs,
  }),
  dailyBudgetUsd: number('Spend per UTC day in each region (the region\'s pods share one tally) across providers; once a region reaches it, only free providers are used there.', {
    minimum: 0,
    maximum: 1_000_000,
    default: DEFAULTS.dailyBudgetUsd,
  }),
  userDailyBudgetUsd: number('Spend per user per UTC day; once reached, only free providers answer that user.', { minimum: 0, maximum: 1_000_000 }),
  onBudgetExceeded: enumOf('When a budget is spent: answer with the `local` provider, or `reject` with BUDGET_EXCEEDED.', AI_BUDGET_EXCEEDED_MODES),
  providers: listMap('Providers, at most one of each name.', aiProvider, 'name', { minItems: 1, maxItems: AI_PROVIDER_NAMES.length }),
  moderation: array('Moderation of client messages by room pattern; the first matching rule applies.', aiModerationRule, { maxItems: 64 }),
  sentiment: object('Rolling sentiment of room traffic.', {
    rooms: array('Room patterns whose messages are scored.', string('A room pattern (a room name that may end in `*`).', { pattern: ROOM_PATTERN, maxLength: 200 }), { maxItems: 64 }),
  }),
});

const channelList = (urgency: string) =>
  array(`Channels for ${urgency} urgency of users who set none.`, enumOf('A channel: push, email or webhook.', NOTIFY_CHANNELS), { maxItems: 3, listType: 'set' });

const notifications = object('Notifications to users who are not connected (docs/notifications.md). Absent: only the socket push (no channels).', {
  webPush: object(
    'Web Push (VAPID). The private key comes from a Secret.',
    {
      vapidPublicKey: string('VAPID public key, URL-safe base64 (65 bytes).', { pattern: '^[A-Za-z0-9_-]{86,88}$', maxLength: 88 }),
      vapidPrivateKeySecretRef: secretKeyRef('Secret key holding the VAPID private key (URL-safe base64, 32 bytes).'),
      subject: string('Contact for push services: a `mailto:` or `https:` URL.', { pattern: '^(mailto:|https://).+$', maxLength: 512 }),
    },
    { required: ['vapidPublicKey', 'vapidPrivateKeySecretRef', 'subject'] },
  ),
  email: object(
    'Email over SMTP.',
    {
      smtpUrl: string('SMTP server, `smtp://host:port` or `smtps://host:465`.', { pattern: '^smtps?://[^\\s]+$', maxLength: 2048 }),
      from: string('From address of notification emails.', { minLength: 3, maxLength: 320 }),
      user: string('SMTP user name.', { minLength: 1, maxLength: 320 }),
      passwordSecretRef: secretKeyRef('Secret key holding the SMTP password.'),
    },
    { required: ['smtpUrl', 'from'] },
  ),
  webhook: object(
    'The tenant webhook: signed POSTs of notifications for users whose preferences name `webhook`.',
    {
      url: string('Endpoint URL.', { pattern: HTTP_URL, maxLength: 2048 }),
      secretRef: secretKeyRef('Secret key holding the HMAC-SHA256 signing secret.'),
    },
    { required: ['url', 'secretRef'] },
  ),
  defaults: object('Defaults for users who set no preferences, and delivery settings.', {
    high: channelList('high'),
    normal: channelList('normal'),
    low: channelList('low'),
    veryLow: channelList('very-low'),
    digest: boolean('Digest on (low-urgency emails batched into one per window).'),
    digestWindowSeconds: integer('The digest window.', { minimum: 1, maximum: 7 * 86_400 }),
    rateLimitPerUser: integer('Notifications below high urgency per user per rate window.', { minimum: 1, maximum: 100_000 }),
    rateWindowSeconds: integer('The rate window.', { minimum: 1, maximum: 86_400 }),
    maxAttempts: integer('Attempts per channel target before the dead-letter list.', { minimum: 1, maximum: 100 }),
    roomRules: array('Room patterns where a publish with data.notify notifies the room\'s followers.', string('A room name, or a prefix ending in `*`.', { pattern: '^[A-Za-z0-9_.:@-]*\\*?$', minLength: 1, maxLength: 200 }), { maxItems: 64 }),
  }),
});

export const specSchema = object(
  'Desired state of a multi-region real-time cluster.',
  {
    gateway,
    autoscaling,
    relay,
    regions: listMap('Regions where gateways run, keyed by name.', region, 'name', {
      minItems: 1,
      maxItems: LIMITS.maxRegions,
      validations: [{ rule: 'self.all(r, !has(r.minReplicas) || !has(r.maxReplicas) || r.minReplicas <= r.maxReplicas)', message: 'minReplicas must not exceed maxReplicas' }],
    }),
    ai,
    notifications,
    paused: boolean('Stop reconciling: the operator changes nothing until this is false again.', { default: DEFAULTS.paused }),
  },
  {
    required: ['gateway', 'regions'],
    validations: [
      {
        rule: '!has(self.autoscaling) || !has(self.autoscaling.minReplicas) || !has(self.autoscaling.maxReplicas) || self.autoscaling.minReplicas <= self.autoscaling.maxReplicas',
        message: 'autoscaling.minReplicas must not exceed autoscaling.maxReplicas',
        fieldPath: '.autoscaling.minReplicas',
      },
      // The two rules below see the defaulted object: autoscaling defaults to {} and its bounds to
      // DEFAULTS, so a region's effective bound is its own, else the cluster's.
      {
        rule: 'self.regions.all(r, (has(r.minReplicas) ? r.minReplicas : self.autoscaling.minReplicas) <= (has(r.maxReplicas) ? r.maxReplicas : self.autoscaling.maxReplicas))',
        message: "a region's minReplicas (its own, else autoscaling.minReplicas) must not exceed its maxReplicas (its own, else autoscaling.maxReplicas)",
        fieldPath: '.regions',
      },
      {
        rule: 'self.regions.all(r, has(r.redis) || (has(r.maxReplicas) ? r.maxReplicas : self.autoscaling.maxReplicas) <= 1)',
        message: "a region that may run more than one pod needs redis (each pod would otherwise see only its own clients' messages); set redis or maxReplicas: 1",
        reason: 'FieldValueRequired',
        fieldPath: '.regions',
      },
    ],
  },
);

const replicaCount = (description: string) => integer(description, { minimum: 0, maximum: LIMITS.maxReplicas });
const connectionCount = (description: string) => integer(description, { minimum: 0, maximum: 1_000_000_000_000, format: 'int64' });
const generation = (description: string) => integer(description, { minimum: 0, maximum: Number.MAX_SAFE_INTEGER, format: 'int64' });

const regionStatus = object(
  'Observed state of one region.',
  {
    name: string('Region name, as in spec.regions.', { pattern: DNS1123_LABEL, maxLength: 63 }),
    phase: enumOf('Region phase; `Unknown` while the region\'s cluster cannot be reached.', REGION_PHASES),
    replicas: replicaCount('Gateway pods that exist.'),
    readyReplicas: replicaCount('Gateway pods that are ready.'),
    desiredReplicas: replicaCount('Gateway pods the autoscaler wants.'),
    connections: connectionCount('WebSocket connections in the region at the last sync.'),
    message: string('Why the region is in its phase, for humans.', { maxLength: 32_768 }),
    lastSyncTime: string('When the operator last reached the region.', { format: 'date-time', maxLength: 64 }),
    scaling: object(
      'What the autoscaler makes of the region.',
      {
        state: string('Why replicas are what they are now: Stable, Stabilizing, LoadStale, Paused, DrainShareLimit, ScaledUp, ScaledDown, …', { pattern: CONDITION_REASON, minLength: 1, maxLength: 128 }),
        message: string('The state in words, with the numbers behind it.', { maxLength: 4096 }),
        floorReplicas: replicaCount('Fewest pods now: the region\'s minimum, raised while another region fails.'),
        podsReporting: replicaCount('Pods whose load (/loadz) was read in the last load period.'),
        lastDecision: object(
          'The last change of replicas.',
          {
            time: string('When it was made.', { format: 'date-time', maxLength: 64 }),
            direction: enumOf('Up or Down.', SCALING_DIRECTIONS),
            fromReplicas: replicaCount('Replicas before.'),
            toReplicas: replicaCount('Replicas after.'),
            reason: string('Why: Connections, EventLoopLag, OutboundPressure, FailoverFloor, Bounds.', { pattern: CONDITION_REASON, minLength: 1, maxLength: 128 }),
            message: string('The numbers behind it.', { maxLength: 4096 }),
          },
          { required: ['time', 'direction', 'fromReplicas', 'toReplicas', 'reason', 'message'] },
        ),
      },
      { required: ['state', 'message'] },
    ),
    maintenance: object(
      'Planned maintenance of the region (spec.regions[].maintenance), while it runs and once it is complete.',
      {
        step: enumOf('RaisingCapacity (the other regions\' floors rise; waiting for them to be Ready), Draining (pods close their clients with 1012), InMaintenance (zero pods, objects kept), Restoring (pods return; then the other floors after the stabilization period), Complete.', MAINTENANCE_STEPS),
        message: string('Progress, with the numbers behind it.', { maxLength: 4096 }),
      },
      { required: ['step', 'message'] },
    ),
    messagesPerSecond: object(
      'Frames per second summed over the pods that answered the last load round (/loadz), rounded to two significant digits (tenths below 10); absent while unknown.',
      {
        in: number('Frames received from clients per second.', { minimum: 0, maximum: 1e12 }),
        out: number('Frames sent to clients per second (one per subscriber a message reaches).', { minimum: 0, maximum: 1e12 }),
      },
      { required: ['in', 'out'] },
    ),
    relayState: enumOf('The cross-region relay as the region\'s pods see it: Degraded while any pod cannot publish to or receive from the bus (local delivery goes on); absent without spec.relay or while unknown.', REGION_RELAY_STATES),
    relayLagMs: integer('Relay lag: origin publish → append in this region, p99 over each pod\'s recent applies (relay.lagWindowMs), the worst pod; two significant digits. Absent when nothing arrived from other regions in that window, or while unknown.', { minimum: 0, maximum: 1e12, format: 'int64' }),
    relayGaps: integer('Gaps the region\'s running pods passed over as unrecoverable since they started (messages of another region that never arrived here).', { minimum: 0, maximum: 1e12, format: 'int64' }),
    aiSpentTodayUsd: number('AI spend of this region on the UTC day of status.ai.day, from the tally its pods share (each region has its own spec.ai.dailyBudgetUsd); absent without spec.ai or while unknown.', { minimum: 0, maximum: 1e12 }),
  },
  { required: ['name', 'phase'] },
);

const aiStatus = object(
  'AI spend today across the regions. Budgets are enforced per region (spec.ai.dailyBudgetUsd each), so the cluster can spend at most that times the regions in a day. Absent without spec.ai or before any region reported its spend.',
  {
    day: string('UTC day the figures are for.', { pattern: '^[0-9]{4}-[0-9]{2}-[0-9]{2}$', maxLength: 10 }),
    spentTodayUsd: number('Spend today summed over the regions that reported it (status.regions[].aiSpentTodayUsd).', { minimum: 0, maximum: 1e12 }),
    dailyBudgetUsd: number('The most the cluster may spend today: spec.ai.dailyBudgetUsd times the regions that can spend (a region held at zero pods in planned maintenance is not counted).', { minimum: 0, maximum: 1e12 }),
    regionDailyBudgetUsd: number('Each region\'s own budget (spec.ai.dailyBudgetUsd).', { minimum: 0, maximum: 1e12 }),
    regionsReporting: integer('Regions whose spend today is in the sum.', { minimum: 0, maximum: LIMITS.maxRegions }),
    providers: listMap(
      'Today\'s provider mix over the same regions (each region\'s tallies per provider that answered: requests and cost), one entry per provider, ordered openai, gemini, local.',
      object(
        'One provider\'s share of the day.',
        {
          name: enumOf('Provider.', AI_PROVIDER_NAMES),
          requests: integer('Requests it answered today.', { minimum: 0, maximum: 1e15, format: 'int64' }),
          spentUsd: number('What they cost, to a micro-dollar.', { minimum: 0, maximum: 1e12 }),
        },
        { required: ['name', 'requests', 'spentUsd'] },
      ),
      'name',
      { maxItems: AI_PROVIDER_NAMES.length },
    ),
  },
  { required: ['day', 'spentTodayUsd', 'dailyBudgetUsd', 'regionDailyBudgetUsd', 'regionsReporting'] },
);

const failover = object(
  'A failed region whose last known connections the other regions keep room for.',
  {
    region: string('The failed region.', { pattern: DNS1123_LABEL, maxLength: 63 }),
    connections: connectionCount('Its connections when it failed: the capacity the others add.'),
    since: string('When it failed.', { format: 'date-time', maxLength: 64 }),
    recoveredAt: string('When it was seen healthy again; floors return failoverStabilizationSeconds later.', { format: 'date-time', maxLength: 64 }),
    maintenance: boolean('True: the region was taken out on purpose (spec.regions[].maintenance), not failed.'),
    message: string('What happened, for humans.', { maxLength: 4096 }),
  },
  { required: ['region', 'connections', 'since', 'message'] },
);

const condition = object(
  'A condition in the metav1.Condition shape.',
  {
    type: string('Condition type: Ready, Progressing, Degraded, RelayReady, Paused or Maintenance.', { pattern: CONDITION_TYPE, maxLength: 316 }),
    status: enumOf('True, False or Unknown.', CONDITION_STATUSES),
    observedGeneration: generation('metadata.generation the condition was set for.'),
    lastTransitionTime: string('When status last changed.', { format: 'date-time', maxLength: 64 }),
    reason: string('CamelCase reason of the last transition.', { pattern: CONDITION_REASON, minLength: 1, maxLength: 1024 }),
    message: string('Details of the last transition, for humans.', { maxLength: 32_768 }),
  },
  { required: ['type', 'status', 'lastTransitionTime', 'reason', 'message'] },
);

const pendingCleanup = object(
  'Objects the cluster wrote that are owed a cleanup not done yet.',
  {
    region: string('Region the objects are in (it left the spec, or the cluster is being deleted).', { pattern: DNS1123_LABEL, maxLength: 63 }),
    namespace: string('Namespace of the objects in that region.', { pattern: DNS1123_LABEL, maxLength: 63 }),
    message: string('Why the cleanup waits (unreachable, misconfigured), and how to give up on it.', { maxLength: 32_768 }),
  },
  { required: ['region', 'namespace', 'message'] },
);

const relaySubscription = object(
  'One region\'s subscription to the relay topic.',
  {
    region: string('Region that consumes it, as in spec.regions.', { pattern: DNS1123_LABEL, maxLength: 63 }),
    name: string('Full name, `projects/<project>/subscriptions/<topic>-<region>`.', { maxLength: 512 }),
  },
  { required: ['region', 'name'] },
);

const relayStatus = object('The Pub/Sub topology of the relay, as the operator last saw it; absent without spec.relay.', {
  topic: string('Full name of the topic, `projects/<project>/topics/<topic>`.', { maxLength: 512 }),
  subscriptions: listMap('One subscription per region, keyed by region.', relaySubscription, 'region', { maxItems: LIMITS.maxRegions }),
  lastError: string('The last Pub/Sub error, while RelayReady is False; absent once the topology is in place.', { maxLength: 32_768 }),
});

export const statusSchema = object('Observed state, written by the operator through the status subresource.', {
  observedGeneration: generation('metadata.generation of the spec the status describes.'),
  phase: enumOf('Pending, Progressing, Ready or Degraded.', CLUSTER_PHASES),
  regionsReady: string('Ready regions out of all regions, e.g. `2/3`.', { pattern: '^[0-9]+/[0-9]+$', maxLength: 16 }),
  connections: connectionCount('WebSocket connections across reachable regions.'),
  regions: listMap('Per-region state, keyed by name.', regionStatus, 'name', { maxItems: LIMITS.maxRegions }),
  pendingCleanup: array('Regions (and namespaces) the operator wrote to that no longer want its objects and are not cleaned up yet; deletion waits for these.', pendingCleanup, { maxItems: 64 }),
  relay: relayStatus,
  failover: listMap('Failed regions whose capacity the other regions hold (raised floors), until each has been healthy for failoverStabilizationSeconds.', failover, 'region', { maxItems: LIMITS.maxRegions }),
  ai: aiStatus,
  conditions: listMap('Ready, Progressing, Degraded, RelayReady, (while spec.paused) Paused and (once a region had planned maintenance) Maintenance.', condition, 'type', { maxItems: 16 }),
});

type Assert<T extends true> = T;
/** Compile-time lock-step between this schema and crds/types.ts: `tsc` fails on any difference. */
export type LockStep = [Assert<Same<TypeOf<typeof specSchema>, RealtimeClusterSpec>>, Assert<Same<TypeOf<typeof statusSchema>, RealtimeClusterStatus>>];
