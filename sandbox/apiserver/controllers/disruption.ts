/**
 * The disruption controller: every PodDisruptionBudget's status as upstream computes it —
 * expectedPods (the scale of the Pods' controllers, or the Pods themselves for an integer
 * minAvailable), desiredHealthy (percentages round up), currentHealthy (Ready Pods not being
 * deleted) and disruptionsAllowed = currentHealthy - desiredHealthy (never below 0, and 0 while no
 * Pod is expected), with the DisruptionAllowed condition. A Pod whose controller cannot be found
 * makes the budget fail safe: 0 disruptions, condition reason SyncFailed.
 * Evictions (pods/eviction) are not served, so nothing here records disruptedPods.
 */
import { bucketOf, type KubeObject, type ResourceType } from '../registry.ts';
import { selectorObjectToPredicate } from '../selectors.ts';
import type { ChangeEvent } from '../store.ts';
import { timestamp } from '../time.ts';
import { controllerOf, isReady } from './pod-state.ts';
import { scaledValue } from './rollout.ts';
import { type ControllerDeps, KeyedController, keyOf } from './keyed-controller.ts';

export const DISRUPTION_MANAGER = 'disruption-controller';
const PDB_BUCKET = 'policy/poddisruptionbudgets';

interface Budget {
  expectedPods: number;
  desiredHealthy: number;
}

export class DisruptionController extends KeyedController {
  constructor(deps: ControllerDeps, retryDelayMs: number) {
    super(deps, retryDelayMs);
    this.watchOwn(PDB_BUCKET);
    // Pods, and the scale of their controllers, change what a budget allows.
    for (const bucket of ['/pods', 'apps/replicasets', 'apps/deployments']) this.store.subscribe({ bucket, deliver: (e) => this.namespaceChanged(e) });
  }

  private namespaceChanged(event: ChangeEvent): void {
    for (const pdb of this.store.list(PDB_BUCKET, event.object.metadata.namespace)) this.queue.add(keyOf(pdb.metadata.namespace, pdb.metadata.name));
  }

  private pdbType(): ResourceType {
    return this.registry.find('policy', 'v1', 'poddisruptionbudgets')!;
  }

  protected reconcile(key: string): void {
    const [namespace, name] = key.split('/');
    const pdb = this.resources.tryGet(this.pdbType(), namespace, name);
    if (!pdb || pdb.metadata.deletionTimestamp) return;
    // In policy/v1 a missing selector matches no Pods and an empty one matches all.
    const selector = pdb.spec?.selector;
    const pods = selector ? this.store.list('/pods', namespace).filter(selectorObjectToPredicate(selector)) : [];
    let budget: Budget;
    try {
      budget = this.budget(pdb, pods);
    } catch (error) {
      this.write(pdb, { disruptionsAllowed: 0 }, { status: 'False', reason: 'SyncFailed', message: error instanceof Error ? error.message : String(error) });
      return;
    }
    const currentHealthy = pods.filter((p) => !p.metadata.deletionTimestamp && isReady(p)).length;
    const allowed = currentHealthy - budget.desiredHealthy;
    const disruptionsAllowed = budget.expectedPods <= 0 || allowed <= 0 ? 0 : allowed;
    const condition = disruptionsAllowed > 0 ? { status: 'True', reason: 'SufficientPods', message: '' } : { status: 'False', reason: 'InsufficientPods', message: '' };
    this.write(pdb, { disruptionsAllowed, currentHealthy, desiredHealthy: budget.desiredHealthy, expectedPods: budget.expectedPods }, condition);
  }

  /** Upstream's getExpectedPodCount. */
  private budget(pdb: KubeObject, pods: KubeObject[]): Budget {
    const { maxUnavailable, minAvailable } = pdb.spec ?? {};
    if (maxUnavailable !== undefined && maxUnavailable !== null) {
      const expectedPods = this.expectedScale(pods);
      return { expectedPods, desiredHealthy: Math.max(0, expectedPods - scaledValue(maxUnavailable, expectedPods, true)) };
    }
    if (typeof minAvailable === 'number') return { expectedPods: pods.length, desiredHealthy: minAvailable };
    if (typeof minAvailable === 'string') {
      const expectedPods = this.expectedScale(pods);
      return { expectedPods, desiredHealthy: scaledValue(minAvailable, expectedPods, true) };
    }
    return { expectedPods: 0, desiredHealthy: 0 };
  }

  /**
   * The sum of the scales of the Pods' controllers, each counted once: a ReplicaSet owned by a
   * Deployment counts as the Deployment; other controllers through their scale subresource.
   * Pods without a controller are left out, as upstream does.
   */
  private expectedScale(pods: KubeObject[]): number {
    const scales = new Map<string, number>();
    for (const pod of pods) {
      const ref = controllerOf(pod);
      if (!ref || scales.has(ref.uid)) continue;
      const found = this.scaleOf(ref, pod.metadata.namespace);
      if (!found) throw new Error(`found no controllers for pod "${pod.metadata.name}"`);
      scales.set(found.uid, found.replicas);
    }
    return [...scales.values()].reduce((a, b) => a + b, 0);
  }

  private scaleOf(ref: KubeObject, namespace: string): { uid: string; replicas: number } | undefined {
    const owner = this.liveOwner(ref, namespace);
    if (!owner) return undefined;
    if (owner.type.kind === 'ReplicaSet' && owner.type.group === 'apps') {
      const parent = controllerOf(owner.obj);
      const deployment = parent?.kind === 'Deployment' ? this.liveOwner(parent, namespace) : undefined;
      if (deployment) return { uid: deployment.obj.metadata.uid, replicas: deployment.obj.spec?.replicas ?? 1 };
    }
    if (!owner.type.scale) return undefined;
    const path = owner.type.scale.specReplicasPath.replace(/^\./, '').split('.');
    const replicas = path.reduce<any>((node, part) => node?.[part], owner.obj);
    return { uid: owner.obj.metadata.uid, replicas: typeof replicas === 'number' ? replicas : 0 };
  }

  private liveOwner(ref: KubeObject, namespace: string): { type: ResourceType; obj: KubeObject } | undefined {
    const type = this.registry.findKind(ref.apiVersion, ref.kind);
    if (!type) return undefined;
    const obj = this.store.get(bucketOf(type), type.namespaced ? namespace : undefined, ref.name);
    return obj && obj.metadata.uid === ref.uid ? { type, obj } : undefined;
  }

  private write(pdb: KubeObject, counts: Record<string, number>, condition: { status: string; reason: string; message: string }): void {
    const previous = ((pdb.status?.conditions ?? []) as KubeObject[]).find((c) => c.type === 'DisruptionAllowed');
    // lastTransitionTime moves only when the status flips, as metav1.Condition's does.
    const unchanged = previous && previous.status === condition.status;
    const next = structuredClone(pdb) as KubeObject;
    next.status = {
      disruptionsAllowed: 0,
      currentHealthy: pdb.status?.currentHealthy ?? 0,
      desiredHealthy: pdb.status?.desiredHealthy ?? 0,
      expectedPods: pdb.status?.expectedPods ?? 0,
      ...counts,
      observedGeneration: pdb.metadata.generation,
      conditions: [
        {
          type: 'DisruptionAllowed',
          status: condition.status,
          reason: condition.reason,
          message: condition.message,
          observedGeneration: pdb.metadata.generation,
          lastTransitionTime: unchanged ? previous.lastTransitionTime : timestamp(this.now()),
        },
      ],
    };
    this.resources.commit(this.pdbType(), pdb, next, { subresource: 'status', fieldManager: DISRUPTION_MANAGER });
  }
}
