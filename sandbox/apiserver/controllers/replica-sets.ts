/**
 * The ReplicaSet controller: keeps `spec.replicas` active Pods of the template (named
 * `<replicaset>-<5 chars>`, controller ownerReference), adopts orphan Pods its selector matches and
 * releases owned Pods it no longer matches, deletes surplus Pods in upstream's order (lowest
 * pod-deletion-cost first among equals, see pod-state.ts), and reports replicas,
 * fullyLabeledReplicas, readyReplicas, availableReplicas (after minReadySeconds) and
 * observedGeneration. A Pod that cannot be created is a `FailedCreate` Event and a
 * `ReplicaFailure` condition, retried later.
 */
import { ApiError } from '../errors.ts';
import type { KubeObject, ResourceType } from '../registry.ts';
import { selectorObjectToPredicate } from '../selectors.ts';
import type { ChangeEvent } from '../store.ts';
import { timestamp } from '../time.ts';
import { controllerReference } from './deployment-replicasets.ts';
import { EventReasons, recordEvent } from './events.ts';
import { controllerOf, inDeletionOrder, isActive, isAvailable, isReady, nextAvailableInMs } from './pod-state.ts';
import { type ControllerDeps, KeyedController, keyOf } from './keyed-controller.ts';

export const REPLICASET_MANAGER = 'replicaset-controller';

/** Pods created or deleted per sync at most, as upstream's burstReplicas. */
const BURST_REPLICAS = 500;

export class ReplicaSetController extends KeyedController {
  constructor(deps: ControllerDeps, retryDelayMs: number) {
    super(deps, retryDelayMs);
    this.watchOwn('apps/replicasets');
    this.store.subscribe({ bucket: '/pods', deliver: (e) => this.podChanged(e) });
  }

  private types(): { replicaSets: ResourceType; pods: ResourceType } {
    return { replicaSets: this.registry.find('apps', 'v1', 'replicasets')!, pods: this.registry.find('', 'v1', 'pods')! };
  }

  private podChanged(event: ChangeEvent): void {
    const pod = event.object;
    const owner = controllerOf(pod);
    if (owner?.kind === 'ReplicaSet') {
      this.queue.add(keyOf(pod.metadata.namespace, owner.name));
      return;
    }
    if (owner || event.type === 'DELETED') return;
    // An orphan: any ReplicaSet whose selector matches may adopt it.
    for (const rs of this.store.list('apps/replicasets', pod.metadata.namespace)) {
      if (selectorObjectToPredicate(rs.spec?.selector)(pod)) this.queue.add(keyOf(rs.metadata.namespace, rs.metadata.name));
    }
  }

  protected reconcile(key: string): void {
    const [namespace, name] = key.split('/');
    const { replicaSets } = this.types();
    const rs = this.resources.tryGet(replicaSets, namespace, name);
    if (!rs) return;
    const pods = this.claimPods(rs);
    let failure: string | undefined;
    if (!rs.metadata.deletionTimestamp) failure = this.manageReplicas(rs, pods.filter(isActive));
    this.writeStatus(rs, failure);
    if (failure) this.queue.addAfter(key, this.retryDelayMs);
  }

  /** Pods this ReplicaSet controls after adopting matching orphans and releasing owned Pods that no longer match. */
  private claimPods(rs: KubeObject): KubeObject[] {
    const { pods: podType } = this.types();
    const matches = selectorObjectToPredicate(rs.spec?.selector);
    const owned: KubeObject[] = [];
    for (const pod of this.store.list('/pods', rs.metadata.namespace)) {
      const owner = controllerOf(pod);
      if (owner?.uid === rs.metadata.uid) {
        if (matches(pod) || pod.metadata.deletionTimestamp) owned.push(pod);
        else this.setOwners(podType, pod, (refs) => refs.filter((r) => r.uid !== rs.metadata.uid));
      } else if (!owner && matches(pod) && isActive(pod) && !rs.metadata.deletionTimestamp) {
        owned.push(this.setOwners(podType, pod, (refs) => [...refs, controllerReference(rs)]));
      }
    }
    return owned;
  }

  private setOwners(podType: ResourceType, pod: KubeObject, change: (refs: KubeObject[]) => KubeObject[]): KubeObject {
    const next = structuredClone(pod) as KubeObject;
    const refs = change(next.metadata.ownerReferences ?? []);
    if (refs.length > 0) next.metadata.ownerReferences = refs;
    else delete next.metadata.ownerReferences;
    return this.resources.commit(podType, pod, next, { fieldManager: REPLICASET_MANAGER });
  }

  /** Creates or deletes Pods toward spec.replicas; returns a creation failure's message, if any. */
  private manageReplicas(rs: KubeObject, active: KubeObject[]): string | undefined {
    const { pods: podType } = this.types();
    const diff = active.length - (rs.spec?.replicas ?? 1);
    if (diff < 0) {
      for (let i = 0; i < Math.min(-diff, BURST_REPLICAS); i++) {
        try {
          const pod = this.resources.create(podType, rs.metadata.namespace, podFromTemplate(rs), { fieldManager: REPLICASET_MANAGER });
          this.event(rs, 'Normal', EventReasons.successfulCreate, `Created pod: ${pod.metadata.name}`);
        } catch (error) {
          if (!(error instanceof ApiError)) throw error;
          this.event(rs, 'Warning', EventReasons.failedCreate, `Error creating: ${error.message}`);
          return error.message;
        }
      }
    } else if (diff > 0) {
      for (const pod of inDeletionOrder(active, this.now().getTime()).slice(0, Math.min(diff, BURST_REPLICAS))) {
        this.resources.delete(podType, pod.metadata.namespace, pod.metadata.name, { preconditions: { uid: pod.metadata.uid } });
        this.event(rs, 'Normal', EventReasons.successfulDelete, `Deleted pod: ${pod.metadata.name}`);
      }
    }
    return undefined;
  }

  private writeStatus(rs: KubeObject, failure: string | undefined): void {
    const { replicaSets } = this.types();
    const live = this.resources.tryGet(replicaSets, rs.metadata.namespace, rs.metadata.name);
    if (!live) return;
    const now = this.now();
    const at = now.getTime();
    const minReady = live.spec?.minReadySeconds ?? 0;
    const active = this.store.list('/pods', live.metadata.namespace).filter((p) => controllerOf(p)?.uid === live.metadata.uid && isActive(p));
    const templateLabels: Record<string, string> = live.spec?.template?.metadata?.labels ?? {};
    const fullyLabeled = active.filter((p) => Object.entries(templateLabels).every(([k, v]) => p.metadata.labels?.[k] === v));
    const status: KubeObject = { replicas: active.length };
    const counts = { fullyLabeledReplicas: fullyLabeled.length, readyReplicas: active.filter(isReady).length, availableReplicas: active.filter((p) => isAvailable(p, minReady, at)).length };
    for (const [k, v] of Object.entries(counts)) if (v > 0) status[k] = v;
    status.observedGeneration = live.metadata.generation;
    const previous = ((live.status?.conditions ?? []) as KubeObject[]).find((c) => c.type === 'ReplicaFailure');
    if (failure) status.conditions = [{ type: 'ReplicaFailure', status: 'True', reason: 'FailedCreate', message: failure, lastTransitionTime: previous?.lastTransitionTime ?? timestamp(now) }];
    const next = structuredClone(live) as KubeObject;
    next.status = status;
    this.resources.commit(replicaSets, live, next, { subresource: 'status', fieldManager: REPLICASET_MANAGER });
    const wait = nextAvailableInMs(active, minReady, at);
    if (wait !== undefined) this.queue.addAfter(keyOf(live.metadata.namespace, live.metadata.name), wait);
  }

  private event(rs: KubeObject, type: 'Normal' | 'Warning', reason: string, message: string): void {
    recordEvent(this.registry, this.resources, rs, type, reason, message, REPLICASET_MANAGER, this.now());
  }
}

function podFromTemplate(rs: KubeObject): KubeObject {
  const template = rs.spec?.template ?? {};
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      generateName: `${rs.metadata.name}-`,
      namespace: rs.metadata.namespace,
      labels: { ...template.metadata?.labels },
      ...(template.metadata?.annotations ? { annotations: { ...template.metadata.annotations } } : {}),
      ownerReferences: [controllerReference(rs)],
    },
    spec: structuredClone(template.spec ?? {}),
  };
}
