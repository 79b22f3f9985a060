/**
 * Turns a RealtimeCluster into one RegionPlan per region: validates what the schema cannot
 * (duplicate regions, min above max, Secrets that must exist in the hub), reads the hub Secrets
 * the gateways need, and derives the gateway configuration. Problems are returned, never thrown:
 * an invalid spec is a status, not a crash.
 */
import type { V1Secret } from '@kubernetes/client-node';
import type { RealtimeCluster, RegionSpec, SecretKeyRef } from '../../crds/types.ts';
import { DEFAULTS } from '../../crds/schema.ts';
import { regionBounds, validateRealtimeCluster } from '../../crds/validate.ts';
import { secretValue, type ReadSecret } from '../secrets.ts';
import { aiApiKeyEnv, gatewayAiConfig } from './ai-config.ts';
import { DEFAULT_RESOURCES, GATEWAY_METRICS_PORT, type EnvFromSecret, type RegionPlan, type ResourceRequirements } from './render.ts';

/** Why a spec cannot be applied; `reason` is the Degraded condition's reason. */
export interface SpecProblem {
  field: string;
  reason: string;
  message: string;
}

export const SpecProblemReason = {
  SecretMissing: 'SecretMissing',
  SecretKeyMissing: 'SecretKeyMissing',
} as const;

export interface PlanOptions {
  preStopPauseSeconds: number;
  drainWindowSeconds: number;
  /**
   * How many gateway pods a region runs. The seam for autoscaling: today the region's minimum;
   * an autoscaler replaces this with a choice between `min` and `max` from the regions' load.
   */
  chooseReplicas: (cluster: RealtimeCluster, region: RegionSpec, bounds: { min: number; max: number }) => number;
}

/** The rules the schema cannot express (crds/validate.ts), as spec problems. No I/O. */
export function checkSpec(cluster: RealtimeCluster): SpecProblem[] {
  const problems: SpecProblem[] = validateRealtimeCluster(cluster).map(({ field, reason, message }) => ({ field, reason, message }));
  const auth = cluster.spec.gateway?.auth;
  if (auth?.jwtSecretRef && auth.jwksUrl) {
    // The gateway refuses both (jwt.secret and jwt.jwksUrl are exclusive): say so here, not in a crash loop.
    problems.push({ field: 'spec.gateway.auth', reason: 'FieldValueForbidden', message: 'set jwtSecretRef or jwksUrl, not both: the gateway accepts one way to verify tokens' });
  }
  return problems;
}

/** A hub Secret key the gateways need, where it goes in the region Secret, and how the gateway reads it. */
interface SecretUse {
  field: string;
  ref: SecretKeyRef;
  regionKey: string;
  /** Environment variable fed from the region Secret; absent for file mounts. */
  env?: string;
}

function clusterSecretUses(cluster: RealtimeCluster): SecretUse[] {
  const uses: SecretUse[] = [];
  const { gateway, relay, ai } = cluster.spec;
  if (gateway.auth?.jwtSecretRef) uses.push({ field: 'spec.gateway.auth.jwtSecretRef', ref: gateway.auth.jwtSecretRef, regionKey: 'jwt-secret', env: 'MERIDIAN_JWT_SECRET' });
  if (gateway.apiKeySecretRef) uses.push({ field: 'spec.gateway.apiKeySecretRef', ref: gateway.apiKeySecretRef, regionKey: 'api-key', env: 'MERIDIAN_API_KEY' });
  if (relay?.pubsub?.credentialsSecretRef) {
    uses.push({ field: 'spec.relay.pubsub.credentialsSecretRef', ref: relay.pubsub.credentialsSecretRef, regionKey: 'pubsub-credentials.json' });
  }
  uses.push(...notificationSecretUses(cluster));
  (ai?.providers ?? []).forEach((provider, i) => {
    if (provider.apiKeySecretRef) {
      uses.push({
        field: `spec.ai.providers[${i}].apiKeySecretRef`,
        ref: provider.apiKeySecretRef,
        regionKey: `ai-${provider.name}-api-key`,
        env: aiApiKeyEnv(provider.name),
      });
    }
  });
  return uses;
}

/** The notification channels' secrets, as the gateway's secret config fields (docs/notifications.md). */
function notificationSecretUses(cluster: RealtimeCluster): SecretUse[] {
  const notifications = cluster.spec.notifications;
  const uses: SecretUse[] = [];
  if (notifications?.webPush) uses.push({ field: 'spec.notifications.webPush.vapidPrivateKeySecretRef', ref: notifications.webPush.vapidPrivateKeySecretRef, regionKey: 'notify-vapid-private-key', env: 'MERIDIAN_NOTIFY_PUSH_VAPID_PRIVATE_KEY' });
  if (notifications?.email?.passwordSecretRef) uses.push({ field: 'spec.notifications.email.passwordSecretRef', ref: notifications.email.passwordSecretRef, regionKey: 'notify-smtp-password', env: 'MERIDIAN_NOTIFY_EMAIL_PASSWORD' });
  if (notifications?.webhook) uses.push({ field: 'spec.notifications.webhook.secretRef', ref: notifications.webhook.secretRef, regionKey: 'notify-webhook-secret', env: 'MERIDIAN_NOTIFY_WEBHOOK_SECRET' });
  return uses;
}

/** The gateway's `notify` block for spec.notifications (secrets excepted: they come as environment variables). */
export function notifyConfig(cluster: RealtimeCluster): Record<string, unknown> | undefined {
  const spec = cluster.spec.notifications;
  if (!spec) return undefined;
  const d = spec.defaults ?? {};
  const channels = Object.fromEntries(
    (['high', 'normal', 'low', 'veryLow'] as const).filter((u) => d[u] !== undefined).map((u) => [u, d[u]!.join(',')]),
  );
  const config: Record<string, unknown> = {
    ...(spec.webPush ? { push: { vapidPublicKey: spec.webPush.vapidPublicKey, subject: spec.webPush.subject } } : {}),
    ...(spec.email ? { email: { smtpUrl: spec.email.smtpUrl, from: spec.email.from, ...(spec.email.user ? { user: spec.email.user } : {}) } } : {}),
    ...(spec.webhook ? { webhook: { url: spec.webhook.url } } : {}),
    ...(Object.keys(channels).length > 0 ? { defaultChannels: channels } : {}),
    ...(d.digest !== undefined ? { defaultDigest: d.digest } : {}),
    ...(d.digestWindowSeconds !== undefined ? { digestWindowMs: d.digestWindowSeconds * 1000 } : {}),
    ...(d.rateLimitPerUser !== undefined ? { rateLimitPerUser: d.rateLimitPerUser } : {}),
    ...(d.rateWindowSeconds !== undefined ? { rateWindowMs: d.rateWindowSeconds * 1000 } : {}),
    ...(d.maxAttempts !== undefined ? { maxAttempts: d.maxAttempts } : {}),
    ...(d.roomRules && d.roomRules.length > 0 ? { roomRules: d.roomRules.join(',') } : {}),
  };
  return config;
}

function regionSecretUses(region: RegionSpec, index: number): SecretUse[] {
  if (!region.redis?.urlSecretRef) return [];
  return [{ field: `spec.regions[${index}].redis.urlSecretRef`, ref: region.redis.urlSecretRef, regionKey: 'redis-url', env: 'MERIDIAN_REDIS_URL' }];
}

/** Reads each named hub Secret once; a missing one maps to undefined, other errors are thrown (retry). */
async function readHubSecrets(readSecret: ReadSecret, namespace: string, names: Set<string>): Promise<Map<string, V1Secret | undefined>> {
  const entries = await Promise.all([...names].map(async (name) => [name, await readSecret(namespace, name)] as const));
  return new Map(entries);
}

function resolveUses(uses: SecretUse[], secrets: Map<string, V1Secret | undefined>, namespace: string, problems: SpecProblem[]): Record<string, string> {
  const data: Record<string, string> = {};
  for (const use of uses) {
    const secret = secrets.get(use.ref.name);
    if (!secret) {
      problems.push({ field: `${use.field}.name`, reason: SpecProblemReason.SecretMissing, message: `Secret "${use.ref.name}" not found in namespace "${namespace}"` });
      continue;
    }
    const value = secretValue(secret, use.ref.key);
    if (value === undefined) {
      problems.push({ field: `${use.field}.key`, reason: SpecProblemReason.SecretKeyMissing, message: `Secret "${use.ref.name}" in namespace "${namespace}" has no key "${use.ref.key}"` });
      continue;
    }
    data[use.regionKey] = value;
  }
  return data;
}

function stringResources(resources: RealtimeCluster['spec']['gateway']['resources']): ResourceRequirements {
  if (!resources || (!resources.requests && !resources.limits)) return DEFAULT_RESOURCES;
  const strings = (values?: Record<string, number | string>) => (values ? Object.fromEntries(Object.entries(values).map(([k, v]) => [k, String(v)])) : undefined);
  return { ...(resources.requests ? { requests: strings(resources.requests) } : {}), ...(resources.limits ? { limits: strings(resources.limits) } : {}) };
}

/** The Pub/Sub topic of a cluster when the spec names none: one per RealtimeCluster. */
export function defaultTopic(namespace: string, name: string): string {
  return `meridian-${namespace}-${name}`;
}

/**
 * gateway.yaml, in the gateway's own field names (docs/configuration.md; unknown fields stop the
 * gateway). Secrets never go here: they arrive as environment variables from the region Secret.
 */
export function gatewayConfig(cluster: RealtimeCluster, region: RegionSpec, port: number, options: Pick<PlanOptions, 'drainWindowSeconds'>): Record<string, unknown> {
  const { gateway, relay, ai } = cluster.spec;
  const pubsub = relay?.pubsub;
  const limits = gateway.limits ?? {};
  const drainDeadlineMs = options.drainWindowSeconds * 1000;
  return {
    port,
    region: region.name,
    limits: {
      maxConnections: gateway.maxConnectionsPerPod ?? DEFAULTS.maxConnectionsPerPod,
      maxMessageBytes: limits.maxMessageBytes ?? DEFAULTS.maxMessageBytes,
      publishRatePerSec: limits.messagesPerSecond ?? DEFAULTS.messagesPerSecond,
      roomsPerConnection: limits.roomsPerConnection ?? DEFAULTS.roomsPerConnection,
    },
    history: {
      size: gateway.history?.size ?? DEFAULTS.historySize,
      ttlMs: (gateway.history?.ttlSeconds ?? DEFAULTS.historyTtlSeconds) * 1000,
    },
    // Metrics have their own listener; in a pod it must face the pod network for the scraper.
    metrics: { host: '0.0.0.0', port: GATEWAY_METRICS_PORT },
    // Closes (1012) are spread over most of the drain window; the rest lets the last clients finish.
    drain: { windowMs: Math.floor(drainDeadlineMs * 0.8), deadlineMs: drainDeadlineMs },
    ...(gateway.auth?.jwksUrl ? { jwt: { jwksUrl: gateway.auth.jwksUrl } } : {}),
    ...(pubsub ? { relay: { pubsub: { projectId: pubsub.projectId, topic: pubsub.topic ?? defaultTopic(cluster.metadata.namespace ?? '', cluster.metadata.name ?? '') } } } : {}),
    ...(ai ? { ai: gatewayAiConfig(ai) } : {}),
    ...(cluster.spec.notifications ? { notify: notifyConfig(cluster) } : {}),
  };
}

function plainEnv(cluster: RealtimeCluster): Array<{ name: string; value: string }> {
  const emulatorHost = cluster.spec.relay?.pubsub?.emulatorHost;
  // The Google Cloud client library's own variable, not a gateway field.
  return emulatorHost ? [{ name: 'PUBSUB_EMULATOR_HOST', value: emulatorHost }] : [];
}

export interface ClusterPlan {
  problems: SpecProblem[];
  /** One per spec region, in spec order; empty when there are problems. */
  regions: Array<{ spec: RegionSpec; plan: RegionPlan }>;
}

/** Validates the spec and builds every region's plan, reading the hub Secrets it references. */
export async function planCluster(readSecret: ReadSecret, cluster: RealtimeCluster, options: PlanOptions): Promise<ClusterPlan> {
  const problems = checkSpec(cluster);
  if (problems.length > 0) return { problems, regions: [] };
  const namespace = cluster.metadata.namespace ?? '';
  const regions = cluster.spec.regions;
  const shared = clusterSecretUses(cluster);
  const perRegion = regions.map((region, i) => regionSecretUses(region, i));
  const secretNames = new Set([...shared, ...perRegion.flat()].map((use) => use.ref.name));
  const secrets = await readHubSecrets(readSecret, namespace, secretNames);

  const sharedData = resolveUses(shared, secrets, namespace, problems);
  const regionData = perRegion.map((uses) => resolveUses(uses, secrets, namespace, problems));
  if (problems.length > 0) return { problems, regions: [] };

  const port = cluster.spec.gateway.port ?? DEFAULTS.port;
  const pubsubCredentials = shared.some((use) => use.regionKey === 'pubsub-credentials.json');
  return {
    problems,
    regions: regions.map((region, i) => {
      const uses = [...shared, ...perRegion[i]];
      const secretEnv: EnvFromSecret[] = uses.filter((use) => use.env).map((use) => ({ name: use.env as string, key: use.regionKey }));
      const bounds = regionBounds(cluster.spec, region);
      const plan: RegionPlan = {
        clusterName: cluster.metadata.name ?? '',
        hubNamespace: namespace,
        region: region.name,
        namespace: region.namespace ?? DEFAULTS.regionNamespace,
        replicas: heldAtZero(region, options.chooseReplicas(cluster, region, bounds)) ? 0 : Math.min(bounds.max, Math.max(bounds.min, options.chooseReplicas(cluster, region, bounds))),
        image: cluster.spec.gateway.image,
        ...(cluster.spec.gateway.imagePullPolicy ? { imagePullPolicy: cluster.spec.gateway.imagePullPolicy } : {}),
        port,
        resources: stringResources(cluster.spec.gateway.resources),
        gatewayConfig: gatewayConfig(cluster, region, port, options),
        env: plainEnv(cluster),
        secretData: { ...sharedData, ...regionData[i] },
        secretEnv,
        ...(pubsubCredentials ? { pubsubCredentialsKey: 'pubsub-credentials.json' } : {}),
        preStopPauseSeconds: options.preStopPauseSeconds,
        drainWindowSeconds: options.drainWindowSeconds,
      };
      return { spec: region, plan };
    }),
  };
}

/** A region in planned maintenance may be held at zero pods, below its minimum (operator/autoscale/maintenance.ts). */
function heldAtZero(region: RegionSpec, chosen: number): boolean {
  return region.maintenance === true && chosen === 0;
}
