/**
 * One region's scaling decision: pure, from the region's load, its bounds and what was decided
 * before. No I/O and no clock of its own, so every rule can be read here in one place.
 *
 * - Desired pods = (connections plus free slots) ÷ targetConnectionsPerPod, the free slots being
 *   headroomPercent of capacity (Agones' buffer) and at least headroomConnections; one more pod
 *   when a pod's event-loop lag or outbound queue passes its threshold; clamped to
 *   [floor, max], the floor being the region's minimum raised for failed regions.
 * - Up: at once by default (scaleUpWindow: the lowest recommendation of the window wins),
 *   at most max(scaleUpMaxPods, current) pods per step.
 * - Down: only when every recommendation of the last scaleDownWindow is below the current count
 *   (the highest wins), at most one step (scaleDownMaxPods) per window, never taking away a pod
 *   holding more than maxDrainSharePercent of the region's connections. The emptiest pods go:
 *   `costs` are the pod-deletion-costs to write before replicas are lowered.
 * - Stale load (no sample within two periods from a ready pod, or from a pod last seen holding
 *   connections, or none yet): replicas are held.
 */
import type { ScalingSettings } from './settings.ts';
import type { PodLoad, RegionLoad } from './load-monitor.ts';
import { deletionCost } from './pods.ts';

export interface Recommendation {
  at: number;
  replicas: number;
}

/** A region's load reduced to what decisions need. */
export interface LoadSummary {
  connections: number;
  /** Connections per pod that is not being deleted (pods without a sample count 0). */
  pods: Array<{ name: string; connections: number; ready: boolean }>;
  maxEventLoopLagMs: number;
  maxOutboundQueuedBytes: number;
  /** Pods whose sample is fresh. */
  reporting: number;
  /** Set when the load cannot be trusted: why. */
  stale?: string;
}

/** A pod's sample read by the region's last round or the one before (rounds are periods, however long one takes). */
export function freshSample(load: RegionLoad, pod: string): PodLoad | undefined {
  const sample = load.samples.get(pod);
  return sample !== undefined && load.round - sample.round < 2 ? sample : undefined;
}

/** The region's load is too old to say anything: never read, pods unlistable, or no round for two periods. */
export function loadTooOld(load: RegionLoad | undefined, now: number, periodMs: number): string | undefined {
  if (!load) return 'no load read yet';
  if (load.error) return `pods cannot be listed: ${load.error}`;
  if (now - load.readAt > 2 * periodMs) return `load last read at ${new Date(load.readAt).toISOString()} (more than two periods ago)`;
  return undefined;
}

export function summarizeLoad(load: RegionLoad | undefined, now: number, periodMs: number): LoadSummary {
  const empty = { connections: 0, pods: [], maxEventLoopLagMs: 0, maxOutboundQueuedBytes: 0, reporting: 0 };
  const tooOld = loadTooOld(load, now, periodMs);
  if (!load || tooOld) return { ...empty, stale: tooOld };
  let connections = 0;
  let reporting = 0;
  let maxEventLoopLagMs = 0;
  let maxOutboundQueuedBytes = 0;
  const missing: string[] = [];
  const pods: LoadSummary['pods'] = [];
  for (const pod of load.pods) {
    const sample = load.samples.get(pod.name);
    const fresh = freshSample(load, pod.name);
    if (fresh) {
      reporting += 1;
      // Clients of a pod being deleted reconnect to the others: they still count.
      connections += fresh.connections;
      maxEventLoopLagMs = Math.max(maxEventLoopLagMs, fresh.eventLoopLagMs);
      maxOutboundQueuedBytes = Math.max(maxOutboundQueuedBytes, fresh.outboundQueuedBytes);
    } else if (!pod.deleting && (pod.ready || (sample?.connections ?? 0) > 0) && (sample !== undefined || load.failures.has(pod.name))) {
      // A ready pod, or one last seen holding clients (hung, crashed), that did not answer: its
      // clients are unknown. A pod that became ready since the last round is simply not read yet.
      missing.push(`${pod.name} (${load.failures.get(pod.name) ?? 'no sample'})`);
    }
    if (!pod.deleting) pods.push({ name: pod.name, connections: fresh?.connections ?? 0, ready: pod.ready });
  }
  const summary = { connections, pods, maxEventLoopLagMs, maxOutboundQueuedBytes, reporting };
  if (missing.length > 0) return { ...summary, stale: `no load within two periods from ready pods ${missing.join(', ')}` };
  return summary;
}

export interface DecisionInput {
  settings: ScalingSettings;
  bounds: { min: number; max: number };
  /** min, raised while other regions fail (failover.ts). */
  floor: number;
  /** The Deployment's replicas now. */
  current: number;
  summary: LoadSummary;
  /** Earlier recommendations (oldest first), without this one. */
  history: Recommendation[];
  lastScaleDownAt?: number;
  now: number;
  paused: boolean;
}

export type Direction = 'Up' | 'Down' | 'Hold';

export interface Decision {
  replicas: number;
  direction: Direction;
  /** Up/Down: Connections, EventLoopLag, OutboundPressure, FailoverFloor, Bounds. Hold: the state. */
  reason: string;
  /** The region's scaling state for status: ScaledUp, ScaledDown, Stable, Stabilizing, LoadStale, Paused, DrainShareLimit, AtMaximum. */
  state: string;
  message: string;
  /** This pass's recommendation (absent when load was not used). */
  recommendation?: number;
  /** Down: pod-deletion-cost of every pod, to be written before replicas are lowered. */
  costs?: Map<string, number>;
}

const clamp = (value: number, low: number, high: number) => Math.min(high, Math.max(low, value));

function hold(input: DecisionInput, state: string, message: string, recommendation?: number): Decision {
  return { replicas: input.current, direction: 'Hold', reason: state, state, message, ...(recommendation !== undefined ? { recommendation } : {}) };
}

function move(input: DecisionInput, to: number, reason: string, message: string, recommendation?: number): Decision {
  const up = to > input.current;
  const decision: Decision = {
    replicas: to,
    direction: up ? 'Up' : 'Down',
    reason,
    state: up ? 'ScaledUp' : 'ScaledDown',
    message: `${input.current} → ${to} pods: ${message}`,
    ...(recommendation !== undefined ? { recommendation } : {}),
  };
  if (!up) decision.costs = new Map(input.summary.pods.map((p) => [p.name, deletionCost(p.connections)]));
  return decision;
}

/** Pods the load asks for, and why (the reason of the largest term). */
export function recommend(settings: ScalingSettings, summary: LoadSummary, current: number): { replicas: number; reason: string; message: string } {
  const { targetConnectionsPerPod: target, headroomPercent, headroomConnections } = settings;
  const byShare = Math.ceil((summary.connections * 100) / (100 - headroomPercent));
  const capacity = Math.max(byShare, summary.connections + headroomConnections);
  const byConnections = Math.ceil(capacity / target);
  const message = `${summary.connections} connections + ${capacity - summary.connections} free slots at ${target} per pod`;
  if (summary.maxEventLoopLagMs > settings.eventLoopLagThresholdMs && current + 1 > byConnections) {
    return { replicas: current + 1, reason: 'EventLoopLag', message: `event-loop lag ${summary.maxEventLoopLagMs} ms above ${settings.eventLoopLagThresholdMs} ms (${message})` };
  }
  if (summary.maxOutboundQueuedBytes > settings.outboundQueueThresholdBytes && current + 1 > byConnections) {
    return { replicas: current + 1, reason: 'OutboundPressure', message: `${summary.maxOutboundQueuedBytes} outbound bytes queued on one pod, above ${settings.outboundQueueThresholdBytes} (${message})` };
  }
  return { replicas: byConnections, reason: 'Connections', message };
}

export function decide(input: DecisionInput): Decision {
  const { settings, bounds, floor, current, summary, history, now } = input;
  if (input.paused) return hold(input, 'Paused', 'spec.paused is true: replicas are frozen');
  if (current < floor) return move(input, floor, floor > bounds.min ? 'FailoverFloor' : 'Bounds', `below the floor of ${floor}${floor > bounds.min ? ` (minimum ${bounds.min} raised for failed regions)` : ''}`);
  if (current > bounds.max) return move(input, bounds.max, 'Bounds', `above the maximum of ${bounds.max}`);
  if (summary.stale) return hold(input, 'LoadStale', `replicas held: ${summary.stale}`);

  const wanted = recommend(settings, summary, current);
  const recommendation = clamp(wanted.replicas, floor, bounds.max);
  // The window's recommendations, with the one in force when the window began: a recommendation
  // must have held for the whole window, however sparse the rounds were.
  const inWindow = (windowMs: number) => {
    const start = now - windowMs;
    const before = history.filter((r) => r.at < start).at(-1);
    return [...(before ? [before] : []), ...history.filter((r) => r.at >= start), { at: now, replicas: recommendation }];
  };

  const upTo = settings.scaleUpWindowMs > 0 ? Math.min(...inWindow(settings.scaleUpWindowMs).map((r) => r.replicas)) : recommendation;
  if (upTo > current) {
    const to = Math.min(upTo, current + Math.max(settings.scaleUpMaxPods, current));
    const reason = wanted.replicas >= recommendation ? wanted.reason : 'FailoverFloor';
    return move(input, to, reason, `${wanted.message}${to < upTo ? `; step bounded, ${upTo} wanted` : ''}`, recommendation);
  }
  if (recommendation >= current) {
    const atMax = wanted.replicas > bounds.max && current === bounds.max;
    return hold(input, atMax ? 'AtMaximum' : 'Stable', atMax ? `${wanted.message}: ${wanted.replicas} pods wanted, held at the maximum ${bounds.max}` : `${wanted.message}: ${current} pods`, recommendation);
  }

  const windowMs = settings.scaleDownWindowMs;
  const covered = windowMs === 0 || (history.length > 0 && history[0].at <= now - windowMs);
  const downTo = Math.max(...inWindow(windowMs).map((r) => r.replicas));
  const seconds = Math.round(windowMs / 1000);
  if (!covered || downTo >= current) {
    return hold(input, 'Stabilizing', `${wanted.message}: ${recommendation} pods would do; waiting for ${seconds} s of lower recommendations before removing any`, recommendation);
  }
  if (input.lastScaleDownAt !== undefined && now - input.lastScaleDownAt < windowMs) {
    return hold(input, 'Stabilizing', `${wanted.message}: ${downTo} pods would do; one step per ${seconds} s, the last at ${new Date(input.lastScaleDownAt).toISOString()}`, recommendation);
  }
  let to = Math.max(downTo, current - settings.scaleDownMaxPods);
  // The emptiest pods go first (lowest deletion cost); none may hold too large a share.
  const emptiest = [...summary.pods].sort((a, b) => Number(a.ready) - Number(b.ready) || a.connections - b.connections).slice(0, current - to);
  const limit = (summary.connections * settings.maxDrainSharePercent) / 100;
  const allowed = emptiest.findIndex((p) => summary.connections > 0 && p.connections > limit);
  if (allowed === 0) {
    return hold(input, 'DrainShareLimit', `${wanted.message}: the emptiest pod ${emptiest[0].name} holds ${emptiest[0].connections} of ${summary.connections} connections, more than ${settings.maxDrainSharePercent}%`, recommendation);
  }
  if (allowed > 0) to = current - allowed;
  const moved = emptiest.slice(0, current - to).reduce((sum, p) => sum + p.connections, 0);
  return move(input, to, 'Connections', `${wanted.message}; the emptiest ${current - to} pod(s) go, ${moved} connections reconnect elsewhere`, recommendation);
}
