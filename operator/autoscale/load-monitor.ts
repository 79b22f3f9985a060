/**
 * Reads every gateway pod's load (`GET /loadz`) through its region's API server (`pods/proxy`),
 * once per load period, for every region of every cluster the reconciler tracks. The cost is
 * bounded: one request per running pod per period (plus a pod list per region when the region
 * has no pod cache), at most `maxConcurrentReads` in flight across all regions, each bounded by
 * `readTimeoutMs`; a round that is still running when the next period starts is not doubled.
 *
 * Why pods/proxy rather than gateways reporting: gateways hold no Kubernetes credentials
 * (automountServiceAccountToken: false) and need no route to the hub; the operator already holds
 * each region's kubeconfig and reaches its API server, the one endpoint it may assume it can
 * reach. The price is load on the regions' API servers, measured by `npm run bench -- autoscale`.
 *
 * Samples are kept per pod: a pod that misses one round keeps its last sample, and the
 * autoscaler judges a region's load stale once a ready pod has missed two rounds (two periods
 * in the monitor's own time, whatever a round takes on a busy machine) or no round has ended
 * for two periods.
 * After each round the owner of every region read is told (the controller enqueues it).
 */
import type { Logger } from 'pino';
import { systemClock, type Clock, type Timer } from '../clock.ts';
import { errorSummary } from '../errors.ts';
import type { RegionPool } from '../types.ts';
import { AI_PROVIDER_NAMES, type AiProviderName } from '../../crds/types.ts';
import { podProxy } from './pod-proxy.ts';
import { listGatewayPods, type GatewayPod, type GatewayTarget } from './pods.ts';

export interface PodLoad {
  name: string;
  connections: number;
  eventLoopLagMs: number;
  outboundQueuedBytes: number;
  draining: boolean;
  /** Frames per second from and to clients (absent from a gateway that does not report them). */
  msgsInPerSec?: number;
  msgsOutPerSec?: number;
  /** The pod's relay, with a relay configured. */
  relay?: PodRelayLoad;
  /** The region's AI spend today as the pod last read it (absent: AI off, or unknown). */
  ai?: PodSpendLoad;
  /** When the answer arrived (clock ms). */
  sampledAt: number;
  /** The region's round that read it (RegionLoad.round). */
  round: number;
}

export interface PodSpendLoad {
  day: string;
  spentUsd: number;
  /** The day's requests and spend per provider (known names only; absent from an older gateway). */
  providers?: Partial<Record<AiProviderName, { requests: number; spentUsd: number }>>;
}

export interface PodRelayLoad {
  degraded: boolean;
  /** p99 lag of the pod's recent applies; absent when none arrived lately. */
  lagP99Ms?: number;
  gaps: number;
}

export interface RegionLoad {
  /** When the last round of this region ended (clock ms). */
  readAt: number;
  /** Rounds that read this region so far; the one in progress is round + 1. */
  round: number;
  /** The pods listed in the last round. */
  pods: GatewayPod[];
  /** The last sample of each listed pod that ever answered. */
  samples: Map<string, PodLoad>;
  /** Pods that did not answer in the last round, with why. */
  failures: Map<string, string>;
  /** The pods could not be listed in the last round. */
  error?: string;
}

export interface LoadTarget extends GatewayTarget {
  region: { name: string; kubeconfigSecretRef?: { name: string; key: string } };
}

export const LOAD_MONITOR_DEFAULTS = Object.freeze({ periodMs: 15_000, readTimeoutMs: 3_000, maxConcurrentReads: 32 });

export interface LoadMonitorOptions {
  pool: RegionPool;
  logger: Logger;
  clock?: Clock;
  periodMs?: number;
  readTimeoutMs?: number;
  maxConcurrentReads?: number;
  /** A round read this cluster's regions (the controller enqueues the key). */
  onSampled?(key: string): void;
  /** One /loadz read ended (the operator's metric). */
  onRead?(outcome: 'ok' | 'failed'): void;
}

/** Requests made so far, for the benchmark and the tests. */
export interface LoadMonitorStats {
  rounds: number;
  loadReads: number;
  loadFailures: number;
  podLists: number;
}

/** Runs `tasks` with at most `limit` in flight. */
async function bounded<T>(tasks: Array<() => Promise<T>>, limit: number): Promise<T[]> {
  const results: T[] = new Array(tasks.length);
  let next = 0;
  const worker = async () => {
    while (next < tasks.length) {
      const i = next++;
      results[i] = await tasks[i]();
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, tasks.length) }, worker));
  return results;
}

/** A finite number ≥ 0 found in `field`, else undefined. */
function count(field: unknown): number | undefined {
  return typeof field === 'number' && Number.isFinite(field) && field >= 0 ? field : undefined;
}

function parseRelay(value: unknown): PodRelayLoad | undefined {
  const relay = value as Record<string, unknown> | null | undefined;
  if (typeof relay !== 'object' || relay === null || (relay.state !== 'ok' && relay.state !== 'degraded')) return undefined;
  const lag = count(relay.lagP99Ms);
  return { degraded: relay.state === 'degraded', ...(lag !== undefined ? { lagP99Ms: lag } : {}), gaps: count(relay.gaps) ?? 0 };
}

function parseSpend(value: unknown): PodLoad['ai'] {
  const ai = value as Record<string, unknown> | null | undefined;
  const spent = count(ai?.spentUsd);
  if (typeof ai?.day !== 'string' || !/^\d{4}-\d{2}-\d{2}$/.test(ai.day) || spent === undefined) return undefined;
  const providers = parseProviders(ai.providers);
  return { day: ai.day, spentUsd: spent, ...(providers ? { providers } : {}) };
}

/** The provider mix: only the known provider names are read, so a pod cannot grow the status. */
function parseProviders(value: unknown): PodSpendLoad['providers'] {
  if (typeof value !== 'object' || value === null) return undefined;
  const record = value as Record<string, Record<string, unknown> | null | undefined>;
  const providers: NonNullable<PodSpendLoad['providers']> = {};
  for (const name of AI_PROVIDER_NAMES) {
    const requests = count(record[name]?.requests);
    const spentUsd = count(record[name]?.spentUsd);
    if (requests !== undefined && spentUsd !== undefined) providers[name] = { requests: Math.round(requests), spentUsd };
  }
  return providers;
}

/** A /loadz answer; fields the gateway does not report (or reports malformed) stay absent, never 0. */
function parseLoad(text: string): Omit<PodLoad, 'name' | 'sampledAt' | 'round'> | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  const record = value as Record<string, unknown> | null;
  if (typeof record?.connections !== 'number' || record.connections < 0) return undefined;
  const msgsIn = count(record.msgsInPerSec);
  const msgsOut = count(record.msgsOutPerSec);
  const relay = parseRelay(record.relay);
  const ai = parseSpend(record.ai);
  return {
    connections: record.connections,
    eventLoopLagMs: count(record.eventLoopLagMs) ?? 0,
    outboundQueuedBytes: count(record.outboundQueuedBytes) ?? 0,
    draining: record.draining === true,
    ...(msgsIn !== undefined && msgsOut !== undefined ? { msgsInPerSec: msgsIn, msgsOutPerSec: msgsOut } : {}),
    ...(relay ? { relay } : {}),
    ...(ai ? { ai } : {}),
  };
}

export class LoadMonitor {
  readonly periodMs: number;
  readonly stats: LoadMonitorStats = { rounds: 0, loadReads: 0, loadFailures: 0, podLists: 0 };
  readonly #options: LoadMonitorOptions & typeof LOAD_MONITOR_DEFAULTS;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #targets = new Map<string, LoadTarget[]>();
  readonly #loads = new Map<string, RegionLoad>();
  #timer: Timer | undefined;
  #round: Promise<void> | undefined;
  #stopped = false;

  constructor(options: LoadMonitorOptions) {
    this.#options = { ...LOAD_MONITOR_DEFAULTS, ...Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) } as LoadMonitorOptions & typeof LOAD_MONITOR_DEFAULTS;
    this.periodMs = this.#options.periodMs;
    this.#clock = options.clock ?? systemClock;
    this.#log = options.logger.child({ component: 'load-monitor' });
  }

  /** The regions of cluster `key` to read from now on (replaces what was tracked). */
  track(key: string, targets: LoadTarget[]): void {
    this.#targets.set(key, targets);
    for (const loadKey of this.#loads.keys()) {
      if (loadKey.startsWith(`${key}\n`) && !targets.some((t) => loadKey === `${key}\n${t.region.name}`)) this.#loads.delete(loadKey);
    }
  }

  forget(key: string): void {
    this.#targets.delete(key);
    for (const loadKey of [...this.#loads.keys()]) if (loadKey.startsWith(`${key}\n`)) this.#loads.delete(loadKey);
  }

  tracked(key: string): boolean {
    return this.#targets.has(key);
  }

  /** The region's load as last read, or undefined before its first round. */
  load(key: string, region: string): RegionLoad | undefined {
    return this.#loads.get(`${key}\n${region}`);
  }

  /** Reads every period until stop(); the first round starts at once. */
  start(): void {
    if (this.#timer || this.#stopped) return;
    const tick = () => {
      if (this.#stopped) return;
      void this.readAll().finally(() => {
        if (!this.#stopped) this.#timer = this.#clock.after(this.#options.periodMs, tick);
      });
    };
    this.#timer = this.#clock.after(0, tick);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#timer?.cancel();
    await this.#round;
  }

  /** One round over every tracked region (a round in progress is joined, not doubled). */
  readAll(): Promise<void> {
    this.#round ??= this.#readAll().finally(() => (this.#round = undefined));
    return this.#round;
  }

  async #readAll(): Promise<void> {
    this.stats.rounds += 1;
    const entries = [...this.#targets.entries()].flatMap(([key, targets]) => targets.map((target) => ({ key, target })));
    // Pod lists first (cheap, cached), then every pod's read under one global bound.
    const listed = await Promise.all(entries.map(async ({ key, target }) => ({ key, target, ...(await this.#list(key, target)) })));
    const reads = listed.flatMap(({ key, target, client, pods }) =>
      client ? pods.filter((pod) => pod.running).map((pod) => () => this.#read(client, key, target, pod)) : [],
    );
    await bounded(reads, this.#options.maxConcurrentReads);
    const keys = new Set<string>();
    for (const { key, target, pods, error } of listed) {
      const loadKey = `${key}\n${target.region.name}`;
      const load: RegionLoad = this.#loads.get(loadKey) ?? { readAt: 0, round: 0, pods: [], samples: new Map(), failures: new Map() };
      load.readAt = this.#clock.now();
      load.round += 1;
      if (error) load.error = error;
      else {
        delete load.error;
        load.pods = pods;
        const names = new Set(pods.map((p) => p.name));
        for (const name of load.samples.keys()) if (!names.has(name)) load.samples.delete(name);
      }
      this.#loads.set(loadKey, load);
      keys.add(key);
    }
    for (const key of keys) this.#options.onSampled?.(key);
  }

  async #list(key: string, target: LoadTarget) {
    try {
      const client = await this.#options.pool.client(target.hubNamespace, target.region);
      const viaCache = client.cachedList?.({ apiVersion: 'v1', kind: 'Pod', namespace: target.namespace }, {}) !== undefined;
      if (!viaCache) this.stats.podLists += 1;
      const pods = await listGatewayPods(client, target, this.#options.readTimeoutMs);
      const loadKey = `${key}\n${target.region.name}`;
      const load = this.#loads.get(loadKey);
      // Failures are of this round only.
      load?.failures.clear();
      return { client, pods };
    } catch (error) {
      return { client: undefined, pods: [] as GatewayPod[], error: errorSummary(error).message };
    }
  }

  async #read(client: Awaited<ReturnType<RegionPool['client']>>, key: string, target: LoadTarget, pod: GatewayPod): Promise<void> {
    const loadKey = `${key}\n${target.region.name}`;
    let load = this.#loads.get(loadKey);
    if (!load) {
      load = { readAt: 0, round: 0, pods: [], samples: new Map(), failures: new Map() };
      this.#loads.set(loadKey, load);
    }
    this.stats.loadReads += 1;
    try {
      const answer = await podProxy(client, { namespace: target.namespace, pod: pod.name, path: 'loadz', timeoutMs: this.#options.readTimeoutMs });
      const parsed = answer.status === 200 ? parseLoad(answer.text) : undefined;
      this.#options.onRead?.(parsed ? 'ok' : 'failed');
      if (!parsed) {
        this.stats.loadFailures += 1;
        load.failures.set(pod.name, answer.status === 200 ? 'unreadable /loadz answer' : `HTTP ${answer.status}`);
        return;
      }
      load.samples.set(pod.name, { name: pod.name, ...parsed, sampledAt: this.#clock.now(), round: load.round + 1 });
    } catch (error) {
      this.#options.onRead?.('failed');
      this.stats.loadFailures += 1;
      load.failures.set(pod.name, errorSummary(error).message);
      this.#log.debug({ region: target.region.name, pod: pod.name, err: errorSummary(error) }, '/loadz read failed');
    }
  }
}
