/**
 * What the workload controllers read from a Pod, as kube-controller-manager reads it: readiness,
 * availability after `minReadySeconds`, whether it still counts (active), its controller, and the
 * order in which a ReplicaSet removes Pods when it scales down.
 */
import type { KubeObject } from '../registry.ts';

/** Lower values go first when a ReplicaSet scales down (the upstream constant's annotation key). */
export const POD_DELETION_COST = 'controller.kubernetes.io/pod-deletion-cost';

/** The controlling ownerReference (at most one per object), if any. */
export function controllerOf(obj: KubeObject): KubeObject | undefined {
  return ((obj.metadata?.ownerReferences ?? []) as KubeObject[]).find((r) => r.controller === true);
}

export function isControlledBy(obj: KubeObject, owner: KubeObject): boolean {
  return controllerOf(obj)?.uid === owner.metadata.uid;
}

/** Not being deleted and not finished: what a ReplicaSet counts as one of its replicas. */
export function isActive(pod: KubeObject): boolean {
  const phase = pod.status?.phase;
  return !pod.metadata.deletionTimestamp && phase !== 'Succeeded' && phase !== 'Failed';
}

function readyCondition(pod: KubeObject): KubeObject | undefined {
  return ((pod.status?.conditions ?? []) as KubeObject[]).find((c) => c.type === 'Ready');
}

export function isReady(pod: KubeObject): boolean {
  return readyCondition(pod)?.status === 'True';
}

/** When the Pod last became Ready (undefined when it is not Ready). */
export function readySince(pod: KubeObject): number | undefined {
  const condition = readyCondition(pod);
  if (condition?.status !== 'True' || !condition.lastTransitionTime) return undefined;
  const at = Date.parse(condition.lastTransitionTime);
  return Number.isNaN(at) ? undefined : at;
}

/**
 * Ready for more than `minReadySeconds` (strictly, as upstream compares with Before); with
 * `minReadySeconds` 0 every Ready Pod is available.
 */
export function isAvailable(pod: KubeObject, minReadySeconds: number, now: number): boolean {
  if (!isReady(pod)) return false;
  if (minReadySeconds <= 0) return true;
  const since = readySince(pod);
  return since !== undefined && since + minReadySeconds * 1000 < now;
}

/**
 * How long until the first Ready-but-not-yet-available Pod becomes available, so a controller can
 * look again then (undefined when no Pod is waiting).
 */
export function nextAvailableInMs(pods: KubeObject[], minReadySeconds: number, now: number): number | undefined {
  if (minReadySeconds <= 0) return undefined;
  let next: number | undefined;
  for (const pod of pods) {
    const since = readySince(pod);
    if (since === undefined || isAvailable(pod, minReadySeconds, now)) continue;
    // One millisecond past the boundary, because availability needs strictly more than minReadySeconds.
    const wait = since + minReadySeconds * 1000 - now + 1;
    next = next === undefined ? wait : Math.min(next, wait);
  }
  return next;
}

/** The pod-deletion-cost annotation; absent or not an int32 counts as 0. */
export function deletionCost(pod: KubeObject): number {
  const raw = pod.metadata.annotations?.[POD_DELETION_COST];
  if (typeof raw !== 'string' || !/^[-+]?\d+$/.test(raw.trim())) return 0;
  const value = Number(raw);
  return value >= -(2 ** 31) && value < 2 ** 31 ? value : 0;
}

const PHASE_ORDER: Record<string, number> = { Pending: 0, Unknown: 1, Running: 2 };

function maxRestarts(pod: KubeObject): number {
  return ((pod.status?.containerStatuses ?? []) as KubeObject[]).reduce((max, s) => Math.max(max, s.restartCount ?? 0), 0);
}

/** floor(log2(nanoseconds since t)), -1 for a time not in the past: the scale-down rank of a ready time. */
function logRank(at: number, now: number): number {
  const elapsedNs = (now - at) * 1e6;
  return elapsedNs > 0 ? Math.floor(Math.log2(elapsedNs)) : -1;
}

function created(pod: KubeObject): number {
  const at = Date.parse(pod.metadata.creationTimestamp ?? '');
  return Number.isNaN(at) ? 0 : at;
}

/**
 * Negative when `a` should be deleted before `b`, following the ReplicaSet controller's ranking:
 * unassigned before assigned; Pending, then Unknown, then Running; not Ready before Ready; lower
 * pod-deletion-cost first; of two Ready Pods the more recently Ready (compared on a logarithmic
 * scale of time since Ready, ties broken by UID, as upstream's LogarithmicScaleDown does); more
 * restarts first; newer first. (Upstream also prefers Pods doubled up on one node; there are no
 * nodes here.)
 */
export function compareForDeletion(a: KubeObject, b: KubeObject, now: number): number {
  const assignedA = a.spec?.nodeName ? 1 : 0;
  const assignedB = b.spec?.nodeName ? 1 : 0;
  if (assignedA !== assignedB) return assignedA - assignedB;
  const phaseA = PHASE_ORDER[a.status?.phase] ?? 0;
  const phaseB = PHASE_ORDER[b.status?.phase] ?? 0;
  if (phaseA !== phaseB) return phaseA - phaseB;
  const readyA = isReady(a) ? 1 : 0;
  const readyB = isReady(b) ? 1 : 0;
  if (readyA !== readyB) return readyA - readyB;
  const costA = deletionCost(a);
  const costB = deletionCost(b);
  if (costA !== costB) return costA - costB;
  if (readyA && readyB) {
    const sinceA = readySince(a);
    const sinceB = readySince(b);
    if (sinceA !== sinceB) {
      if (sinceA === undefined) return -1;
      if (sinceB === undefined) return 1;
      const rank = logRank(sinceA, now) - logRank(sinceB, now);
      if (rank !== 0) return rank;
      return String(a.metadata.uid) < String(b.metadata.uid) ? -1 : 1;
    }
  }
  const restarts = maxRestarts(b) - maxRestarts(a);
  if (restarts !== 0) return restarts;
  return created(b) - created(a);
}

/** Pods in the order a ReplicaSet deletes them (first deleted first). */
export function inDeletionOrder(pods: KubeObject[], now: number): KubeObject[] {
  return [...pods].sort((a, b) => compareForDeletion(a, b, now));
}
