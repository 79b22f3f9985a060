/**
 * Status of a RealtimeCluster: computed from what each region reported, compared with the live
 * status ignoring timestamps, and written through the /status subresource only when it changed.
 */
import type { V1Deployment } from '@kubernetes/client-node';
import { clusterHeader } from '../../crds/types.ts';
import type { KubeClient } from '../kube/client.ts';
import type { ClusterPhase, Condition, ConditionStatus, FailoverStatus, PendingCleanup, RealtimeCluster, RealtimeClusterStatus, RegionPhase, RegionMaintenanceStatus, RegionScalingStatus, RegionStatus } from '../../crds/types.ts';
import { DEFAULTS } from '../../crds/schema.ts';
import { FIELD_MANAGER } from '../types.ts';
import type { SpecProblem } from './desired.ts';
import { maintenanceCondition } from '../autoscale/maintenance.ts';
import { aiStatus, TRAFFIC_FIELDS, type RegionTraffic } from '../autoscale/traffic.ts';
import { byCodePoint } from '../../lib/code-point-order.ts';

/** The condition types this function owns; others (RelayReady, set by operator/relay-topology, or another component's) are kept as they are. */
export const OWNED_CONDITIONS = ['Ready', 'Progressing', 'Degraded', 'Paused'] as const;

export const ConditionReason = {
  AllRegionsReady: 'AllRegionsReady',
  RegionsNotReady: 'RegionsNotReady',
  RollingOut: 'RollingOut',
  RolloutComplete: 'RolloutComplete',
  InvalidSpec: 'InvalidSpec',
  RegionUnreachable: 'RegionUnreachable',
  RegionFailed: 'RegionFailed',
  AsExpected: 'AsExpected',
  SpecPaused: 'SpecPaused',
  Deleting: 'Deleting',
} as const;

/** What one reconcile learned about one region. */
export interface RegionObservation {
  name: string;
  phase: RegionPhase;
  replicas?: number;
  readyReplicas?: number;
  desiredReplicas?: number;
  message: string;
  /** This reconcile wrote to the region (its lastSyncTime moves). */
  wrote: boolean;
  /** From the autoscaler: the region's connections (absent: the last known are kept). */
  connections?: number;
  /** From the autoscaler: its view of the region (absent: kept as it was). */
  scaling?: RegionScalingStatus;
  /** From the autoscaler: planned maintenance of the region (absent: kept as it was). */
  maintenance?: RegionMaintenanceStatus;
  /** From the autoscaler: rates, relay and AI spend (absent: kept as they were; a field absent inside: unknown, removed). */
  traffic?: RegionTraffic;
}

/** A region's phase from its gateway Deployment: Ready once the current generation has all desired pods ready. */
export function observeDeployment(name: string, deployment: V1Deployment | undefined, desired: number, wrote: boolean): RegionObservation {
  if (!deployment) return { name, phase: 'Pending', desiredReplicas: desired, message: 'gateway Deployment not created yet', wrote };
  const status = deployment.status ?? {};
  const replicas = status.replicas ?? 0;
  const ready = status.readyReplicas ?? 0;
  const updated = status.updatedReplicas ?? 0;
  const observed = (status.observedGeneration ?? 0) >= (deployment.metadata?.generation ?? 0);
  const base = { name, replicas, readyReplicas: ready, desiredReplicas: desired, wrote };
  if (observed && ready >= desired && updated >= desired && replicas === desired) {
    return { ...base, phase: 'Ready', message: `${ready}/${desired} gateway pods ready` };
  }
  return { ...base, phase: 'Progressing', message: `${ready}/${desired} gateway pods ready, ${updated} updated` };
}

export interface StatusInput {
  cluster: RealtimeCluster;
  /** Empty unless the spec is invalid. */
  problems: SpecProblem[];
  /** One per region; absent when the spec is invalid (previous region status is kept). */
  regions?: RegionObservation[];
  /** Cleanup owed and not done yet; absent: keep what the status says (a pass that did not look). */
  pendingCleanup?: PendingCleanup[];
  /** The cluster is being deleted: nothing rolls out, cleanup is in progress. */
  deleting?: boolean;
  paused: boolean;
  now: Date;
  /** From the autoscaler: failed regions the others hold capacity for; absent: kept as it was. */
  failover?: FailoverStatus[];
}

export function condition(previous: Condition[] | undefined, type: string, status: ConditionStatus, reason: string, message: string, generation: number | undefined, now: Date): Condition {
  const before = previous?.find((c) => c.type === type);
  // lastTransitionTime moves only when the status flips, as in metav1.Condition.
  const lastTransitionTime = before && before.status === status ? before.lastTransitionTime : now.toISOString();
  return { type, status, reason, message, ...(generation !== undefined ? { observedGeneration: generation } : {}), lastTransitionTime };
}

function regionStatuses(previous: RegionStatus[] | undefined, observations: RegionObservation[], now: Date): RegionStatus[] {
  return observations.map((seen) => {
    const before = previous?.find((r) => r.name === seen.name);
    // lastSyncTime: when the operator last wrote to the region or saw its phase change. A resync
    // that finds everything in place leaves it alone, so that it makes no status write.
    const moved = seen.wrote || !before || before.phase !== seen.phase;
    const lastSyncTime = seen.phase === 'Unknown' ? before?.lastSyncTime : moved ? now.toISOString() : before?.lastSyncTime;
    const { aiDay: _day, aiProviders: _mix, ...traffic } = seen.traffic ?? Object.fromEntries(TRAFFIC_FIELDS.flatMap((field) => (before?.[field] !== undefined ? [[field, before[field]]] : [])));
    return {
      name: seen.name,
      phase: seen.phase,
      ...(seen.replicas !== undefined ? { replicas: seen.replicas } : {}),
      ...(seen.readyReplicas !== undefined ? { readyReplicas: seen.readyReplicas } : {}),
      ...(seen.desiredReplicas !== undefined ? { desiredReplicas: seen.desiredReplicas } : {}),
      connections: seen.connections ?? before?.connections ?? 0,
      message: seen.message,
      ...(lastSyncTime ? { lastSyncTime } : {}),
      ...((seen.scaling ?? before?.scaling) ? { scaling: seen.scaling ?? before?.scaling } : {}),
      ...((seen.maintenance ?? before?.maintenance) ? { maintenance: seen.maintenance ?? before?.maintenance } : {}),
      ...traffic,
    };
  });
}

function summarize(regions: RegionStatus[]): string {
  return regions.map((r) => `${r.name}: ${r.phase}${r.message ? ` (${r.message})` : ''}`).join('; ');
}

export function computeStatus(input: StatusInput): RealtimeClusterStatus {
  const { cluster, problems, paused, now } = input;
  const previous = cluster.status ?? {};
  const generation = cluster.metadata.generation;
  const regions = input.regions ? regionStatuses(previous.regions, input.regions, now) : (previous.regions ?? []);
  const ready = regions.filter((r) => r.phase === 'Ready').length;
  const total = input.regions ? regions.length : (cluster.spec.regions?.length ?? regions.length);
  const unknown = regions.filter((r) => r.phase === 'Unknown');
  const failed = regions.filter((r) => r.phase === 'Degraded');
  const progressing = regions.filter((r) => r.phase === 'Progressing' || r.phase === 'Pending');
  const allReady = problems.length === 0 && total > 0 && ready === total;
  const prev = previous.conditions;
  const cond = (type: string, status: ConditionStatus, reason: string, message: string) => condition(prev, type, status, reason, message, generation, now);

  let phase: ClusterPhase;
  const conditions: Condition[] = [];
  if (problems.length > 0) {
    const message = problems.map((p) => `${p.field}: ${p.message}`).join('; ');
    phase = 'Degraded';
    conditions.push(cond('Ready', 'False', ConditionReason.InvalidSpec, 'the spec is invalid; regions are left as they were'));
    conditions.push(cond('Progressing', 'False', ConditionReason.InvalidSpec, 'nothing is rolled out until the spec is fixed'));
    conditions.push(cond('Degraded', 'True', problems[0].reason, message));
  } else if (input.deleting) {
    const waiting = (input.pendingCleanup ?? []).map((p) => p.region);
    const message = waiting.length > 0 ? `deleting: cleanup waits for ${[...new Set(waiting)].join(', ')}` : 'deleting: removing objects from regions';
    // The phase column keeps what it said; a region holding the deletion up makes it Degraded.
    phase = unknown.length > 0 || failed.length > 0 ? 'Degraded' : (previous.phase ?? 'Pending');
    conditions.push(cond('Ready', 'False', ConditionReason.Deleting, message));
    conditions.push(cond('Progressing', 'False', ConditionReason.Deleting, `${message}; nothing is rolled out`));
    conditions.push(
      unknown.length > 0 || failed.length > 0
        ? cond('Degraded', 'True', unknown.length > 0 ? ConditionReason.RegionUnreachable : ConditionReason.RegionFailed, summarize([...unknown, ...failed]))
        : cond('Degraded', 'False', ConditionReason.AsExpected, 'all regions reachable'),
    );
  } else {
    phase = unknown.length > 0 || failed.length > 0 ? 'Degraded' : allReady ? 'Ready' : regions.some((r) => r.phase !== 'Pending') ? 'Progressing' : 'Pending';
    conditions.push(
      allReady
        ? cond('Ready', 'True', ConditionReason.AllRegionsReady, `${ready}/${total} regions ready`)
        : cond('Ready', 'False', ConditionReason.RegionsNotReady, `${ready}/${total} regions ready: ${summarize(regions.filter((r) => r.phase !== 'Ready'))}`),
    );
    conditions.push(
      progressing.length > 0
        ? cond('Progressing', 'True', ConditionReason.RollingOut, `rolling out in ${progressing.map((r) => r.name).join(', ')}`)
        : cond('Progressing', 'False', ConditionReason.RolloutComplete, 'no rollout in progress'),
    );
    if (unknown.length > 0) {
      conditions.push(cond('Degraded', 'True', ConditionReason.RegionUnreachable, `unreachable: ${summarize(unknown)}`));
    } else if (failed.length > 0) {
      conditions.push(cond('Degraded', 'True', ConditionReason.RegionFailed, summarize(failed)));
    } else {
      conditions.push(cond('Degraded', 'False', ConditionReason.AsExpected, 'all regions reachable'));
    }
    const maintenance = maintenanceCondition(regions);
    if (maintenance) conditions.push(cond('Maintenance', maintenance.status, maintenance.reason, maintenance.message));
  }
  if (paused) conditions.push(cond('Paused', 'True', ConditionReason.SpecPaused, 'spec.paused is true: nothing is written to regions'));
  // Maintenance is kept as it was on a pass that does not compute it (an invalid spec, deletion).
  const foreign = (prev ?? []).filter((c) => !(OWNED_CONDITIONS as readonly string[]).includes(c.type) && !conditions.some((own) => own.type === c.type));
  const pendingCleanup = input.pendingCleanup ?? previous.pendingCleanup ?? [];
  const failover = input.failover ?? previous.failover ?? [];
  // Spend today: from this pass's load when the autoscaler looked, else kept as it was. A region
  // held at zero pods in planned maintenance cannot spend and has no pod to report its tally: it is
  // left out of the ceiling as it is out of the sum (docs/ai.md), and counts again once restoring.
  const traffic = input.regions?.filter((r) => r.traffic !== undefined);
  const spending = regions.filter((r) => r.maintenance?.step !== 'InMaintenance').length;
  const ai = !cluster.spec.ai
    ? undefined
    : traffic && traffic.length > 0
      ? aiStatus(traffic.map((r) => r.traffic!), cluster.spec.ai.dailyBudgetUsd ?? DEFAULTS.dailyBudgetUsd, spending)
      : previous.ai;

  return {
    ...(generation !== undefined ? { observedGeneration: generation } : {}),
    phase,
    regionsReady: `${ready}/${total}`,
    connections: regions.reduce((sum, r) => sum + (r.connections ?? 0), 0),
    regions,
    ...(pendingCleanup.length > 0 ? { pendingCleanup } : {}),
    ...(failover.length > 0 ? { failover } : {}),
    ...(ai ? { ai } : {}),
    conditions: [...conditions, ...foreign],
  };
}

/** The status with timestamps removed: two statuses that differ only in time are the same. */
function timeless(status: RealtimeClusterStatus | undefined): unknown {
  if (!status) return {};
  return {
    ...status,
    regions: status.regions?.map(({ lastSyncTime: _sync, ...region }) => region),
    // Conditions are a map keyed by type: their order is not a change.
    conditions: status.conditions?.map(({ lastTransitionTime: _time, ...c }) => c).sort((a, b) => byCodePoint(a.type, b.type)),
  };
}

function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v) => (v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => byCodePoint(a, b))) : v));
}

export function statusChanged(before: RealtimeClusterStatus | undefined, after: RealtimeClusterStatus): boolean {
  return canonical(timeless(before)) !== canonical(timeless(after));
}

type Json = Record<string, unknown>;
const isObject = (value: unknown): value is Json => typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * `after` as a merge patch over `before`: a merge patch keeps fields it does not name, so every
 * field `after` drops (at any depth of nested objects, e.g. status.relay.lastError) is sent as null.
 */
function withDeletions(before: Json, after: Json): Json {
  const patch: Json = { ...after };
  for (const [key, value] of Object.entries(before)) {
    if (!(key in after)) patch[key] = null;
    else if (isObject(value) && isObject(after[key])) patch[key] = withDeletions(value, after[key]);
  }
  return patch;
}

/**
 * Writes the status through /status when it changed; returns whether it wrote. With
 * `resourceVersion`, the write fails with 409 if the object changed since it was read (another
 * writer's condition is then not overwritten; the reconcile is retried).
 */
export async function writeStatus(hub: KubeClient, cluster: RealtimeCluster, status: RealtimeClusterStatus, resourceVersion?: string): Promise<boolean> {
  if (!statusChanged(cluster.status, status)) return false;
  const body = { ...(resourceVersion ? { metadata: { resourceVersion } } : {}), status: withDeletions((cluster.status ?? {}) as Json, status as Json) };
  await hub.patch(clusterHeader(cluster), body, 'merge', { fieldManager: FIELD_MANAGER, subresource: 'status' });
  return true;
}
