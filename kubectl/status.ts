/**
 * `kubectl meridian status`: what one screen says about a RealtimeCluster, as data. Built from
 * the cluster object (spec and status) and its Events only — the hub's API, nothing else — so
 * `-o json|yaml` prints exactly what the text shows.
 *
 * A figure the operator does not report is absent here and "—" on screen, never 0: message
 * rates (`status.regions[].messagesPerSecond`), the relay as the region's pods see it
 * (`relayState`, `relayLagMs`, `relayGaps`) and AI spend (`status.regions[].aiSpentTodayUsd`,
 * `status.ai`) come from the operator's load rounds and are absent until one has read them.
 */
import type { CoreV1Event } from '@kubernetes/client-node';
import { DEFAULTS } from '../crds/schema.ts';
import type { AiProviderDay, Condition, RealtimeCluster } from '../crds/types.ts';

/** The newest Events kept in the report. */
export const EVENTS_SHOWN = 5;

export interface RegionReport {
  name: string;
  /** The status' phase, or undefined before the operator has reported the region. */
  phase?: string;
  readyReplicas?: number;
  desiredReplicas?: number;
  /** The autoscaler's state for the region (`Stable`, `LoadStale`, …) and the numbers behind it. */
  scaling?: string;
  scalingMessage?: string;
  connections?: number;
  /** Frames per second from clients (`in`) and to clients (`out`), summed over the region's pods. */
  messagesPerSecond?: { in: number; out: number };
  /**
   * `off` without spec.relay; `not ready` while the RelayReady condition is False (the topology);
   * else the pods' view (`ok`, `degraded`), else `ready` from RelayReady; undefined while unknown.
   */
  relay?: 'off' | 'ready' | 'not ready' | 'ok' | 'degraded';
  /** p99 of origin publish → append in this region (the worst pod). */
  relayLagMs?: number;
  relayGaps?: number;
  aiSpentTodayUsd?: number;
  lastSyncTime?: string;
  message?: string;
}

export interface EventReport {
  type: string;
  reason: string;
  message: string;
  count: number;
  lastSeen?: string;
}

/** A decision: the autoscaler's last change of a region (from status), or the newest Event of its kind. */
export interface DecisionReport {
  source: 'status' | 'event';
  reason: string;
  message: string;
  lastSeen?: string;
  region?: string;
}

export interface StatusReport {
  name: string;
  namespace: string;
  generation?: number;
  observedGeneration?: number;
  phase?: string;
  regionsReady?: string;
  paused: boolean;
  connections?: number;
  relay: { configured: boolean; ready?: string; reason?: string; message?: string };
  /**
   * dailyBudgetUsd: the cluster's ceiling (each region's budget times `regionsBudgeted`, the
   * regions not held at zero pods in maintenance, as budgets are enforced per region);
   * spentTodayUsd: the regions' sum on `day`, over `regionsReporting` regions; providers: that
   * day's mix (requests and spend per provider that answered), from status.ai.providers.
   */
  ai: {
    configured: boolean;
    regionDailyBudgetUsd?: number;
    dailyBudgetUsd?: number;
    regionsBudgeted?: number;
    day?: string;
    spentTodayUsd?: number;
    regionsReporting?: number;
    providers?: AiProviderDay[];
  };
  regions: RegionReport[];
  conditions: Condition[];
  /**
   * Scaling: the newest `status.regions[].scaling.lastDecision`, else the newest Event whose reason
   * begins with `Scal`; maintenance: the newest Event whose reason begins with `Maintenance`.
   */
  decisions: { scaling?: DecisionReport; maintenance?: DecisionReport };
  events: EventReport[];
  pendingCleanup: Array<{ region: string; namespace: string; message: string }>;
}

/** A non-negative finite number found at `key`, else undefined (a field the status may not carry). */
function reported(object: unknown, key: string): number | undefined {
  const value = (object as Record<string, unknown> | undefined)?.[key];
  return typeof value === 'number' && Number.isFinite(value) && value >= 0 ? value : undefined;
}

function eventTime(event: CoreV1Event): string | undefined {
  const time = event.lastTimestamp ?? event.eventTime ?? event.firstTimestamp ?? event.metadata?.creationTimestamp;
  if (time === undefined) return undefined;
  return time instanceof Date ? time.toISOString() : String(time);
}

function eventReport(event: CoreV1Event): EventReport {
  return { type: event.type ?? 'Normal', reason: event.reason ?? '', message: event.message ?? '', count: event.count ?? 1, ...(eventTime(event) ? { lastSeen: eventTime(event) } : {}) };
}

export function statusReport(cluster: RealtimeCluster, events: readonly CoreV1Event[]): StatusReport {
  const status = cluster.status ?? {};
  const conditions = status.conditions ?? [];
  const relayCondition = conditions.find((c) => c.type === 'RelayReady');
  const relayConfigured = cluster.spec.relay !== undefined;
  const regionRelay: RegionReport['relay'] = !relayConfigured ? 'off' : relayCondition?.status === 'True' ? 'ready' : relayCondition?.status === 'False' ? 'not ready' : undefined;
  const regions = cluster.spec.regions.map((region): RegionReport => {
    const seen = status.regions?.find((r) => r.name === region.name);
    const podsRelay = seen?.relayState === 'Degraded' ? 'degraded' : seen?.relayState === 'Ok' ? 'ok' : undefined;
    const relay = regionRelay === 'off' || regionRelay === 'not ready' ? regionRelay : (podsRelay ?? regionRelay);
    const rates = seen?.messagesPerSecond;
    return {
      name: region.name,
      ...(seen?.phase ? { phase: seen.phase } : {}),
      ...(seen?.readyReplicas !== undefined ? { readyReplicas: seen.readyReplicas } : {}),
      ...(seen?.desiredReplicas !== undefined ? { desiredReplicas: seen.desiredReplicas } : {}),
      ...(seen?.scaling ? { scaling: seen.scaling.state, scalingMessage: seen.scaling.message } : {}),
      ...(seen?.connections !== undefined ? { connections: seen.connections } : {}),
      ...(reported(rates, 'in') !== undefined && reported(rates, 'out') !== undefined ? { messagesPerSecond: { in: rates!.in, out: rates!.out } } : {}),
      ...(relay ? { relay } : {}),
      ...(reported(seen, 'relayLagMs') !== undefined ? { relayLagMs: reported(seen, 'relayLagMs') } : {}),
      ...(reported(seen, 'relayGaps') !== undefined ? { relayGaps: reported(seen, 'relayGaps') } : {}),
      ...(reported(seen, 'aiSpentTodayUsd') !== undefined ? { aiSpentTodayUsd: reported(seen, 'aiSpentTodayUsd') } : {}),
      ...(seen?.lastSyncTime ? { lastSyncTime: seen.lastSyncTime } : {}),
      ...(seen?.message ? { message: seen.message } : {}),
    };
  });
  const newestFirst = [...events].sort((a, b) => (eventTime(b) ?? '').localeCompare(eventTime(a) ?? ''));
  const newest = (prefix: string): DecisionReport | undefined => {
    const found = newestFirst.find((event) => event.reason?.startsWith(prefix));
    if (!found) return undefined;
    const { reason, message, lastSeen } = eventReport(found);
    return { source: 'event', reason, message, ...(lastSeen ? { lastSeen } : {}) };
  };
  const lastChange = (status.regions ?? [])
    .flatMap((region) => (region.scaling?.lastDecision ? [{ region: region.name, decision: region.scaling.lastDecision }] : []))
    .sort((a, b) => b.decision.time.localeCompare(a.decision.time))[0];
  const scaling: DecisionReport | undefined = lastChange
    ? {
        source: 'status',
        region: lastChange.region,
        reason: lastChange.decision.reason,
        message: `${lastChange.decision.fromReplicas} → ${lastChange.decision.toReplicas} pods: ${lastChange.decision.message}`,
        lastSeen: lastChange.decision.time,
      }
    : newest('Scal');
  const maintenance = newest('Maintenance');
  const spent = reported(status.ai, 'spentTodayUsd');
  const regionBudget = cluster.spec.ai ? (cluster.spec.ai.dailyBudgetUsd ?? DEFAULTS.dailyBudgetUsd) : undefined;
  // As the operator counts them: a region held at zero pods in maintenance cannot spend (docs/ai.md).
  const budgeted = cluster.spec.regions.filter((region) => status.regions?.find((r) => r.name === region.name)?.maintenance?.step !== 'InMaintenance').length;
  const ai: StatusReport['ai'] = {
    configured: cluster.spec.ai !== undefined,
    ...(regionBudget !== undefined ? { regionDailyBudgetUsd: regionBudget, dailyBudgetUsd: status.ai?.dailyBudgetUsd ?? regionBudget * budgeted, regionsBudgeted: budgeted } : {}),
    ...(spent !== undefined && status.ai ? { day: status.ai.day, spentTodayUsd: spent, regionsReporting: status.ai.regionsReporting, providers: status.ai.providers ?? [] } : {}),
  };
  return {
    name: cluster.metadata.name ?? '',
    namespace: cluster.metadata.namespace ?? '',
    ...(cluster.metadata.generation !== undefined ? { generation: cluster.metadata.generation } : {}),
    ...(status.observedGeneration !== undefined ? { observedGeneration: status.observedGeneration } : {}),
    ...(status.phase ? { phase: status.phase } : {}),
    ...(status.regionsReady ? { regionsReady: status.regionsReady } : {}),
    paused: cluster.spec.paused === true,
    ...(status.connections !== undefined ? { connections: status.connections } : {}),
    relay: { configured: relayConfigured, ...(relayCondition ? { ready: relayCondition.status, reason: relayCondition.reason, message: relayCondition.message } : {}) },
    ai,
    regions,
    conditions,
    decisions: { ...(scaling ? { scaling } : {}), ...(maintenance ? { maintenance } : {}) },
    events: newestFirst.slice(0, EVENTS_SHOWN).map(eventReport),
    pendingCleanup: status.pendingCleanup ?? [],
  };
}
