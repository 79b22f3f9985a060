/**
 * The arithmetic of a Deployment rollout, as the upstream deployment controller does it
 * (rolling.go, recreate.go, util): surge and unavailability budgets, how far the new ReplicaSet
 * may grow, how far the old ones may shrink. Pure functions over views of the ReplicaSets; the
 * controller turns the results into writes.
 */
import type { KubeObject } from '../registry.ts';

/** An int, or a percentage string such as "25%" scaled against `total` (other strings are errors, as upstream's intstr makes them). */
export function scaledValue(value: unknown, total: number, roundUp: boolean): number {
  if (typeof value === 'number') return value;
  if (typeof value === 'string') {
    const match = /^(\d+)%$/.exec(value.trim());
    if (match) {
      const exact = (Number(match[1]) * total) / 100;
      return roundUp ? Math.ceil(exact) : Math.floor(exact);
    }
  }
  throw new Error(`invalid value for IntOrString: ${JSON.stringify(value)}`);
}

export function isRollingUpdate(deployment: KubeObject): boolean {
  return (deployment.spec?.strategy?.type ?? 'RollingUpdate') === 'RollingUpdate';
}

/**
 * maxSurge rounds up and maxUnavailable rounds down (so 25 % of 4 is 1 and 1); when both come to
 * 0, one Pod may be unavailable, else the rollout could never move.
 */
export function fenceposts(deployment: KubeObject): { maxSurge: number; maxUnavailable: number } {
  const replicas = deployment.spec?.replicas ?? 1;
  const rolling = deployment.spec?.strategy?.rollingUpdate ?? {};
  const maxSurge = scaledValue(rolling.maxSurge ?? '25%', replicas, true);
  let maxUnavailable = scaledValue(rolling.maxUnavailable ?? '25%', replicas, false);
  if (maxSurge === 0 && maxUnavailable === 0) maxUnavailable = 1;
  return { maxSurge, maxUnavailable };
}

/** Upstream's MaxUnavailable: 0 for Recreate or no replicas, never more than the replicas. */
export function maxUnavailableOf(deployment: KubeObject): number {
  const replicas = deployment.spec?.replicas ?? 1;
  if (!isRollingUpdate(deployment) || replicas === 0) return 0;
  return Math.min(fenceposts(deployment).maxUnavailable, replicas);
}

export function maxSurgeOf(deployment: KubeObject): number {
  return isRollingUpdate(deployment) ? fenceposts(deployment).maxSurge : 0;
}

/**
 * One ReplicaSet as a rollout step sees it: its desired `replicas` (changed by the step), and its
 * active Pods in the order the ReplicaSet would delete them.
 */
export class ReplicaSetView {
  readonly rs: KubeObject;
  replicas: number;
  private readonly ordered: KubeObject[];
  private readonly available: (pod: KubeObject) => boolean;

  constructor(rs: KubeObject, podsInDeletionOrder: KubeObject[], available: (pod: KubeObject) => boolean) {
    this.rs = rs;
    this.replicas = rs.spec?.replicas ?? 1;
    this.ordered = podsInDeletionOrder;
    this.available = available;
  }

  get name(): string {
    return this.rs.metadata.name;
  }

  get specReplicas(): number {
    return this.rs.spec?.replicas ?? 1;
  }

  get pods(): KubeObject[] {
    return this.ordered;
  }

  /**
   * Pods that exist or soon will: the ReplicaSet creates Pods up to `replicas` and deletes down
   * to it, so the larger of the two. Counting this (not only spec.replicas, as upstream does)
   * keeps the surge bound true at every instant, not only once the ReplicaSets have caught up.
   */
  get footprint(): number {
    return Math.max(this.replicas, this.ordered.length);
  }

  /** Available Pods among those the ReplicaSet keeps once it has scaled to `replicas`. */
  get availableKept(): number {
    return this.ordered.slice(Math.max(0, this.ordered.length - this.replicas)).filter(this.available).length;
  }

  get availableNow(): number {
    return this.ordered.filter(this.available).length;
  }
}

const sum = (views: ReplicaSetView[], f: (v: ReplicaSetView) => number) => views.reduce((n, v) => n + f(v), 0);

/** How many replicas the new ReplicaSet may have now (upstream NewRSNewReplicas). */
export function newReplicaSetReplicas(deployment: KubeObject, all: ReplicaSetView[], current: number): number {
  const replicas = deployment.spec?.replicas ?? 1;
  if (!isRollingUpdate(deployment)) return replicas;
  const maxTotal = replicas + fenceposts(deployment).maxSurge;
  const footprint = sum(all, (v) => v.footprint);
  if (footprint >= maxTotal) return current;
  return current + Math.max(0, Math.min(maxTotal - footprint, replicas - current));
}

/**
 * Scales old ReplicaSets down as far as availability allows (upstream reconcileOldReplicaSets):
 * first their unavailable Pods, then available ones while more than replicas - maxUnavailable
 * stay available. Changes `replicas` of the views; returns whether anything changed.
 */
export function scaleDownOld(deployment: KubeObject, newRs: ReplicaSetView | undefined, olds: ReplicaSetView[]): boolean {
  const oldCount = sum(olds, (v) => v.footprint);
  if (oldCount === 0) return false;
  const all = newRs ? [...olds, newRs] : olds;
  const replicas = deployment.spec?.replicas ?? 1;
  const minAvailable = replicas - fenceposts(deployment).maxUnavailable;
  const newUnavailable = newRs ? Math.max(0, newRs.replicas - newRs.availableKept) : 0;
  const maxScaledDown = sum(all, (v) => v.footprint) - minAvailable - newUnavailable;
  if (maxScaledDown <= 0) return false;
  const byAge = [...olds].sort((a, b) => String(a.rs.metadata.creationTimestamp).localeCompare(String(b.rs.metadata.creationTimestamp)));
  let changed = false;
  // Unhealthy replicas first: removing them costs no availability.
  let cleaned = 0;
  for (const view of byAge) {
    if (cleaned >= maxScaledDown) break;
    const unhealthy = view.replicas - view.availableKept;
    if (view.replicas === 0 || unhealthy <= 0) continue;
    const step = Math.min(maxScaledDown - cleaned, unhealthy);
    view.replicas -= step;
    cleaned += step;
    changed = true;
  }
  const available = sum(all, (v) => v.availableKept);
  if (available <= minAvailable) return changed;
  const budget = available - minAvailable;
  let scaled = 0;
  for (const view of byAge) {
    if (scaled >= budget) break;
    if (view.replicas === 0) continue;
    const step = Math.min(view.replicas, budget - scaled);
    view.replicas -= step;
    scaled += step;
    changed = true;
  }
  return changed;
}
