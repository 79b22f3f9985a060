/**
 * The autoscaler as the reconciler uses it: for each region of a cluster, the replicas to render
 * (the `chooseReplicas` seam), the writes that must precede a scale-down (pod-deletion-cost),
 * the rebalancing orders after a scale-up, and what status and Events should say.
 *
 * Decisions are made once per load sample: a reconcile triggered by anything else (a Pod
 * turning Ready, a resync) reuses the decision made for the sample it sees, so a step is never
 * taken twice for one reading of the load. Recommendations are kept in memory for the
 * stabilization windows (after a restart the window must fill again before anything is
 * removed); the last scale-down's time is kept in status, so "one step per window" survives
 * restarts.
 */
import type { V1Deployment } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { FailoverStatus, RealtimeCluster, RegionMaintenanceStatus, RegionScalingStatus, RegionSpec } from '../../crds/types.ts';
import { DEFAULTS } from '../../crds/schema.ts';
import { regionBounds } from '../../crds/validate.ts';
import { systemClock, type Clock } from '../clock.ts';
import { errorSummary } from '../errors.ts';
import { readCurrent } from '../reconcile/apply.ts';
import { objectNames } from '../reconcile/render.ts';
import type { RegionClient, RegionPool } from '../types.ts';
import { decide, summarizeLoad, type Decision, type LoadSummary, type Recommendation } from './decide.ts';
import { failoverFloors, nextFailover, type FailoverChange } from './failover.ts';
import { maintenanceOut, maintenanceStep, reconnectEndpoints, takersNotReady } from './maintenance.ts';
import type { LoadMonitor } from './load-monitor.ts';
import { listGatewayPods, sendReconnectTargets, sendShedOrder, writeDeletionCosts } from './pods.ts';
import { scalingSettings, type ScalingSettings } from './settings.ts';
import { regionTraffic, type RegionTraffic } from './traffic.ts';

export interface RegionScaling {
  region: string;
  decision: Decision;
  /** Made from a new load sample in this pass (Events and metrics are due). */
  fresh: boolean;
  floor: number;
  /** The Deployment's replicas when the decision was made. */
  current: number;
  summary: LoadSummary;
  /** Connections for status: the load's when fresh, else the last known. */
  connections: number;
  status: RegionScalingStatus;
  /** Planned maintenance of the region (absent: it never had any). */
  maintenance?: RegionMaintenanceStatus;
  /** Set on the pass that starts the region's drain: where its pods send their clients. */
  reconnectTo?: string[];
  /** Message rates, relay and AI spend from the load rounds (traffic.ts); empty while unknown. */
  traffic: RegionTraffic;
}

export interface ClusterScaling {
  regions: Map<string, RegionScaling>;
  failover: FailoverStatus[];
  failoverChanges: FailoverChange[];
}

export interface AutoscalerOptions {
  monitor: LoadMonitor;
  logger: Logger;
  clock?: Clock;
  regionCallTimeoutMs: number;
}

interface Memo {
  fingerprint: string;
  scaling: RegionScaling;
}

/** Memory keeps at most this many recommendations per region (bounded by the longest window anyway). */
const MAX_RECOMMENDATIONS = 4096;

export class Autoscaler {
  readonly monitor: LoadMonitor;
  readonly #log: Logger;
  readonly #clock: Clock;
  readonly #timeoutMs: number;
  readonly #history = new Map<string, Recommendation[]>();
  readonly #memo = new Map<string, Memo>();
  /** The load sample each pod was last told to shed for (one order per pod per sample). */
  readonly #shedOrders = new Map<string, number>();

  constructor(options: AutoscalerOptions) {
    this.monitor = options.monitor;
    this.#log = options.logger.child({ component: 'autoscaler' });
    this.#clock = options.clock ?? systemClock;
    this.#timeoutMs = options.regionCallTimeoutMs;
  }

  /** The cluster is gone: stop reading its load and forget its windows. */
  forget(key: string): void {
    this.monitor.forget(key);
    for (const map of [this.#history, this.#memo, this.#shedOrders]) for (const k of [...map.keys()]) if (k.startsWith(`${key}\n`)) map.delete(k);
  }

  /** Decides every region's replicas. Never throws: a region that cannot be read holds. */
  async plan(pool: RegionPool, cluster: RealtimeCluster, key: string, paused: boolean): Promise<ClusterScaling> {
    const hubNamespace = cluster.metadata.namespace ?? '';
    const regions = cluster.spec.regions;
    this.monitor.track(
      key,
      regions.map((r) => ({
        clusterName: cluster.metadata.name ?? '',
        hubNamespace,
        namespace: r.namespace ?? DEFAULTS.regionNamespace,
        region: { name: r.name, ...(r.kubeconfigSecretRef ? { kubeconfigSecretRef: r.kubeconfigSecretRef } : {}) },
      })),
    );
    const settings = scalingSettings(cluster.spec.autoscaling);
    const clients = await Promise.all(regions.map((r) => pool.client(hubNamespace, { name: r.name, ...(r.kubeconfigSecretRef ? { kubeconfigSecretRef: r.kubeconfigSecretRef } : {}) }).catch((error: unknown) => error as Error)));
    const now = this.#clock.now();
    const summaries = regions.map((r) => summarizeLoad(this.monitor.load(key, r.name), now, this.monitor.periodMs));
    const previous = new Map((cluster.status?.regions ?? []).map((r) => [r.name, r]));
    const connectionsOf = (i: number) => (summaries[i].stale ? (previous.get(regions[i].name)?.connections ?? 0) : summaries[i].connections);

    // Failover: which regions fail now (or are out for maintenance), and the floors that follows for the others.
    const failing = regions.map((r, i) => {
      const out = maintenanceOut(r, previous.get(r.name), cluster.status?.failover?.find((f) => f.region === r.name), regionBounds(cluster.spec, r).min);
      if (out) return out;
      const client = clients[i];
      if (client instanceof Error) return `cannot be configured (${client.message})`;
      if (client.health() === 'Unknown') return 'is unreachable';
      const phase = previous.get(r.name)?.phase;
      return phase === 'Unknown' || phase === 'Degraded' ? `is ${phase}` : undefined;
    });
    const { entries: failover, changes: failoverChanges } = nextFailover(
      cluster.status?.failover ?? [],
      regions.map((r, i) => ({ name: r.name, failing: failing[i] !== undefined, connections: previous.get(r.name)?.connections ?? 0, why: failing[i] ?? '', maintenance: r.maintenance === true })),
      new Date(now),
      settings.failoverStabilizationMs,
    );
    const healthy = regions.map((r, i) => ({ spec: r, i })).filter(({ i }) => failing[i] === undefined);
    const floors = failoverFloors(
      healthy.map(({ spec, i }) => ({ name: spec.name, connections: connectionsOf(i), ...regionBounds(cluster.spec, spec) })),
      failover.map((f) => ({ region: f.region, connections: f.connections })),
      settings.targetConnectionsPerPod,
    );

    const scaled = await Promise.all(
      regions.map(async (region, i): Promise<RegionScaling> => {
        const bounds = regionBounds(cluster.spec, region);
        const floor = floors.get(region.name)?.floor ?? bounds.min;
        const client = clients[i];
        const current = client instanceof Error ? undefined : await this.#currentReplicas(client, cluster, region).catch(() => undefined);
        return this.#decideRegion(key, cluster, region, settings, { bounds, floor, current, summary: summaries[i], connections: connectionsOf(i), paused, now, extra: floors.get(region.name)?.extraConnections ?? 0 });
      }),
    );
    const waitingFor = takersNotReady(healthy.map(({ spec }) => ({ name: spec.name, floor: floors.get(spec.name)?.floor ?? regionBounds(cluster.spec, spec).min, previous: previous.get(spec.name) })));
    regions.forEach((region, i) => {
      const entry = scaled[i];
      const load = this.monitor.load(key, region.name);
      entry.traffic = regionTraffic(load, now, this.monitor.periodMs);
      const pass = maintenanceStep({
        region,
        current: clients[i] instanceof Error ? undefined : entry.current,
        entry: failover.find((f) => f.region === region.name),
        previous: previous.get(region.name),
        waitingFor,
        pods: load && !load.error ? load.pods.length : undefined,
        connections: summaries[i].connections,
        stabilizationMs: settings.failoverStabilizationMs,
      });
      if (pass.status) entry.maintenance = pass.status;
      if (pass.atZero && entry.current > 0) entry.reconnectTo = reconnectEndpoints(regions, region, new Set(healthy.map(({ spec }) => spec.name)));
      if (pass.atZero) {
        const message = `planned maintenance: ${pass.status?.message ?? 'held at zero pods'}`;
        entry.decision = { replicas: 0, direction: entry.current > 0 ? 'Down' : 'Hold', reason: 'Maintenance', state: 'Maintenance', message: entry.current > 0 ? `${entry.current} → 0 pods: ${message}` : message };
        entry.status = { ...entry.status, state: 'Maintenance', message };
      }
    });
    return { regions: new Map(scaled.map((s) => [s.region, s])), failover, failoverChanges };
  }

  async #currentReplicas(client: RegionClient, cluster: RealtimeCluster, region: RegionSpec): Promise<number | undefined> {
    const ref = { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: objectNames(cluster.metadata.name ?? '').gateway, namespace: region.namespace ?? DEFAULTS.regionNamespace } };
    const deployment = (await readCurrent(client, ref, this.#timeoutMs)) as V1Deployment | undefined;
    return deployment?.spec?.replicas;
  }

  #decideRegion(
    key: string,
    cluster: RealtimeCluster,
    region: RegionSpec,
    settings: ScalingSettings,
    seen: { bounds: { min: number; max: number }; floor: number; current: number | undefined; summary: LoadSummary; connections: number; paused: boolean; now: number; extra: number },
  ): RegionScaling {
    const regionKey = `${key}\n${region.name}`;
    const before = cluster.status?.regions?.find((r) => r.name === region.name);
    const load = this.monitor.load(key, region.name);
    // A new decision per load round, spec generation, floor or pause; otherwise the last one stands.
    const fingerprint = JSON.stringify([load?.readAt ?? 0, Boolean(seen.summary.stale), cluster.metadata.generation, seen.floor, seen.paused]);
    const memo = this.#memo.get(regionKey);
    if (memo && memo.fingerprint === fingerprint) return { ...memo.scaling, fresh: false };

    // Not created yet: the floor. Unreadable (region dark): what status last asked for.
    const current = seen.current ?? before?.desiredReplicas ?? seen.floor;
    const history = this.#history.get(regionKey) ?? [];
    const last = before?.scaling?.lastDecision;
    const lastScaleDownAt = last?.direction === 'Down' ? Date.parse(last.time) : undefined;
    const decision = decide({ settings, bounds: seen.bounds, floor: seen.floor, current, summary: seen.summary, history, lastScaleDownAt, now: seen.now, paused: seen.paused });
    if (decision.recommendation !== undefined) {
      const longest = Math.max(settings.scaleDownWindowMs, settings.scaleUpWindowMs);
      // Entries inside the longest window, and the last one before it (in force when it began).
      const start = seen.now - longest;
      const boundary = history.filter((r) => r.at < start).at(-1);
      const kept = [...(boundary ? [boundary] : []), ...history.filter((r) => r.at >= start), { at: seen.now, replicas: decision.recommendation }];
      this.#history.set(regionKey, kept.slice(-MAX_RECOMMENDATIONS));
    }
    const lastDecision =
      decision.direction === 'Hold'
        ? last
        : { time: new Date(seen.now).toISOString(), direction: decision.direction, fromReplicas: current, toReplicas: decision.replicas, reason: decision.reason, message: decision.message };
    const floorNote = seen.extra > 0 ? `; floor ${seen.floor} holds room for ${seen.extra} connections of failed regions` : '';
    const status: RegionScalingStatus = {
      state: decision.state,
      message: `${decision.message}${floorNote}`,
      floorReplicas: seen.floor,
      podsReporting: seen.summary.reporting,
      ...(lastDecision ? { lastDecision } : {}),
    };
    const scaling: RegionScaling = { region: region.name, decision, fresh: true, floor: seen.floor, current, summary: seen.summary, connections: seen.connections, status, traffic: {} };
    this.#memo.set(regionKey, { fingerprint, scaling });
    return scaling;
  }

  /**
   * Before replicas are lowered: every pod's deletion cost is set from its live connections, so
   * the ReplicaSet removes the emptiest. If that fails the region holds this pass (replicas are
   * never lowered without the costs in place).
   */
  async prepareScaleDown(pool: RegionPool, cluster: RealtimeCluster, key: string, scaling: ClusterScaling): Promise<void> {
    for (const region of cluster.spec.regions) {
      const entry = scaling.regions.get(region.name);
      if (!entry || entry.decision.direction !== 'Down' || !entry.decision.costs) continue;
      const namespace = region.namespace ?? DEFAULTS.regionNamespace;
      try {
        const client = await pool.client(cluster.metadata.namespace ?? '', { name: region.name, ...(region.kubeconfigSecretRef ? { kubeconfigSecretRef: region.kubeconfigSecretRef } : {}) });
        const pods = await listGatewayPods(client, { clusterName: cluster.metadata.name ?? '', hubNamespace: cluster.metadata.namespace ?? '', namespace }, this.#timeoutMs);
        await writeDeletionCosts(client, namespace, pods, entry.decision.costs, this.#timeoutMs);
      } catch (error) {
        const why = errorSummary(error).message;
        this.#log.warn({ region: region.name, err: errorSummary(error) }, 'pod-deletion-cost not written; scale-down held');
        const message = `scale-down held: pod-deletion-cost could not be written (${why})`;
        entry.decision = { replicas: entry.current, direction: 'Hold', reason: 'DeletionCostFailed', state: 'DeletionCostFailed', message };
        const { lastDecision: _notMade, ...rest } = entry.status;
        const before = cluster.status?.regions?.find((r) => r.name === region.name)?.scaling?.lastDecision;
        entry.status = { ...rest, state: 'DeletionCostFailed', message, ...(before ? { lastDecision: before } : {}) };
        // Decided again on the next pass, with the same sample.
        this.#memo.delete(`${key}\n${region.name}`);
      }
    }
  }

  /**
   * Before a region's drain for maintenance starts, its pods learn where their clients go (a
   * `reconnect` push before each 1012 close). Best effort: a pod that misses the order closes its
   * clients without the push, and they reconnect to the address they used.
   */
  async announceReconnect(pool: RegionPool, cluster: RealtimeCluster, key: string, scaling: ClusterScaling, apiKey: string | undefined): Promise<void> {
    if (!apiKey) return;
    for (const region of cluster.spec.regions) {
      const endpoints = scaling.regions.get(region.name)?.reconnectTo;
      const pods = this.monitor.load(key, region.name)?.pods.filter((p) => p.running && !p.deleting) ?? [];
      if (!endpoints || endpoints.length === 0 || pods.length === 0) continue;
      const namespace = region.namespace ?? DEFAULTS.regionNamespace;
      try {
        const client = await pool.client(cluster.metadata.namespace ?? '', { name: region.name, ...(region.kubeconfigSecretRef ? { kubeconfigSecretRef: region.kubeconfigSecretRef } : {}) });
        const answers = await Promise.all(pods.map((pod) => sendReconnectTargets(client, namespace, pod.name, apiKey, endpoints, this.#timeoutMs)));
        const refused = answers.filter((a) => a.status !== 200).length;
        if (refused > 0) this.#log.warn({ region: region.name, refused }, 'reconnect targets refused by some pods; their clients get no reconnect push');
      } catch (error) {
        this.#log.warn({ region: region.name, err: errorSummary(error) }, 'reconnect targets not delivered; clients get no reconnect push');
      }
    }
  }

  /**
   * Rebalancing: in a region with room (a pod below its share), every pod holding more than its
   * share plus the tolerance is told to shed down to its share, slowly. One order per pod per
   * load sample; an order lapses after two periods unless renewed.
   */
  async rebalance(pool: RegionPool, cluster: RealtimeCluster, key: string, scaling: ClusterScaling, apiKey: string | undefined): Promise<number> {
    const settings = scalingSettings(cluster.spec.autoscaling);
    if (!settings.rebalance.enabled || !apiKey || cluster.spec.paused) return 0;
    let sent = 0;
    for (const region of cluster.spec.regions) {
      const entry = scaling.regions.get(region.name);
      const load = this.monitor.load(key, region.name);
      if (!entry || !load || entry.summary.stale) continue;
      // Orders of pods that are gone are forgotten (the map holds at most the region's pods).
      const listed = new Set(load.pods.map((p) => `${key}\n${region.name}\n${p.name}`));
      for (const order of [...this.#shedOrders.keys()]) if (order.startsWith(`${key}\n${region.name}\n`) && !listed.has(order)) this.#shedOrders.delete(order);
      const serving = entry.summary.pods.filter((p) => p.ready);
      if (serving.length < 2) continue;
      const share = Math.max(1, Math.ceil(entry.summary.connections / serving.length));
      const above = share * (1 + settings.rebalance.tolerancePercent / 100);
      if (!serving.some((p) => p.connections < share)) continue;
      const hot = serving.filter((p) => p.connections > above && this.#shedOrders.get(`${key}\n${region.name}\n${p.name}`) !== load.readAt);
      if (hot.length === 0) continue;
      const namespace = region.namespace ?? DEFAULTS.regionNamespace;
      const client = await pool.client(cluster.metadata.namespace ?? '', { name: region.name, ...(region.kubeconfigSecretRef ? { kubeconfigSecretRef: region.kubeconfigSecretRef } : {}) });
      for (const pod of hot) {
        this.#shedOrders.set(`${key}\n${region.name}\n${pod.name}`, load.readAt);
        try {
          const answer = await sendShedOrder(client, namespace, pod.name, apiKey, { targetConnections: share, perMinute: settings.rebalance.maxShedPerMinute, ttlMs: 2 * this.monitor.periodMs }, this.#timeoutMs);
          if (answer.status === 200) sent += 1;
          else this.#log.warn({ region: region.name, pod: pod.name, status: answer.status }, 'rebalancing order refused');
        } catch (error) {
          this.#log.warn({ region: region.name, pod: pod.name, err: errorSummary(error) }, 'rebalancing order not delivered');
        }
      }
      this.#log.info({ region: region.name, pods: hot.map((p) => p.name), share }, 'rebalancing: pods above their share shed the excess');
    }
    return sent;
  }
}
