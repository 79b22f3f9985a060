/**
 * The seam between the operator's runtime (regions, informers, queue, leader election,
 * controller) and its reconcile logic. Both halves code against these types only.
 */
import type { KubernetesObject } from '@kubernetes/client-node';
import type { KubeClient } from './kube/client.ts';

/** A region the operator cannot currently reach is `Unknown`: never a reason to delete anything. */
export type RegionHealth = 'Reachable' | 'Unknown';

/** Names one object: enough to find it in a cache or read it. */
export interface ObjectRef {
  apiVersion: string;
  kind: string;
  namespace?: string;
  name: string;
}

/**
 * A client for one region's cluster. Every API call goes through call(), whose outcome feeds
 * health() with hysteresis (not one blip), and is bounded by a timeout so that a hanging region
 * cannot stall a reconcile.
 */
export interface RegionClient {
  readonly region: string;
  /** The region's API (one connection pool per cluster and user). */
  readonly kube: KubeClient;
  health(): RegionHealth;
  /**
   * Runs `request` bounded by timeoutMs: when the time is up the call rejects and `signal`
   * aborts, so the request itself is abandoned too (its connection closed), not left running.
   */
  call<T>(request: (signal: AbortSignal) => Promise<T>, timeoutMs: number): Promise<T>;
  /**
   * The region's informer cache of objects the operator manages (read-only: copy before
   * changing). `{ object }` is the answer, `object` undefined when the cache has none; the
   * method returns undefined when the kind is not cached or the cache has not synced yet:
   * then read live.
   */
  cached(ref: ObjectRef): { object: KubernetesObject | undefined } | undefined;
  /** Tells the cache about an object just written, so that the next read does not see it stale. */
  wrote(object: KubernetesObject): void;
  /**
   * The cached objects of a kind in a namespace carrying `labels`; undefined when the cache
   * cannot answer (then list live). Absent on clients without a cache.
   */
  cachedList?(ref: { apiVersion: string; kind: string; namespace: string }, labels: Record<string, string>): KubernetesObject[] | undefined;
}

/**
 * Clients for the regions of RealtimeClusters. A region's kubeconfig comes from the Secret
 * `spec.regions[].kubeconfigSecretRef` in the RealtimeCluster's own (hub) namespace, or is the
 * operator's own cluster when absent. Each region has its own client and connection pool.
 * Clients are cached and rebuilt when the
 * Secret changes. Throws RegionConfigError (reason e.g. 'KubeconfigSecretMissing') when the
 * Secret or its key is missing or invalid.
 */
export interface RegionPool {
  client(hubNamespace: string, region: { name: string; kubeconfigSecretRef?: { name: string; key: string } }): Promise<RegionClient>;
}

/** Success; optionally look again after `requeueAfterMs`. Throw to retry with backoff; throw TerminalError for no retry. */
export type ReconcileResult = { requeueAfterMs?: number };

/** A failure that retrying cannot fix: logged and counted, never retried. */
export class TerminalError extends Error {
  readonly reason: string;
  constructor(reason: string, message: string) {
    super(message);
    this.name = 'TerminalError';
    this.reason = reason;
  }
}

/** Reasons a region's client cannot be built; each is also a precise Degraded reason. */
export type RegionConfigReason = 'KubeconfigSecretMissing' | 'KubeconfigKeyMissing' | 'KubeconfigInvalid' | 'KubeconfigSecretUnreadable';

/** Thrown by RegionPool.client when a region's kubeconfig Secret or key is missing or invalid. */
export class RegionConfigError extends Error {
  readonly reason: RegionConfigReason;
  readonly region: string;
  constructor(reason: RegionConfigReason, region: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'RegionConfigError';
    this.reason = reason;
    this.region = region;
  }
}

export interface Reconciler {
  /** `key` is "namespace/name" of a RealtimeCluster. Level-based: safe to call again at any time. */
  reconcile(key: string): Promise<ReconcileResult>;
}

/** An Event reason: one of the constants in operator/events.ts. */
export type EventReason = string;

export interface EventRecorder {
  record(object: KubernetesObject, type: 'Normal' | 'Warning', reason: EventReason, message: string): Promise<void>;
}

/** The one field manager for every write the operator makes. */
export const FIELD_MANAGER = 'meridian-operator';

/** On every regional object, valued FIELD_MANAGER: the region caches select on it. */
export const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';

/** On every regional object; its value identifies the owning RealtimeCluster: "<hub-namespace>.<name>". */
export const CLUSTER_LABEL = 'meridian.dev/cluster';

/** The CLUSTER_LABEL value for a RealtimeCluster. Namespaces cannot contain '.', so the first '.' splits it. */
export function clusterLabelValue(hubNamespace: string, name: string): string {
  return `${hubNamespace}.${name}`;
}

/** The RealtimeCluster key ("namespace/name") for a CLUSTER_LABEL value, or undefined when malformed. */
export function keyFromClusterLabel(value: string | undefined): string | undefined {
  if (!value) return undefined;
  const dot = value.indexOf('.');
  if (dot <= 0 || dot === value.length - 1) return undefined;
  return `${value.slice(0, dot)}/${value.slice(dot + 1)}`;
}
