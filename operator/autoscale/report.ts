/**
 * What the autoscaler's decisions become outside it: the region's status fields, Events in the
 * hub, and `meridian_operator_scaling_decisions_total`. Every decision made from a new load
 * sample is counted (hold included); Events are recorded for changes of replicas, for a hold with
 * a new reason that needs attention, and for failover transitions, so a steady state records none.
 */
import type { Logger } from 'pino';
import type { RealtimeCluster } from '../../crds/types.ts';
import { EventReason, MAINTENANCE_EVENTS } from '../events.ts';
import type { EventRecorder } from '../types.ts';
import type { RegionObservation } from '../reconcile/status.ts';
import type { ClusterScaling } from './autoscaler.ts';

/** Hold states that are the normal course of things: no Event. */
const QUIET_STATES = new Set(['Stable', 'Stabilizing', 'ScaledUp', 'ScaledDown']);
/** Hold states that mean something is wrong (Warning). */
const WARNING_STATES = new Set(['LoadStale', 'DeletionCostFailed', 'DrainShareLimit', 'AtMaximum']);

export function scalingObservation(observation: RegionObservation, scaling: ClusterScaling): RegionObservation {
  const region = scaling.regions.get(observation.name);
  if (!region) return observation;
  return { ...observation, connections: region.connections, scaling: region.status, ...(region.maintenance ? { maintenance: region.maintenance } : {}), traffic: region.traffic };
}

export interface ReportDeps {
  events: EventRecorder;
  metrics?: { scalingDecision?(region: string, direction: string, reason: string): void };
  logger: Logger;
}

export async function reportScaling(cluster: RealtimeCluster, scaling: ClusterScaling, deps: ReportDeps): Promise<void> {
  const previous = new Map((cluster.status?.regions ?? []).map((r) => [r.name, r]));
  for (const region of scaling.regions.values()) {
    if (!region.fresh) continue;
    const { decision } = region;
    deps.metrics?.scalingDecision?.(region.region, decision.direction.toLowerCase(), decision.reason);
    if (decision.direction !== 'Hold') {
      deps.logger.info({ region: region.region, direction: decision.direction, replicas: decision.replicas, reason: decision.reason }, 'scaling');
      await deps.events.record(cluster, 'Normal', decision.direction === 'Up' ? EventReason.ScaledUp : EventReason.ScaledDown, `region ${region.region}: ${decision.message} (${decision.reason})`);
      continue;
    }
    const before = previous.get(region.region)?.scaling?.state;
    if (decision.state !== before && !QUIET_STATES.has(decision.state)) {
      await deps.events.record(cluster, WARNING_STATES.has(decision.state) ? 'Warning' : 'Normal', EventReason.ScalingHeld, `region ${region.region}: ${decision.message}`);
    }
  }
  for (const region of scaling.regions.values()) {
    const step = region.maintenance?.step;
    if (step && step !== previous.get(region.region)?.maintenance?.step) {
      await deps.events.record(cluster, 'Normal', MAINTENANCE_EVENTS[step], `region ${region.region}: ${region.maintenance?.message}`);
    }
  }
  for (const change of scaling.failoverChanges) {
    const floors = [...scaling.regions.values()].filter((r) => r.region !== change.region).map((r) => `${r.region} floor ${r.floor}`).join(', ');
    const reason = change.kind === 'Raised' ? EventReason.FailoverCapacityRaised : change.kind === 'Recovering' ? EventReason.FailoverRecovering : EventReason.FailoverCapacityReturned;
    await deps.events.record(cluster, change.kind === 'Raised' ? 'Warning' : 'Normal', reason, `${change.message}${floors ? ` (${floors})` : ''}`);
  }
}
