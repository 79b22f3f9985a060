/**
 * The RegionPool: one client per region of a RealtimeCluster, built from the kubeconfig in the
 * Secret `spec.regions[].kubeconfigSecretRef` of the cluster's own (hub) namespace, or the
 * operator's own cluster when the region names no Secret.
 *
 * - Each region's client (operator/kube) has its own credentials and connection pool.
 * - Only inline credentials are accepted: a kubeconfig read from a Secret may not run `exec`
 *   plugins, use auth providers, or name local files (that would let whoever can write the
 *   Secret run commands or read files as the operator).
 * - Clients are cached by region and Secret and rebuilt when the kubeconfig's bytes change.
 * - Health has hysteresis: a region is Unknown after failureThreshold consecutive failures (or
 *   failures lasting unknownAfterMs), and Reachable again after successThreshold consecutive
 *   successes. An HTTP answer below 500 (404, 409, 422) proves the region reachable.
 * - A background probe (GET /version every probeIntervalMs) notices a dark region without traffic.
 * - With `watch`, clients get a RegionCache (informers of the objects the operator manages
 *   there) that the pool starts with the first client and stops when the last client using it is
 *   replaced, dropped by retain(), or the pool stops: the reconciler only reads it.
 * - One cache and one probe per region and kubeconfig, whatever the number of clusters: clients
 *   whose kubeconfigs have the same bytes (tenants in their own namespaces each hold a copy of the
 *   region's Secret) share the cache, and the probe's outcome is recorded on each of them. Watches
 *   and probes grow with the regions, not with the clusters or namespaces that use them.
 */
import { createHash } from 'node:crypto';
import type { KubernetesObject } from '@kubernetes/client-node';
import { KubeClient } from './kube/client.ts';
import { KubeConfigError } from './kube/errors.ts';
import type { Logger } from 'pino';
import { systemClock, withTimeout, type Clock, type Timer } from './clock.ts';
import { OperatorError, errorSummary, isAnswer } from './errors.ts';
import { RegionCache, type InformerFactory } from './region-cache.ts';
import { readSecretFromApi, secretText, type ReadSecret } from './secrets.ts';
import { RegionConfigError, type ObjectRef, type RegionClient, type RegionHealth, type RegionPool } from './types.ts';

export interface RegionRef {
  name: string;
  kubeconfigSecretRef?: { name: string; key: string };
}

export interface RegionPoolOptions {
  /** The operator's own cluster: reads Secrets, and serves regions that name no Secret. */
  hub: KubeClient;
  logger: Logger;
  clock?: Clock;
  /** Consecutive failures after which a Reachable region becomes Unknown. */
  failureThreshold?: number;
  /** A region failing without a success for this long becomes Unknown, whatever the count. */
  unknownAfterMs?: number;
  /** Consecutive successes after which an Unknown region becomes Reachable. */
  successThreshold?: number;
  probeIntervalMs?: number;
  probeTimeoutMs?: number;
  /** Reads a hub Secret, undefined when absent. Defaults to a GET on the hub; the controller passes its cache. */
  readSecret?: ReadSecret;
  /** Keep a cache of the managed objects in every region (the controller's informers and their metrics). */
  watch?: RegionWatchOptions;
  onHealthChange?: (client: PooledRegionClient, health: RegionHealth) => void;
  /** A client was built or dropped (the controller keeps its health gauge). */
  onClientAdded?: (client: PooledRegionClient) => void;
  onClientRemoved?: (client: PooledRegionClient) => void;
}

export interface RegionWatchOptions {
  makeInformer: InformerFactory;
  /** A managed object changed in a region (the controller enqueues its owner). */
  onChange(object: KubernetesObject): void;
}

export const REGION_POOL_DEFAULTS = Object.freeze({ failureThreshold: 3, unknownAfterMs: 30_000, successThreshold: 2, probeIntervalMs: 10_000, probeTimeoutMs: 5_000 });

/** The cache key of a region's client: the region and where its kubeconfig comes from. */
export function regionKey(hubNamespace: string, region: RegionRef): string {
  const ref = region.kubeconfigSecretRef;
  return ref ? `${region.name}@${hubNamespace}/${ref.name}#${ref.key}` : `${region.name}@local`;
}

export class PooledRegionClient implements RegionClient {
  readonly region: string;
  readonly key: string;
  readonly kube: KubeClient;
  readonly fingerprint: string;
  /** Set when the pool keeps caches; its lifecycle is the pool's. */
  readonly cache: RegionCache | undefined;
  readonly #options: typeof REGION_POOL_DEFAULTS;
  readonly #clock: Clock;
  readonly #onChange: (health: RegionHealth) => void;
  #health: RegionHealth = 'Reachable';
  #failures = 0;
  #successes = 0;
  #failingSince: number | undefined;
  #lastError = '';

  constructor(region: string, key: string, kube: KubeClient, fingerprint: string, options: typeof REGION_POOL_DEFAULTS, clock: Clock, onChange: (health: RegionHealth) => void, cache?: RegionCache) {
    this.region = region;
    this.key = key;
    this.kube = kube;
    this.fingerprint = fingerprint;
    this.#options = options;
    this.#clock = clock;
    this.#onChange = onChange;
    this.cache = cache;
  }

  /** What clients may share: the region and the kubeconfig's bytes (hence the same identity). */
  get sharedKey(): string {
    return `${this.region}@${this.fingerprint}`;
  }

  async call<T>(request: (signal: AbortSignal) => Promise<T>, timeoutMs: number): Promise<T> {
    const controller = new AbortController();
    try {
      const timeoutError = () => {
        const error = new OperatorError('REGION_CALL_TIMEOUT', `region ${this.region} did not answer within ${timeoutMs} ms`);
        // The request is abandoned with its connection, not left waiting on a server that stays silent.
        controller.abort(error);
        return error;
      };
      const result = await withTimeout(this.#clock, timeoutMs, request(controller.signal), timeoutError);
      this.recordSuccess();
      return result;
    } catch (error) {
      this.recordFailure(error);
      throw error;
    }
  }

  cached(ref: ObjectRef): { object: KubernetesObject | undefined } | undefined {
    return this.cache?.get(ref);
  }

  wrote(object: KubernetesObject): void {
    this.cache?.wrote(object);
  }

  cachedList(ref: { apiVersion: string; kind: string; namespace: string }, labels: Record<string, string>): KubernetesObject[] | undefined {
    return this.cache?.list(ref, labels);
  }

  health(): RegionHealth {
    return this.#health;
  }

  /** The last failure's one-line summary (no bodies, no credentials). */
  get lastError(): string {
    return this.#lastError;
  }

  recordSuccess(): void {
    this.#failures = 0;
    this.#failingSince = undefined;
    this.#successes += 1;
    if (this.#health === 'Unknown' && this.#successes >= this.#options.successThreshold) this.#set('Reachable');
  }

  /** Reports a failed call; one the server answered (isAnswer) still proves the region reachable. */
  recordFailure(error: unknown): void {
    if (isAnswer(error)) return this.recordSuccess();
    const now = this.#clock.now();
    this.#successes = 0;
    this.#failures += 1;
    this.#failingSince ??= now;
    this.#lastError = errorSummary(error).message;
    const failedLong = now - this.#failingSince >= this.#options.unknownAfterMs;
    if (this.#health === 'Reachable' && (this.#failures >= this.#options.failureThreshold || failedLong)) this.#set('Unknown');
  }

  #set(health: RegionHealth): void {
    this.#health = health;
    this.#onChange(health);
  }
}

export class KubeconfigRegionPool implements RegionPool {
  readonly #hub: KubeClient;
  readonly #log: Logger;
  readonly #clock: Clock;
  readonly #options: typeof REGION_POOL_DEFAULTS;
  readonly #readSecret: ReadSecret;
  readonly #watch: RegionWatchOptions | undefined;
  readonly #hooks: Pick<RegionPoolOptions, 'onHealthChange' | 'onClientAdded' | 'onClientRemoved'>;
  readonly #clients = new Map<string, PooledRegionClient>();
  /** One cache per region and kubeconfig (sharedKey), with the clients that read it. */
  readonly #caches = new Map<string, { cache: RegionCache; kube: KubeClient; users: Set<PooledRegionClient> }>();
  #probeTimer: Timer | undefined;
  #probing = false;

  constructor(options: RegionPoolOptions) {
    this.#hub = options.hub;
    this.#log = options.logger.child({ component: 'regions' });
    this.#clock = options.clock ?? systemClock;
    this.#options = { ...REGION_POOL_DEFAULTS, ...Object.fromEntries(Object.entries(options).filter(([k, v]) => v !== undefined && k in REGION_POOL_DEFAULTS)) };
    this.#readSecret = options.readSecret ?? readSecretFromApi(options.hub);
    this.#watch = options.watch;
    this.#hooks = { onHealthChange: options.onHealthChange, onClientAdded: options.onClientAdded, onClientRemoved: options.onClientRemoved };
  }

  async client(hubNamespace: string, region: RegionRef): Promise<PooledRegionClient> {
    const key = regionKey(hubNamespace, region);
    const ref = region.kubeconfigSecretRef;
    if (!ref) return this.#cached(key) ?? this.#add(region.name, key, this.#hub, 'local');
    let secret;
    try {
      secret = await this.#readSecret(hubNamespace, ref.name);
    } catch (error) {
      throw new RegionConfigError('KubeconfigSecretUnreadable', region.name, `region ${region.name}: cannot read Secret ${hubNamespace}/${ref.name}: ${errorSummary(error).message}`, { cause: error });
    }
    if (!secret) throw new RegionConfigError('KubeconfigSecretMissing', region.name, `region ${region.name}: Secret ${hubNamespace}/${ref.name} does not exist`);
    const text = secretText(secret, ref.key);
    if (!text) throw new RegionConfigError('KubeconfigKeyMissing', region.name, `region ${region.name}: Secret ${hubNamespace}/${ref.name} has no key '${ref.key}'`);
    const fingerprint = createHash('sha256').update(text).digest('hex');
    const cached = this.#cached(key);
    if (cached?.fingerprint === fingerprint) return cached;
    const kube = regionKubeClient(text, region.name);
    if (cached) this.#log.info({ region: region.name, key }, 'kubeconfig changed; rebuilding the region client');
    return this.#add(region.name, key, kube, fingerprint);
  }

  /** Every client built so far. */
  clients(): PooledRegionClient[] {
    return [...this.#clients.values()];
  }

  /** Drops clients whose key is not in `keys` (regions no cluster names any more). */
  retain(keys: ReadonlySet<string>): void {
    for (const [key, client] of this.#clients) {
      if (keys.has(key)) continue;
      this.#clients.delete(key);
      this.#remove(client);
    }
  }

  /** Probes every region now and then every probeIntervalMs until stop(). */
  startProbing(): void {
    if (this.#probeTimer) return;
    const tick = () => {
      void this.probeAll().finally(() => {
        if (this.#probeTimer) this.#probeTimer = this.#clock.after(this.#options.probeIntervalMs, tick);
      });
    };
    this.#probeTimer = this.#clock.after(0, tick);
  }

  /** Stops the probe and every region cache. */
  async stop(): Promise<void> {
    this.#probeTimer?.cancel();
    this.#probeTimer = undefined;
    await Promise.all([...this.#caches.values()].map(({ cache }) => cache.stop()));
    // Idle keep-alive connections are closed now rather than when the server times them out.
    // The hub's client is the caller's to close.
    const kubes = new Set([...this.clients().map(({ kube }) => kube), ...[...this.#caches.values()].map(({ kube }) => kube)]);
    kubes.delete(this.#hub);
    await Promise.all([...kubes].map((kube) => kube.close()));
  }

  /** One probe of every region and kubeconfig (GET /version, bounded by probeTimeoutMs), recorded on each client that uses it. */
  async probeAll(): Promise<void> {
    if (this.#probing) return;
    this.#probing = true;
    try {
      const groups = new Map<string, PooledRegionClient[]>();
      for (const client of this.clients()) groups.set(client.sharedKey, [...(groups.get(client.sharedKey) ?? []), client]);
      await Promise.all([...groups.values()].map((clients) => this.#probe(clients)));
    } finally {
      this.#probing = false;
    }
  }

  async #probe([first, ...others]: PooledRegionClient[]): Promise<void> {
    // The outcome is recorded in each client's health; nothing else to do with it here.
    try {
      await first.call((signal) => first.kube.version({ signal, timeoutMs: this.#options.probeTimeoutMs }), this.#options.probeTimeoutMs);
      for (const client of others) client.recordSuccess();
    } catch (error) {
      for (const client of others) client.recordFailure(error);
    }
  }

  /** The cache for this client's region and kubeconfig, started when it is the first user. */
  #cacheFor(region: string, sharedKey: string, kube: KubeClient): { cache: RegionCache; kube: KubeClient; users: Set<PooledRegionClient> } | undefined {
    if (!this.#watch) return undefined;
    const existing = this.#caches.get(sharedKey);
    if (existing) return existing;
    const users = new Set<PooledRegionClient>();
    const cache = new RegionCache({
      region,
      kube,
      makeInformer: this.#watch.makeInformer,
      // A region that cannot be listed or watched is as unreachable as one that fails a call.
      onError: (error) => {
        for (const user of users) user.recordFailure(error);
      },
      onChange: this.#watch.onChange,
    });
    // The cache watches through the first user's client (and connections), kept open while it runs.
    const entry = { cache, kube, users };
    this.#caches.set(sharedKey, entry);
    cache.start();
    this.#log.info({ region, kinds: cache.kinds }, 'caching managed objects in region');
    return entry;
  }

  /** Drops a client: its cache stops with its last user, and its connections close unless a cache still watches through them. */
  #remove(client: PooledRegionClient): void {
    this.#hooks.onClientRemoved?.(client);
    const close = (kube: KubeClient) => (kube === this.#hub ? undefined : kube.close());
    const entry = this.#caches.get(client.sharedKey);
    if (!entry?.users.delete(client)) return void close(client.kube);
    if (entry.users.size > 0) {
      if (entry.kube !== client.kube) void close(client.kube);
      return;
    }
    this.#caches.delete(client.sharedKey);
    entry.cache
      .stop()
      .then(() => Promise.all([close(client.kube), entry.kube !== client.kube ? close(entry.kube) : undefined]))
      .catch((error: unknown) => this.#log.warn({ region: client.region, err: errorSummary(error) }, 'region cache did not stop cleanly'));
  }

  #cached(key: string): PooledRegionClient | undefined {
    return this.#clients.get(key);
  }

  #add(region: string, key: string, kube: KubeClient, fingerprint: string): PooledRegionClient {
    const onHealth = (health: RegionHealth) => {
      const log = this.#log.child({ region, key });
      if (health === 'Unknown') log.warn({ lastError: client.lastError }, 'region unreachable: Unknown');
      else log.info('region reachable again');
      this.#hooks.onHealthChange?.(client, health);
    };
    const shared = this.#cacheFor(region, `${region}@${fingerprint}`, kube);
    const client: PooledRegionClient = new PooledRegionClient(region, key, kube, fingerprint, this.#options, this.#clock, onHealth, shared?.cache);
    shared?.users.add(client);
    const previous = this.#clients.get(key);
    this.#clients.set(key, client);
    if (previous) this.#remove(previous);
    this.#hooks.onClientAdded?.(client);
    if (this.#probeTimer) void this.#probe([client]);
    return client;
  }
}

/**
 * A client for the kubeconfig in a region's Secret: its current context, inline credentials
 * only (no file, no exec plugin: see parseKubeconfig's inlineOnly).
 */
export function regionKubeClient(text: string, region: string): KubeClient {
  try {
    return KubeClient.fromString(text, { inlineOnly: true });
  } catch (error) {
    if (!(error instanceof KubeConfigError)) throw error;
    throw new RegionConfigError('KubeconfigInvalid', region, `region ${region}: ${error.message}`, { cause: error });
  }
}
