/**
 * The controller wires the runtime together. Every source of change becomes a key
 * ("namespace/name" of a RealtimeCluster) in one work queue; workers hand keys to the
 * reconciler, which re-reads everything it needs (level-based), so a key enqueued twice costs
 * one reconcile and a missed event is repaired by the next resync.
 *
 * Sources of keys:
 * - RealtimeClusters in the hub (one namespace or all): spec, metadata or deletion changes,
 *   not the operator's own status writes;
 * - hub Secrets: a change enqueues every cluster in that namespace whose spec names the Secret;
 * - the managed objects in every region (the region pool's caches): any change (a Deployment
 *   edited, deleted, or its pods becoming ready) enqueues the owner named by CLUSTER_LABEL:
 *   drift repair and readiness;
 * - a region's health changing (Unknown ⇄ Reachable) enqueues the clusters using it;
 * - a periodic resync (resyncIntervalMs) enqueues every cluster.
 *
 * The reconciler reads through the same caches: the cluster and hub Secrets from the hub
 * informers, regional objects from the region pool's caches. A resync that finds everything in
 * place therefore makes no request at all.
 */
import type { KubernetesObject, V1Secret } from '@kubernetes/client-node';
import type { KubeClient } from './kube/client.ts';
import type { Logger } from 'pino';
import { API_VERSION, KIND, PLURAL, type RealtimeCluster } from '../crds/types.ts';
import { systemClock, type Clock, type Timer } from './clock.ts';
import { Informer, objectKey, type InformerOptions, type ResourceRef } from './informer.ts';
import type { OperatorMetrics } from './metrics.ts';
import { WorkQueue, type WorkQueueOptions } from './queue.ts';
import { KubeconfigRegionPool, regionKey, type RegionPoolOptions } from './regions.ts';
import { runWorker } from './worker.ts';
import { Autoscaler } from './autoscale/autoscaler.ts';
import { LoadMonitor, type LoadMonitorOptions } from './autoscale/load-monitor.ts';
import { DEFAULT_REGION_CALL_TIMEOUT_MS } from './reconcile/apply.ts';
import { CLUSTER_LABEL, keyFromClusterLabel, type Reconciler, type RegionPool } from './types.ts';

/**
 * A reconcile mostly waits on API round trips (a region's three apply waves, the hub's status
 * write), so workers are cheap concurrency: 16 keep the API servers busy where 4 left them idle
 * between round trips (docs/benchmarks.md, "Operator").
 */
export const CONTROLLER_DEFAULTS = Object.freeze({ workers: 16, resyncIntervalMs: 600_000 });

/** Hooks the reconciler reports through (see operator/reconcile's ReconcileMetrics). */
export interface ReconcileMetricHooks {
  objectsWritten(region: string, count: number): void;
  statusWritten(): void;
  scalingDecision(region: string, direction: string, reason: string): void;
}

/** Parts of the runtime the reconciler may use besides caches. */
export interface ReconcileRuntime {
  /** Present when the controller autoscales (ControllerOptions.autoscaling). */
  autoscaler?: Autoscaler;
}

/** The hub caches, as the reconciler reads them (copies: the caller may change them). */
export interface HubCaches {
  readCluster(namespace: string, name: string): Promise<RealtimeCluster | undefined>;
  readSecret(namespace: string, name: string): Promise<V1Secret | undefined>;
}

export interface ControllerOptions {
  hub: KubeClient;
  /** Builds the reconciler once the region pool and the caches exist (the reconciler reads through them). */
  createReconciler(regions: RegionPool, metrics: ReconcileMetricHooks, caches: HubCaches, runtime: ReconcileRuntime): Reconciler;
  /** Read every gateway pod's load each period and scale regions on it (operator/autoscale); absent: no autoscaling. */
  autoscaling?: Pick<LoadMonitorOptions, 'periodMs' | 'readTimeoutMs' | 'maxConcurrentReads'> & { regionCallTimeoutMs?: number };
  /** Watch RealtimeClusters (and Secrets) in this hub namespace only; all when absent. */
  namespace?: string;
  workers?: number;
  resyncIntervalMs?: number;
  queue?: Omit<WorkQueueOptions, 'clock'>;
  informers?: Pick<InformerOptions, 'silenceLimitMs' | 'watchTimeoutSeconds' | 'backoffInitialMs' | 'backoffMaxMs' | 'pageSize'>;
  regions?: Pick<RegionPoolOptions, 'failureThreshold' | 'unknownAfterMs' | 'successThreshold' | 'probeIntervalMs' | 'probeTimeoutMs'>;
  logger: Logger;
  metrics: OperatorMetrics;
  clock?: Clock;
}

export class Controller {
  readonly regions: KubeconfigRegionPool;
  readonly queue: WorkQueue;
  readonly #options: ControllerOptions;
  readonly #log: Logger;
  readonly #clock: Clock;
  readonly #metrics: OperatorMetrics;
  readonly #clusters: Informer<RealtimeCluster>;
  readonly #secrets: Informer<V1Secret>;
  readonly #reconciler: Reconciler;
  readonly autoscaler: Autoscaler | undefined;
  #workers: Promise<void>[] = [];
  #resyncTimer: Timer | undefined;
  #started = false;
  #stopped = false;
  #stopping: Promise<void> | undefined;

  constructor(options: ControllerOptions) {
    this.#options = options;
    this.#log = options.logger.child({ component: 'controller' });
    this.#clock = options.clock ?? systemClock;
    this.#metrics = options.metrics;
    this.queue = new WorkQueue({ ...options.queue, clock: this.#clock });
    this.#clusters = this.#informer<RealtimeCluster>('hub/realtimeclusters', options.hub, { apiVersion: API_VERSION, kind: KIND, plural: PLURAL }, { namespace: options.namespace });
    this.#secrets = this.#informer<V1Secret>('hub/secrets', options.hub, { apiVersion: 'v1', kind: 'Secret', plural: 'secrets' }, { namespace: options.namespace });
    this.regions = new KubeconfigRegionPool({
      ...options.regions,
      hub: options.hub,
      logger: options.logger,
      clock: this.#clock,
      readSecret: (namespace, name) => this.#readSecret(namespace, name),
      watch: {
        makeInformer: (name, client, resource, extra) => this.#informer(name, client, resource, extra),
        onChange: (object) => {
          const key = keyFromClusterLabel(object.metadata?.labels?.[CLUSTER_LABEL]);
          if (key && this.#inScope(key)) this.enqueue(key);
        },
      },
      onClientAdded: (client) => this.#metrics.regionReachable.set({ region: client.region, source: client.key }, client.health() === 'Reachable' ? 1 : 0),
      onClientRemoved: (client) => this.#metrics.regionReachable.remove({ region: client.region, source: client.key }),
      onHealthChange: (client, health) => {
        this.#metrics.regionReachable.set({ region: client.region, source: client.key }, health === 'Reachable' ? 1 : 0);
        this.#enqueueUsersOf(client.key);
      },
    });
    if (options.autoscaling) {
      const monitor = new LoadMonitor({
        ...options.autoscaling,
        pool: this.regions,
        logger: options.logger,
        clock: this.#clock,
        // A round of load readings is a change of the world: the cluster is looked at again.
        onSampled: (key) => this.enqueue(key),
        onRead: (outcome) => this.#metrics.loadReads.inc({ outcome }),
      });
      this.autoscaler = new Autoscaler({ monitor, logger: options.logger, clock: this.#clock, regionCallTimeoutMs: options.autoscaling.regionCallTimeoutMs ?? DEFAULT_REGION_CALL_TIMEOUT_MS });
    }
    this.#reconciler = options.createReconciler(
      this.regions,
      {
        objectsWritten: (region, count) => this.#metrics.objectsWritten.inc({ region }, count),
        statusWritten: () => this.#metrics.statusWrites.inc(),
        scalingDecision: (region, direction, reason) => this.#metrics.scalingDecisions.inc({ region, direction, reason }),
      },
      {
        readCluster: async (namespace, name) => {
          const cached = this.#clusters.get(`${namespace}/${name}`);
          return cached && structuredClone(cached);
        },
        readSecret: (namespace, name) => this.#readSecret(namespace, name),
      },
      { autoscaler: this.autoscaler },
    );

    this.#clusters.on({
      add: (cluster) => this.enqueue(objectKey(cluster)),
      update: (previous, cluster) => {
        if (needsReconcile(previous, cluster)) this.enqueue(objectKey(cluster));
      },
      delete: (cluster) => this.enqueue(objectKey(cluster)),
    });
    const onSecret = (secret: V1Secret) => this.#enqueueClustersNaming(secret.metadata?.namespace ?? '', secret.metadata?.name ?? '');
    this.#secrets.on({ add: onSecret, update: (_, secret) => onSecret(secret), delete: onSecret });
  }

  /** True once the hub's informers have listed everything. */
  get synced(): boolean {
    return this.#clusters.synced && this.#secrets.synced;
  }

  enqueue(key: string): void {
    this.queue.add(key);
    this.#metrics.queueDepth.set(this.queue.length);
  }

  /** Lists, waits for the hub caches, then starts the workers, the resync and the region probe. */
  async start(): Promise<void> {
    if (this.#started) return;
    this.#started = true;
    this.#clusters.start();
    this.#secrets.start();
    await Promise.all([this.#clusters.waitForSync(), this.#secrets.waitForSync()]);
    if (this.#stopped) return;
    this.#log.info({ clusters: this.#clusters.list().length, workers: this.#options.workers ?? CONTROLLER_DEFAULTS.workers }, 'caches synced; starting workers');
    for (let i = 0; i < (this.#options.workers ?? CONTROLLER_DEFAULTS.workers); i++) this.#workers.push(runWorker(this.queue, this.#reconciler, this.#metrics, this.#log));
    this.regions.startProbing();
    this.autoscaler?.monitor.start();
    this.#scheduleResync();
  }

  /** Stops taking keys, lets in-flight reconciles finish, and stops every informer and probe. */
  stop(): Promise<void> {
    this.#stopping ??= this.#stop();
    return this.#stopping;
  }

  async #stop(): Promise<void> {
    this.#stopped = true;
    this.#resyncTimer?.cancel();
    this.queue.shutdown();
    await this.autoscaler?.monitor.stop();
    await Promise.all(this.#workers);
    await Promise.all([this.regions.stop(), this.#clusters.stop(), this.#secrets.stop()]);
    this.#log.info('controller stopped');
  }

  /** Enqueues every known cluster and forgets region clients no cluster uses any more. */
  resync(): void {
    const used = new Set<string>();
    for (const cluster of this.#clusters.list()) {
      this.enqueue(objectKey(cluster));
      for (const region of cluster.spec?.regions ?? []) used.add(regionKey(cluster.metadata?.namespace ?? '', region));
    }
    this.regions.retain(used);
  }

  #scheduleResync(): void {
    this.#resyncTimer = this.#clock.after(this.#options.resyncIntervalMs ?? CONTROLLER_DEFAULTS.resyncIntervalMs, () => {
      if (this.#stopped) return;
      this.#log.debug('periodic resync');
      this.resync();
      this.#scheduleResync();
    });
  }

  #informer<T extends KubernetesObject>(name: string, client: KubeClient, resource: ResourceRef, extra: Partial<InformerOptions>): Informer<T> {
    return new Informer<T>({
      ...this.#options.informers,
      ...extra,
      name,
      client,
      resource,
      logger: this.#options.logger,
      clock: this.#clock,
      onList: (reason) => this.#metrics.informerLists.inc({ informer: name, reason }),
      onError: (error) => {
        this.#metrics.informerErrors.inc({ informer: name });
        extra.onError?.(error);
      },
    });
  }

  #inScope(key: string): boolean {
    return !this.#options.namespace || key.startsWith(`${this.#options.namespace}/`);
  }

  async #readSecret(namespace: string, name: string): Promise<V1Secret | undefined> {
    if (!this.#secrets.synced) await this.#secrets.waitForSync();
    return this.#secrets.get(`${namespace}/${name}`);
  }

  #enqueueUsersOf(clientKey: string): void {
    for (const cluster of this.#clusters.list()) {
      const namespace = cluster.metadata?.namespace ?? '';
      if ((cluster.spec?.regions ?? []).some((region) => regionKey(namespace, region) === clientKey)) this.enqueue(objectKey(cluster));
    }
  }

  #enqueueClustersNaming(namespace: string, secretName: string): void {
    for (const cluster of this.#clusters.list()) {
      if (cluster.metadata?.namespace === namespace && namesSecret(cluster.spec, secretName)) this.enqueue(objectKey(cluster));
    }
  }
}

/** A change the reconciler must see: spec (generation), deletion, finalizers, labels, annotations. Not status. */
function needsReconcile(previous: RealtimeCluster, current: RealtimeCluster): boolean {
  const a = previous.metadata ?? {};
  const b = current.metadata ?? {};
  return (
    a.generation !== b.generation ||
    // Presence only: a list gives Dates, a watch gives strings; deletion is set once and never unset.
    !a.deletionTimestamp !== !b.deletionTimestamp ||
    JSON.stringify(a.finalizers ?? []) !== JSON.stringify(b.finalizers ?? []) ||
    JSON.stringify(a.annotations ?? {}) !== JSON.stringify(b.annotations ?? {}) ||
    JSON.stringify(a.labels ?? {}) !== JSON.stringify(b.labels ?? {})
  );
}

/** True when any `…SecretRef` anywhere in `value` names `secretName`. */
function namesSecret(value: unknown, secretName: string): boolean {
  if (Array.isArray(value)) return value.some((item) => namesSecret(item, secretName));
  if (typeof value !== 'object' || value === null) return false;
  return Object.entries(value).some(([key, child]) => {
    if (key.endsWith('SecretRef') && typeof child === 'object' && child !== null && (child as { name?: unknown }).name === secretName) return true;
    return namesSecret(child, secretName);
  });
}
