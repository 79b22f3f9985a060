/**
 * Samples every RealtimeCluster every `intervalMs` into one view (what the page shows now) and a
 * time series per region over the last `windowMs` (the small charts). A value nobody could
 * measure is null with a reason, never a zero: an unreachable region, a pod whose metrics did not
 * answer, a histogram with nothing observed in the window.
 */
import { DEFAULTS } from '../../crds/schema.ts';
import type { AiProviderDay, AiStatus, Condition, RealtimeCluster, RegionSpec, ScalingDecision } from '../../crds/types.ts';
import { addBuckets, buckets, quantileBetween, sum, type Samples } from './prom-text.ts';
import type { ClusterEvent, DashboardSources, PodSummary } from './sources.ts';
import { byCodePoint } from '../../lib/code-point-order.ts';

export const SERIES = ['connections', 'msgsInPerSec', 'msgsOutPerSec', 'p99Ms', 'relayLagP99Ms', 'aiPerSec'] as const;
export type SeriesName = (typeof SERIES)[number];

export interface PodView extends PodSummary {
  connections: number | null;
  error?: string;
}

export interface RegionView {
  name: string;
  phase: string;
  message?: string;
  desiredReplicas?: number;
  readyReplicas?: number;
  /** Why the region's pods could not be read (the API did not answer). */
  error?: string;
  pods: PodView[];
  connections: number | null;
  msgsInPerSec: number | null;
  msgsOutPerSec: number | null;
  p99Ms: number | null;
  relay: { lagP99Ms: number | null; gaps: number; outbox: number; degraded: boolean } | null;
  /**
   * spentTodayUsd: the region's spend on the UTC day (the tally its pods share, from the operator's
   * load rounds: status.regions[].aiSpentTodayUsd), null while not reported; budgetUsd: the region's
   * own daily budget. requests, costUsd and the provider mix (share of requests) are since the pods
   * started (their counters).
   */
  ai: {
    spentTodayUsd: number | null;
    budgetUsd: number;
    requests: number;
    perSec: number | null;
    costUsd: number;
    providers: Record<string, { requests: number; costUsd: number; share: number }>;
    sentiment: Array<{ room: string; score: number }>;
  } | null;
  /** Notification deliveries since the pods started, per channel and outcome, and the region's queue backlog. */
  notifications: { deliveries: Record<string, Record<string, number>>; backlog: number | null } | null;
}

export interface ClusterView {
  key: string;
  name: string;
  namespace: string;
  phase: string;
  regionsReady?: string;
  conditions: Condition[];
  relayConfigured: boolean;
  /** Each region's daily budget (spec.ai.dailyBudgetUsd; budgets are per region); null without spec.ai. */
  aiBudgetUsd: number | null;
  /** Spend today across the regions (status.ai); null without spec.ai or before the operator reported it. */
  aiToday: AiStatus | null;
  /**
   * Today's provider mix across the regions (status.ai.providers, from each region's per-provider
   * tallies), with each provider's share of the requests; null without spec.ai, before the operator
   * reported the day, or from gateways that do not report a mix.
   */
  aiMixToday: Array<{ name: string; requests: number; spentUsd: number; share: number }> | null;
  regions: RegionView[];
  failovers: ClusterEvent[];
  /** The autoscaler's view of each region (status.regions[].scaling), newest decision first. */
  scaling: Array<{ region: string; state: string; message: string; lastDecision?: ScalingDecision }>;
  eventsError?: string;
}

export interface DashboardView {
  at: number;
  operator: { leader: boolean | null; reconciles: number | null; error?: string };
  clusters: ClusterView[];
  error?: string;
}

/** One point per sample: [time ms, value or null]. */
export type Series = Record<SeriesName, Array<[number, number | null]>>;

interface PodCounters {
  at: number;
  msgsIn: number;
  msgsOut: number;
  ai: number;
}

const FAILOVER_REASONS = new Set(['RegionUnreachable', 'RegionRecovered', 'CleanupBlocked', 'RegionAbandoned', 'FailoverCapacityRaised', 'FailoverRecovering', 'FailoverCapacityReturned']);
/** p99 over this many samples (about 10 s at the default interval). */
const QUANTILE_SAMPLES = 5;

export class Collector {
  private readonly sources: DashboardSources;
  private readonly windowMs: number;
  private readonly series = new Map<string, Series>();
  private readonly counters = new Map<string, PodCounters>();
  private readonly histograms = new Map<string, Array<{ deliver?: Map<number, number>; relay?: Map<number, number> }>>();
  private latest: DashboardView = { at: 0, operator: { leader: null, reconciles: null }, clusters: [], error: 'no sample yet' };

  constructor(sources: DashboardSources, windowMs: number) {
    this.sources = sources;
    this.windowMs = windowMs;
  }

  view(): DashboardView {
    return this.latest;
  }

  /** Series of every region, keyed `<namespace>/<cluster>/<region>`. */
  history(): Record<string, Series> {
    return Object.fromEntries(this.series);
  }

  async sample(now = Date.now()): Promise<DashboardView> {
    const operator = await this.sources.operatorMetrics().then(
      (m) => ({ leader: sum(m, 'meridian_operator_leader') === undefined ? null : sum(m, 'meridian_operator_leader')! > 0, reconciles: sum(m, 'meridian_operator_reconcile_total') ?? null }),
      (error: unknown) => ({ leader: null, reconciles: null, error: String((error as Error).message) }),
    );
    let clusters: RealtimeCluster[];
    try {
      clusters = await this.sources.listClusters();
    } catch (error) {
      this.latest = { at: now, operator, clusters: [], error: `RealtimeClusters could not be listed: ${(error as Error).message}` };
      return this.latest;
    }
    const views = await Promise.all(clusters.map((cluster) => this.clusterView(cluster, now)));
    // Bounded by what exists now: regions, clusters and pods that are gone are forgotten.
    const regionKeys = new Set(views.flatMap((c) => c.regions.map((r) => `${c.key}/${r.name}`)));
    const podKeys = new Set(views.flatMap((c) => c.regions.flatMap((r) => r.pods.map((p) => `${c.key}/${r.name}/${p.name}`))));
    for (const key of this.series.keys()) if (!regionKeys.has(key)) this.series.delete(key);
    for (const key of this.histograms.keys()) if (!regionKeys.has(key)) this.histograms.delete(key);
    for (const key of this.counters.keys()) if (!podKeys.has(key)) this.counters.delete(key);
    this.latest = { at: now, operator, clusters: views };
    return this.latest;
  }

  private async clusterView(cluster: RealtimeCluster, now: number): Promise<ClusterView> {
    const namespace = cluster.metadata.namespace ?? 'default';
    const name = cluster.metadata.name ?? '';
    const status = cluster.status ?? {};
    const [regions, events] = await Promise.all([
      Promise.all(cluster.spec.regions.map((region) => this.regionView(cluster, region, now))),
      this.sources.clusterEvents(cluster).then(
        (list) => ({ list }),
        (error: unknown) => ({ list: [] as ClusterEvent[], error: (error as Error).message }),
      ),
    ]);
    return {
      key: `${namespace}/${name}`,
      name,
      namespace,
      phase: status.phase ?? 'Pending',
      regionsReady: status.regionsReady,
      conditions: status.conditions ?? [],
      relayConfigured: Boolean(cluster.spec.relay?.pubsub),
      aiBudgetUsd: cluster.spec.ai ? (cluster.spec.ai.dailyBudgetUsd ?? DEFAULTS.dailyBudgetUsd) : null,
      aiToday: cluster.spec.ai ? (status.ai ?? null) : null,
      aiMixToday: cluster.spec.ai && status.ai?.providers ? mixWithShares(status.ai.providers) : null,
      regions,
      failovers: events.list.filter((e) => FAILOVER_REASONS.has(e.reason)).sort((a, b) => byCodePoint(b.time, a.time)).slice(0, 5),
      scaling: (status.regions ?? [])
        .filter((r) => r.scaling)
        .map((r) => ({ region: r.name, state: r.scaling!.state, message: r.scaling!.message, ...(r.scaling!.lastDecision ? { lastDecision: r.scaling!.lastDecision } : {}) }))
        .sort((a, b) => byCodePoint(b.lastDecision?.time ?? '', a.lastDecision?.time ?? '')),
      ...('error' in events ? { eventsError: events.error } : {}),
    };
  }

  private async regionView(cluster: RealtimeCluster, region: RegionSpec, now: number): Promise<RegionView> {
    const key = `${cluster.metadata.namespace}/${cluster.metadata.name}/${region.name}`;
    const status = cluster.status?.regions?.find((r) => r.name === region.name);
    const base = {
      name: region.name,
      phase: status?.phase ?? 'Pending',
      message: status?.message,
      desiredReplicas: status?.desiredReplicas,
      readyReplicas: status?.readyReplicas,
    };
    let pods: PodSummary[];
    try {
      pods = await this.sources.regionPods(cluster, region);
    } catch (error) {
      const view: RegionView = { ...base, error: `the region's API did not answer: ${(error as Error).message}`, pods: [], connections: null, msgsInPerSec: null, msgsOutPerSec: null, p99Ms: null, relay: null, ai: null, notifications: null };
      this.record(key, view, now);
      return view;
    }
    const scraped = await Promise.all(
      pods.map(async (pod) => {
        if (!pod.ready && pod.phase !== 'Running') return { pod, error: `not running (${pod.phase})` };
        try {
          return { pod, metrics: await this.sources.podMetrics(cluster, region, pod.name) };
        } catch (error) {
          return { pod, error: `metrics did not answer: ${(error as Error).message}` };
        }
      }),
    );
    const answered = scraped.filter((s): s is { pod: PodSummary; metrics: Samples } => 'metrics' in s && s.metrics !== undefined);
    let msgsIn: number | null = answered.length > 0 ? 0 : null;
    let msgsOut: number | null = msgsIn;
    let aiRate: number | null = msgsIn;
    let deliver: Map<number, number> | undefined;
    let relayHist: Map<number, number> | undefined;
    const relayConfigured = Boolean(cluster.spec.relay?.pubsub);
    const relay = relayConfigured && answered.length > 0 ? { lagP99Ms: null as number | null, gaps: 0, outbox: 0, degraded: false } : null;
    const ai: RegionView['ai'] =
      cluster.spec.ai && answered.length > 0
        ? { spentTodayUsd: status?.aiSpentTodayUsd ?? null, budgetUsd: cluster.spec.ai.dailyBudgetUsd ?? DEFAULTS.dailyBudgetUsd, requests: 0, perSec: null, costUsd: 0, providers: {}, sentiment: [] }
        : null;
    const sentiment = new Map<string, number[]>();
    const notifications = answered.some(({ metrics }) => metrics.has('meridian_notify_deliveries_total') || metrics.has('meridian_notify_backlog'))
      ? { deliveries: {} as Record<string, Record<string, number>>, backlog: null as number | null }
      : null;
    for (const { pod, metrics } of answered) {
      const counters: PodCounters = { at: now, msgsIn: sum(metrics, 'meridian_messages_in_total') ?? 0, msgsOut: sum(metrics, 'meridian_messages_out_total') ?? 0, ai: sum(metrics, 'meridian_ai_requests_total') ?? 0 };
      const podKey = `${key}/${pod.name}`;
      const before = this.counters.get(podKey);
      this.counters.set(podKey, counters);
      // A pod seen for the first time, or restarted (counters went back), has no rate yet.
      if (before && counters.msgsIn >= before.msgsIn && counters.msgsOut >= before.msgsOut) {
        const seconds = (now - before.at) / 1000;
        msgsIn! += (counters.msgsIn - before.msgsIn) / seconds;
        msgsOut! += (counters.msgsOut - before.msgsOut) / seconds;
        aiRate! += Math.max(0, counters.ai - before.ai) / seconds;
      }
      deliver = addBuckets(deliver, buckets(metrics, 'meridian_publish_deliver_seconds'));
      relayHist = addBuckets(relayHist, buckets(metrics, 'meridian_relay_deliver_seconds'));
      if (relay) {
        relay.gaps += sum(metrics, 'meridian_relay_unrecoverable_gaps_total') ?? 0;
        relay.outbox += sum(metrics, 'meridian_relay_outbox_messages') ?? 0;
        relay.degraded ||= (sum(metrics, 'meridian_relay_degraded') ?? 0) > 0;
      }
      if (ai) {
        for (const s of metrics.get('meridian_ai_requests_total') ?? []) {
          const provider = s.labels.provider || 'none';
          ai.requests += s.value;
          (ai.providers[provider] ??= { requests: 0, costUsd: 0, share: 0 }).requests += s.value;
        }
        for (const s of metrics.get('meridian_ai_cost_usd_total') ?? []) {
          ai.costUsd += s.value;
          (ai.providers[s.labels.provider] ??= { requests: 0, costUsd: 0, share: 0 }).costUsd += s.value;
        }
        for (const s of metrics.get('meridian_ai_room_sentiment') ?? []) sentiment.set(s.labels.room, [...(sentiment.get(s.labels.room) ?? []), s.value]);
      }
      if (notifications) {
        for (const s of metrics.get('meridian_notify_deliveries_total') ?? []) {
          const channel = (notifications.deliveries[s.labels.channel] ??= {});
          channel[s.labels.outcome] = (channel[s.labels.outcome] ?? 0) + s.value;
        }
        // The backlog is the region's queue, the same from every pod: the largest report wins.
        const backlog = sum(metrics, 'meridian_notify_backlog');
        if (backlog !== undefined) notifications.backlog = Math.max(notifications.backlog ?? 0, backlog);
      }
    }
    const window = this.histograms.get(key) ?? [];
    window.push({ deliver, relay: relayHist });
    while (window.length > QUANTILE_SAMPLES) window.shift();
    this.histograms.set(key, window);
    const ms = (seconds: number | undefined) => (seconds === undefined ? null : Math.round(seconds * 10_000) / 10);
    if (relay) relay.lagP99Ms = ms(quantileBetween(window[0].relay, relayHist, 0.99));
    if (ai) {
      ai.perSec = aiRate;
      for (const provider of Object.values(ai.providers)) provider.share = ai.requests > 0 ? Math.round((provider.requests / ai.requests) * 1000) / 1000 : 0;
      ai.sentiment = [...sentiment].map(([room, scores]) => ({ room, score: scores.reduce((a, b) => a + b, 0) / scores.length })).sort((a, b) => byCodePoint(a.room, b.room)).slice(0, 10);
    }
    const errors = new Map(scraped.filter((s) => 'error' in s).map((s) => [s.pod.name, (s as { error: string }).error]));
    const connectionsOf = new Map(answered.map(({ pod, metrics }) => [pod.name, sum(metrics, 'meridian_connections') ?? null]));
    const view: RegionView = {
      ...base,
      pods: pods.map((pod) => ({ ...pod, connections: connectionsOf.get(pod.name) ?? null, ...(errors.has(pod.name) ? { error: errors.get(pod.name) } : {}) })),
      connections: answered.length > 0 ? [...connectionsOf.values()].reduce((a: number, b) => a + (b ?? 0), 0) : null,
      msgsInPerSec: round(msgsIn),
      msgsOutPerSec: round(msgsOut),
      p99Ms: ms(quantileBetween(window[0].deliver, deliver, 0.99)),
      relay,
      ai,
      notifications,
    };
    this.record(key, view, now);
    return view;
  }

  private record(key: string, view: RegionView, now: number): void {
    const series = this.series.get(key) ?? (Object.fromEntries(SERIES.map((name) => [name, []])) as unknown as Series);
    const values: Record<SeriesName, number | null> = {
      connections: view.connections,
      msgsInPerSec: view.msgsInPerSec,
      msgsOutPerSec: view.msgsOutPerSec,
      p99Ms: view.p99Ms,
      relayLagP99Ms: view.relay?.lagP99Ms ?? null,
      aiPerSec: view.ai?.perSec ?? null,
    };
    for (const name of SERIES) {
      const points = series[name];
      points.push([now, values[name]]);
      while (points.length > 0 && points[0][0] < now - this.windowMs) points.shift();
    }
    this.series.set(key, series);
  }
}

function round(value: number | null): number | null {
  return value === null ? null : Math.round(value * 10) / 10;
}

function mixWithShares(providers: readonly AiProviderDay[]): NonNullable<ClusterView['aiMixToday']> {
  const total = providers.reduce((sum, p) => sum + p.requests, 0);
  return providers.map((p) => ({ name: p.name, requests: p.requests, spentUsd: p.spentUsd, share: total > 0 ? Math.round((p.requests / total) * 1000) / 1000 : 0 }));
}
