/**
 * A Deployment's status as the upstream controller computes it (sync.go calculateStatus,
 * progress.go syncRolloutStatus): counts summed over its ReplicaSets' Pods, the Available
 * condition from maxUnavailable, and the Progressing condition with upstream's reasons and
 * messages, including the progress deadline.
 */
import type { KubeObject } from '../registry.ts';
import { maxUnavailableOf, type ReplicaSetView } from './rollout.ts';

export const DeploymentReasons = {
  minimumReplicasAvailable: 'MinimumReplicasAvailable',
  minimumReplicasUnavailable: 'MinimumReplicasUnavailable',
  newReplicaSetCreated: 'NewReplicaSetCreated',
  foundNewReplicaSet: 'FoundNewReplicaSet',
  replicaSetUpdated: 'ReplicaSetUpdated',
  newReplicaSetAvailable: 'NewReplicaSetAvailable',
  progressDeadlineExceeded: 'ProgressDeadlineExceeded',
  paused: 'DeploymentPaused',
  resumed: 'DeploymentResumed',
} as const;

/** progressDeadlineSeconds at int32 max means "no deadline", as upstream reads it. */
const NO_DEADLINE = 2 ** 31 - 1;

export interface StatusCounts {
  replicas: number;
  updatedReplicas: number;
  readyReplicas: number;
  availableReplicas: number;
  unavailableReplicas: number;
}

/** Counts over active Pods; unavailable is desired (sum of spec.replicas) minus available. */
export function countStatus(all: ReplicaSetView[], newRs: ReplicaSetView | undefined, isReady: (pod: KubeObject) => boolean): StatusCounts {
  const replicas = all.reduce((n, v) => n + v.pods.length, 0);
  const availableReplicas = all.reduce((n, v) => n + v.availableNow, 0);
  const desired = all.reduce((n, v) => n + v.replicas, 0);
  return {
    replicas,
    updatedReplicas: newRs?.pods.length ?? 0,
    readyReplicas: all.reduce((n, v) => n + v.pods.filter(isReady).length, 0),
    availableReplicas,
    unavailableReplicas: Math.max(0, desired - availableReplicas),
  };
}

/** Upstream's DeploymentComplete: every desired replica updated and available, nothing extra. */
export function isComplete(deployment: KubeObject, counts: StatusCounts, observedGeneration: number): boolean {
  const replicas = deployment.spec?.replicas ?? 1;
  return counts.updatedReplicas === replicas && counts.replicas === replicas && counts.availableReplicas === replicas && observedGeneration >= (deployment.metadata.generation ?? 0);
}

/** Upstream's DeploymentProgressing: more updated, ready or available Pods, or fewer old ones. */
function isProgressing(previous: KubeObject, counts: StatusCounts): boolean {
  const oldBefore = (previous.replicas ?? 0) - (previous.updatedReplicas ?? 0);
  const oldNow = counts.replicas - counts.updatedReplicas;
  return counts.updatedReplicas > (previous.updatedReplicas ?? 0) || oldNow < oldBefore || counts.readyReplicas > (previous.readyReplicas ?? 0) || counts.availableReplicas > (previous.availableReplicas ?? 0);
}

export interface ConditionInput {
  deployment: KubeObject;
  counts: StatusCounts;
  newRsName: string | undefined;
  /** Set when this sync created the new ReplicaSet or found it without a Progressing condition. */
  newRsEvent?: 'created' | 'found';
  now: Date;
}

type Condition = KubeObject;

function upsert(conditions: Condition[], next: Condition): Condition[] {
  const index = conditions.findIndex((c) => c.type === next.type);
  if (index === -1) return [...conditions, next];
  const copy = [...conditions];
  copy[index] = next;
  return copy;
}

/**
 * The conditions to write, plus how long until the progress deadline passes (so the controller
 * can look again then; undefined when no deadline is running).
 */
export function nextConditions(input: ConditionInput): { conditions: Condition[]; deadlineInMs?: number } {
  const { deployment, counts, newRsName, now } = input;
  const at = now.toISOString().replace(/\.\d{3}Z$/, 'Z');
  const previousStatus = deployment.status ?? {};
  let conditions: Condition[] = structuredClone(previousStatus.conditions ?? []);
  const find = (type: string) => conditions.find((c) => c.type === type);
  const set = (type: string, status: string, reason: string, message: string, keepTransition = false) => {
    const before = find(type);
    // Same status and reason: nothing to record (upstream ignores a changed message too).
    if (before && before.status === status && before.reason === reason && !keepTransition) return;
    const transition = before && before.status === status ? before.lastTransitionTime : at;
    conditions = upsert(conditions, { type, status, lastUpdateTime: at, lastTransitionTime: transition, reason, message });
  };

  const replicas = deployment.spec?.replicas ?? 1;
  if (counts.availableReplicas >= replicas - maxUnavailableOf(deployment)) {
    set('Available', 'True', DeploymentReasons.minimumReplicasAvailable, 'Deployment has minimum availability.');
  } else {
    set('Available', 'False', DeploymentReasons.minimumReplicasUnavailable, 'Deployment does not have minimum availability.');
  }

  const progressing = find('Progressing');
  if (deployment.spec?.paused) {
    if (progressing?.reason !== DeploymentReasons.paused) set('Progressing', 'Unknown', DeploymentReasons.paused, 'Deployment is paused');
    return { conditions };
  }
  if (progressing?.reason === DeploymentReasons.paused) set('Progressing', 'Unknown', DeploymentReasons.resumed, 'Deployment is resumed');
  if (input.newRsEvent === 'created') set('Progressing', 'True', DeploymentReasons.newReplicaSetCreated, `Created new replica set "${newRsName}"`);
  else if (input.newRsEvent === 'found') set('Progressing', 'True', DeploymentReasons.foundNewReplicaSet, `Found new replica set "${newRsName}"`);

  const deadline = deployment.spec?.progressDeadlineSeconds ?? 600;
  if (deadline === NO_DEADLINE) return { conditions };
  const current = find('Progressing');
  // A finished rollout keeps its condition until the next one starts.
  if (counts.replicas === counts.updatedReplicas && current?.reason === DeploymentReasons.newReplicaSetAvailable) return { conditions };
  const subject = newRsName ? `ReplicaSet "${newRsName}"` : `Deployment "${deployment.metadata.name}"`;
  if (isComplete(deployment, counts, deployment.metadata.generation ?? 0)) {
    set('Progressing', 'True', DeploymentReasons.newReplicaSetAvailable, `${subject} has successfully progressed.`);
    return { conditions };
  }
  if (isProgressing(previousStatus, counts)) {
    // Progress moves lastUpdateTime, which restarts the deadline.
    set('Progressing', 'True', DeploymentReasons.replicaSetUpdated, `${subject} is progressing.`, true);
  }
  const latest = find('Progressing');
  if (!latest || latest.reason === DeploymentReasons.newReplicaSetAvailable) return { conditions };
  if (latest.reason === DeploymentReasons.progressDeadlineExceeded) return { conditions };
  const remaining = Date.parse(latest.lastUpdateTime) + deadline * 1000 - now.getTime();
  if (remaining < 0) {
    set('Progressing', 'False', DeploymentReasons.progressDeadlineExceeded, `${subject} has timed out progressing.`);
    return { conditions };
  }
  return { conditions, deadlineInMs: remaining + 1 };
}

/** The status object: zero counts are left out, as the API's omitempty fields are. */
export function statusObject(previous: KubeObject | undefined, counts: StatusCounts, observedGeneration: number, conditions: Condition[]): KubeObject {
  const status: KubeObject = { observedGeneration };
  for (const key of ['replicas', 'updatedReplicas', 'readyReplicas', 'availableReplicas', 'unavailableReplicas'] as const) {
    if (counts[key] > 0) status[key] = counts[key];
  }
  if (conditions.length > 0) status.conditions = conditions;
  if (previous?.collisionCount !== undefined) status.collisionCount = previous.collisionCount;
  return status;
}
