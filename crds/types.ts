/**
 * The RealtimeCluster resource (realtime.meridian.dev/v1alpha1) as TypeScript types.
 *
 * crds/schema.ts builds the CRD's OpenAPI schema and checks at compile time that the schema
 * accepts exactly these types, so a field added here without the schema (or the other way
 * round) fails `tsc`. Fields with a schema default are optional here: objects written by users
 * may leave them out, and the API server fills them in. `DEFAULTS` in crds/schema.ts has the values.
 */
import type { V1ObjectMeta } from '@kubernetes/client-node';

export const GROUP = 'realtime.meridian.dev';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}` as const;
export const KIND = 'RealtimeCluster';
export const LIST_KIND = 'RealtimeClusterList';
export const PLURAL = 'realtimeclusters';
export const SINGULAR = 'realtimecluster';
export const SHORT_NAMES = ['rtc'] as const;
export const CATEGORIES = ['meridian'] as const;
export const CRD_NAME = `${PLURAL}.${GROUP}` as const;

export const CLUSTER_PHASES = ['Pending', 'Progressing', 'Ready', 'Degraded'] as const;
export type ClusterPhase = (typeof CLUSTER_PHASES)[number];

/** A region the operator cannot reach is `Unknown` (never a reason to delete anything). */
export const REGION_PHASES = ['Pending', 'Progressing', 'Ready', 'Degraded', 'Unknown'] as const;
export type RegionPhase = (typeof REGION_PHASES)[number];

export const CONDITION_TYPES = ['Ready', 'Progressing', 'Degraded', 'RelayReady', 'Paused', 'Maintenance'] as const;
export type ConditionType = (typeof CONDITION_TYPES)[number];
export const CONDITION_STATUSES = ['True', 'False', 'Unknown'] as const;
export type ConditionStatus = (typeof CONDITION_STATUSES)[number];

export const AI_STRATEGIES = ['cost', 'latency', 'balanced'] as const;
export type AiStrategy = (typeof AI_STRATEGIES)[number];
export const AI_PROVIDER_NAMES = ['openai', 'gemini', 'local'] as const;
export type AiProviderName = (typeof AI_PROVIDER_NAMES)[number];

export const PULL_POLICIES = ['Always', 'IfNotPresent', 'Never'] as const;
export type PullPolicy = (typeof PULL_POLICIES)[number];

/** A key of a Secret in the RealtimeCluster's own namespace. */
export interface SecretKeyRef {
  name: string;
  key: string;
}

export interface ResourceRequirements {
  requests?: Record<string, number | string>;
  limits?: Record<string, number | string>;
}

export interface GatewayLimits {
  maxMessageBytes?: number;
  messagesPerSecond?: number;
  roomsPerConnection?: number;
}

export interface GatewayHistory {
  size?: number;
  ttlSeconds?: number;
}

export interface GatewayAuth {
  jwtSecretRef?: SecretKeyRef;
  jwksUrl?: string;
}

export interface GatewaySpec {
  image: string;
  imagePullPolicy?: PullPolicy;
  port?: number;
  resources?: ResourceRequirements;
  maxConnectionsPerPod?: number;
  limits?: GatewayLimits;
  history?: GatewayHistory;
  auth: GatewayAuth;
  apiKeySecretRef?: SecretKeyRef;
}

export interface RebalanceSpec {
  enabled?: boolean;
  tolerancePercent?: number;
  maxShedPerMinute?: number;
}

export interface AutoscalingSpec {
  minReplicas?: number;
  maxReplicas?: number;
  targetConnectionsPerPod?: number;
  scaleDownStabilizationSeconds?: number;
  headroomPercent?: number;
  headroomConnections?: number;
  scaleUpStabilizationSeconds?: number;
  scaleUpMaxPods?: number;
  scaleDownMaxPods?: number;
  maxDrainSharePercent?: number;
  eventLoopLagThresholdMs?: number;
  outboundQueueThresholdBytes?: number;
  failoverStabilizationSeconds?: number;
  rebalance?: RebalanceSpec;
}

export interface PubSubRelaySpec {
  projectId: string;
  topic?: string;
  credentialsSecretRef?: SecretKeyRef;
  emulatorHost?: string;
}

export interface RelaySpec {
  pubsub: PubSubRelaySpec;
}

export interface RegionRedisSpec {
  urlSecretRef: SecretKeyRef;
}

export interface RegionSpec {
  name: string;
  kubeconfigSecretRef?: SecretKeyRef;
  namespace?: string;
  redis?: RegionRedisSpec;
  minReplicas?: number;
  maxReplicas?: number;
  maintenance?: boolean;
  endpoint?: string;
  fallbackRegions?: string[];
}

export interface AiProviderSpec {
  name: AiProviderName;
  model?: string;
  apiKeySecretRef?: SecretKeyRef;
  baseUrl?: string;
  inputUsdPer1M?: number;
  outputUsdPer1M?: number;
}

export const AI_BUDGET_EXCEEDED_MODES = ['local', 'reject'] as const;
export type AiBudgetExceededMode = (typeof AI_BUDGET_EXCEEDED_MODES)[number];
export const AI_MODERATION_MODES = ['off', 'flag', 'block'] as const;
export type AiModerationMode = (typeof AI_MODERATION_MODES)[number];
export const AI_MODERATION_TIMEOUT_OUTCOMES = ['allow', 'block'] as const;

export interface AiModerationRule {
  rooms: string;
  mode: AiModerationMode;
  timeoutMs?: number;
  onTimeout?: (typeof AI_MODERATION_TIMEOUT_OUTCOMES)[number];
}

export interface AiSpec {
  strategy?: AiStrategy;
  latencySloMs?: number;
  dailyBudgetUsd?: number;
  userDailyBudgetUsd?: number;
  onBudgetExceeded?: AiBudgetExceededMode;
  providers?: AiProviderSpec[];
  moderation?: AiModerationRule[];
  sentiment?: { rooms?: string[] };
}

export const NOTIFY_CHANNELS = ['push', 'email', 'webhook'] as const;
export type NotifyChannel = (typeof NOTIFY_CHANNELS)[number];

export interface NotificationsWebPushSpec {
  vapidPublicKey: string;
  vapidPrivateKeySecretRef: SecretKeyRef;
  subject: string;
}

export interface NotificationsEmailSpec {
  smtpUrl: string;
  from: string;
  user?: string;
  passwordSecretRef?: SecretKeyRef;
}

export interface NotificationsWebhookSpec {
  url: string;
  secretRef: SecretKeyRef;
}

export interface NotificationsDefaultsSpec {
  high?: NotifyChannel[];
  normal?: NotifyChannel[];
  low?: NotifyChannel[];
  veryLow?: NotifyChannel[];
  digest?: boolean;
  digestWindowSeconds?: number;
  rateLimitPerUser?: number;
  rateWindowSeconds?: number;
  maxAttempts?: number;
  roomRules?: string[];
}

export interface NotificationsSpec {
  webPush?: NotificationsWebPushSpec;
  email?: NotificationsEmailSpec;
  webhook?: NotificationsWebhookSpec;
  defaults?: NotificationsDefaultsSpec;
}

export interface RealtimeClusterSpec {
  gateway: GatewaySpec;
  autoscaling?: AutoscalingSpec;
  relay?: RelaySpec;
  regions: RegionSpec[];
  ai?: AiSpec;
  notifications?: NotificationsSpec;
  paused?: boolean;
}

/** The metav1.Condition shape. */
export interface Condition {
  type: string;
  status: ConditionStatus;
  observedGeneration?: number;
  lastTransitionTime: string;
  reason: string;
  message: string;
}

export const SCALING_DIRECTIONS = ['Up', 'Down'] as const;
export type ScalingDirection = (typeof SCALING_DIRECTIONS)[number];

/** A change of a region's replicas the autoscaler made. */
export interface ScalingDecision {
  time: string;
  direction: ScalingDirection;
  fromReplicas: number;
  toReplicas: number;
  reason: string;
  message: string;
}

/** What the autoscaler thinks of a region now, and the last change it made. */
export interface RegionScalingStatus {
  state: string;
  message: string;
  floorReplicas?: number;
  podsReporting?: number;
  lastDecision?: ScalingDecision;
}

/** A failed region whose last known connections the other regions hold capacity for. */
export interface FailoverStatus {
  region: string;
  connections: number;
  since: string;
  recoveredAt?: string;
  /** Taken out on purpose (spec.regions[].maintenance), not failed. */
  maintenance?: boolean;
  message: string;
}

export interface RegionStatus {
  name: string;
  phase: RegionPhase;
  replicas?: number;
  readyReplicas?: number;
  desiredReplicas?: number;
  connections?: number;
  message?: string;
  lastSyncTime?: string;
  scaling?: RegionScalingStatus;
  maintenance?: RegionMaintenanceStatus;
  messagesPerSecond?: MessageRates;
  relayState?: RegionRelayState;
  relayLagMs?: number;
  relayGaps?: number;
  aiSpentTodayUsd?: number;
}

/** Frames per second summed over the region's pods: `in` from clients, `out` to clients. */
export interface MessageRates {
  in: number;
  out: number;
}

export const REGION_RELAY_STATES = ['Ok', 'Degraded'] as const;
export type RegionRelayState = (typeof REGION_RELAY_STATES)[number];

/** The cluster's AI spend today, summed over the regions that reported it. */
export interface AiStatus {
  day: string;
  spentTodayUsd: number;
  dailyBudgetUsd: number;
  regionDailyBudgetUsd: number;
  regionsReporting: number;
  /** Today's provider mix over the same regions: one entry per provider that answered a request. */
  providers?: AiProviderDay[];
}

/** One provider's share of the day: requests it answered and what they cost. */
export interface AiProviderDay {
  name: AiProviderName;
  requests: number;
  spentUsd: number;
}

export const MAINTENANCE_STEPS = ['RaisingCapacity', 'Draining', 'InMaintenance', 'Restoring', 'Complete'] as const;
export type MaintenanceStep = (typeof MAINTENANCE_STEPS)[number];

/** Where a region's planned maintenance stands (spec.regions[].maintenance). */
export interface RegionMaintenanceStatus {
  step: MaintenanceStep;
  message: string;
}

/** A place the cluster wrote objects to that no longer wants them, and why they are not removed yet. */
export interface PendingCleanup {
  region: string;
  namespace: string;
  message: string;
}

/** A region's subscription to the relay topic. */
export interface RelaySubscriptionStatus {
  region: string;
  name: string;
}

/** The relay topology the operator keeps in Pub/Sub (absent without spec.relay). */
export interface RelayStatus {
  topic?: string;
  subscriptions?: RelaySubscriptionStatus[];
  lastError?: string;
}

export interface RealtimeClusterStatus {
  observedGeneration?: number;
  phase?: ClusterPhase;
  regionsReady?: string;
  connections?: number;
  regions?: RegionStatus[];
  pendingCleanup?: PendingCleanup[];
  relay?: RelayStatus;
  failover?: FailoverStatus[];
  ai?: AiStatus;
  conditions?: Condition[];
}

export interface RealtimeCluster {
  apiVersion: typeof API_VERSION;
  kind: typeof KIND;
  metadata: V1ObjectMeta;
  spec: RealtimeClusterSpec;
  status?: RealtimeClusterStatus;
}

/** What names a RealtimeCluster in an API request (its own apiVersion and kind may be absent on a cached copy). */
export function clusterHeader(cluster: Pick<RealtimeCluster, 'metadata'>): { apiVersion: typeof API_VERSION; kind: typeof KIND; metadata: { name: string; namespace: string } } {
  return { apiVersion: API_VERSION, kind: KIND, metadata: { name: cluster.metadata.name ?? '', namespace: cluster.metadata.namespace ?? '' } };
}
