/**
 * The Deployment controller: a Deployment owns ReplicaSets (one per Pod template), and rolls
 * from the old ones to the new one as upstream does — RollingUpdate within maxSurge and
 * maxUnavailable, Recreate only once every old Pod is gone, availability after minReadySeconds —
 * then reports status and conditions and prunes ReplicaSets beyond revisionHistoryLimit.
 * The ReplicaSet controller turns each ReplicaSet's replicas into Pods.
 *
 * It reads Pods directly rather than the ReplicaSets' status, so its view is never behind: a
 * ReplicaSet about to shrink counts only the Pods it will keep, and one about to grow counts the
 * Pods it will create. That keeps "at most replicas + maxSurge Pods, at least replicas -
 * maxUnavailable available" true at every instant, not only once everything has caught up.
 * Level-based: a reconcile re-reads everything by key and is safe to run again at any time.
 */
import { ApiError } from '../errors.ts';
import type { KubeObject, ResourceType } from '../registry.ts';
import { selectorObjectToPredicate } from '../selectors.ts';
import type { ChangeEvent } from '../store.ts';
import { countStatus, isComplete, nextConditions, statusObject } from './deployment-status.ts';
import { controllerReference, DESIRED_REPLICAS, MAX_REPLICAS, newReplicaSet, REVISION, REVISION_HISTORY, revisionOf, runsTemplateOf } from './deployment-replicasets.ts';
import { EventReasons, recordEvent } from './events.ts';
import { controllerOf, inDeletionOrder, isActive, isAvailable, isReady, nextAvailableInMs } from './pod-state.ts';
import { isRollingUpdate, maxSurgeOf, newReplicaSetReplicas, ReplicaSetView, scaleDownOld } from './rollout.ts';
import { type ControllerDeps, KeyedController, keyOf } from './keyed-controller.ts';

export const DEPLOYMENT_MANAGER = 'deployment-controller';

interface Snapshot {
  deployment: KubeObject;
  now: Date;
  /** All Pods (terminating ones too) per controlling ReplicaSet uid. */
  podsByRs: Map<string, KubeObject[]>;
  view(rs: KubeObject): ReplicaSetView;
}

export class DeploymentController extends KeyedController {
  constructor(deps: ControllerDeps, retryDelayMs: number) {
    super(deps, retryDelayMs);
    this.watchOwn('apps/deployments');
    this.store.subscribe({ bucket: 'apps/replicasets', deliver: (e) => this.replicaSetChanged(e) });
    this.store.subscribe({ bucket: '/pods', deliver: (e) => this.podChanged(e) });
  }

  private types(): { deployments: ResourceType; replicaSets: ResourceType; pods: ResourceType } {
    return { deployments: this.registry.find('apps', 'v1', 'deployments')!, replicaSets: this.registry.find('apps', 'v1', 'replicasets')!, pods: this.registry.find('', 'v1', 'pods')! };
  }

  private replicaSetChanged(event: ChangeEvent): void {
    const rs = event.object;
    const owner = controllerOf(rs);
    if (owner?.kind === 'Deployment') this.queue.add(keyOf(rs.metadata.namespace, owner.name));
    else if (!owner) for (const d of this.store.list('apps/deployments', rs.metadata.namespace)) this.queue.add(keyOf(d.metadata.namespace, d.metadata.name));
  }

  private podChanged(event: ChangeEvent): void {
    const owner = controllerOf(event.object);
    if (owner?.kind !== 'ReplicaSet') return;
    const rs = this.store.get('apps/replicasets', event.object.metadata.namespace, owner.name);
    const deployment = rs ? controllerOf(rs) : undefined;
    if (rs && deployment?.kind === 'Deployment') this.queue.add(keyOf(rs.metadata.namespace, deployment.name));
  }

  protected reconcile(key: string): void {
    const [namespace, name] = key.split('/');
    const { deployments } = this.types();
    const deployment = this.resources.tryGet(deployments, namespace, name);
    if (!deployment) return;
    const snapshot = this.snapshot(deployment);
    const replicaSets = this.claimReplicaSets(deployment);
    const current = replicaSets.filter((rs) => runsTemplateOf(rs, deployment)).sort(byCreation)[0];
    const olds = replicaSets.filter((rs) => rs !== current);
    if (deployment.metadata.deletionTimestamp) return this.writeStatus(snapshot, replicaSets, current);
    if (deployment.spec?.paused) return this.syncPaused(snapshot, current, olds);
    if (isRollingUpdate(deployment)) this.rollingUpdate(snapshot, current, olds);
    else this.recreate(snapshot, current, olds);
  }

  private snapshot(deployment: KubeObject): Snapshot {
    const now = this.now();
    const podsByRs = new Map<string, KubeObject[]>();
    for (const pod of this.store.list('/pods', deployment.metadata.namespace)) {
      const owner = controllerOf(pod);
      if (owner?.kind !== 'ReplicaSet') continue;
      const list = podsByRs.get(owner.uid) ?? [];
      list.push(pod);
      podsByRs.set(owner.uid, list);
    }
    const minReady = deployment.spec?.minReadySeconds ?? 0;
    const at = now.getTime();
    const view = (rs: KubeObject) => new ReplicaSetView(rs, inDeletionOrder((podsByRs.get(rs.metadata.uid) ?? []).filter(isActive), at), (p) => isAvailable(p, minReady, at));
    return { deployment, now, podsByRs, view };
  }

  /** ReplicaSets this Deployment controls, adopting orphans its selector matches (as upstream claims them). */
  private claimReplicaSets(deployment: KubeObject): KubeObject[] {
    const { replicaSets } = this.types();
    const matches = selectorObjectToPredicate(deployment.spec?.selector);
    const owned: KubeObject[] = [];
    for (const rs of this.store.list('apps/replicasets', deployment.metadata.namespace)) {
      const owner = controllerOf(rs);
      if (owner?.uid === deployment.metadata.uid) owned.push(rs);
      else if (!owner && !rs.metadata.deletionTimestamp && !deployment.metadata.deletionTimestamp && matches(rs)) {
        const next = structuredClone(rs) as KubeObject;
        next.metadata.ownerReferences = [...(next.metadata.ownerReferences ?? []), controllerReference(deployment)];
        owned.push(this.resources.commit(replicaSets, rs, next, { fieldManager: DEPLOYMENT_MANAGER }));
      }
    }
    return owned;
  }

  private rollingUpdate(snapshot: Snapshot, current: KubeObject | undefined, olds: KubeObject[]): void {
    const { deployment } = snapshot;
    const replicas = deployment.spec?.replicas ?? 1;
    const oldViews = olds.map(snapshot.view);
    let created = false;
    if (!current) {
      current = this.createReplicaSet(deployment, newReplicaSetReplicas(deployment, oldViews, 0), olds);
      if (!current) return;
      created = true;
    } else this.syncRevision(deployment, current, olds);
    const newView = snapshot.view(current);
    if (!created) {
      const target = newView.replicas > replicas ? replicas : newReplicaSetReplicas(deployment, [...oldViews, newView], newView.replicas);
      if (target !== newView.replicas) {
        newView.replicas = target;
        this.scale(deployment, newView);
        return this.writeStatus(snapshot, [current, ...olds], current);
      }
    }
    if (scaleDownOld(deployment, newView, oldViews)) {
      for (const view of oldViews) if (view.replicas !== view.specReplicas) this.scale(deployment, view);
      return this.writeStatus(snapshot, [current, ...olds], current, created);
    }
    this.writeStatus(snapshot, [current, ...olds], current, created);
    this.cleanupIfComplete(snapshot, current, olds);
  }

  /** Recreate: old ReplicaSets go to 0, and the new one starts only once none of their Pods exists. */
  private recreate(snapshot: Snapshot, current: KubeObject | undefined, olds: KubeObject[]): void {
    const { deployment } = snapshot;
    const oldViews = olds.map(snapshot.view).filter((v) => v.replicas > 0);
    if (oldViews.length > 0) {
      for (const view of oldViews) {
        view.replicas = 0;
        this.scale(deployment, view);
      }
      return this.writeStatus(snapshot, current ? [current, ...olds] : olds, current);
    }
    // Terminating Pods count: the old version must be fully stopped before the new one starts.
    if (olds.some((rs) => (snapshot.podsByRs.get(rs.metadata.uid) ?? []).some((p) => p.status?.phase !== 'Succeeded' && p.status?.phase !== 'Failed'))) {
      return this.writeStatus(snapshot, current ? [current, ...olds] : olds, current);
    }
    const replicas = deployment.spec?.replicas ?? 1;
    let created = false;
    if (!current) {
      current = this.createReplicaSet(deployment, replicas, olds);
      if (!current) return;
      created = true;
    } else {
      this.syncRevision(deployment, current, olds);
      const view = snapshot.view(current);
      if (view.replicas !== replicas) {
        view.replicas = replicas;
        this.scale(deployment, view);
      }
    }
    this.writeStatus(snapshot, [current, ...olds], current, created);
    this.cleanupIfComplete(snapshot, current, olds);
  }

  /**
   * A paused Deployment makes no new ReplicaSet; only its replica count is followed, when a
   * single ReplicaSet is active (upstream also scales several proportionally; not done here).
   */
  private syncPaused(snapshot: Snapshot, current: KubeObject | undefined, olds: KubeObject[]): void {
    const all = current ? [current, ...olds] : olds;
    const active = all.filter((rs) => (rs.spec?.replicas ?? 0) > 0);
    const target = active.length === 1 ? active[0] : active.length === 0 ? (current ?? [...olds].sort(byCreation).pop()) : undefined;
    if (target && (target.spec?.replicas ?? 0) !== (snapshot.deployment.spec?.replicas ?? 1)) {
      const view = snapshot.view(target);
      view.replicas = snapshot.deployment.spec?.replicas ?? 1;
      this.scale(snapshot.deployment, view);
    }
    this.writeStatus(snapshot, all, current);
  }

  private createReplicaSet(deployment: KubeObject, replicas: number, olds: KubeObject[]): KubeObject | undefined {
    const { replicaSets, deployments } = this.types();
    const revision = Math.max(0, ...olds.map(revisionOf)) + 1;
    const body = newReplicaSet(deployment, replicas, revision, (deployment.spec?.replicas ?? 1) + maxSurgeOf(deployment));
    let rs: KubeObject;
    try {
      rs = this.resources.create(replicaSets, deployment.metadata.namespace, body, { fieldManager: DEPLOYMENT_MANAGER });
    } catch (error) {
      if (!(error instanceof ApiError && error.reason === 'AlreadyExists')) throw error;
      // Another ReplicaSet holds the name: hash again with a higher collision count, as upstream does.
      const live = this.resources.get(deployments, deployment.metadata.namespace, deployment.metadata.name);
      const next = structuredClone(live) as KubeObject;
      next.status = { ...next.status, collisionCount: (live.status?.collisionCount ?? 0) + 1 };
      this.resources.commit(deployments, live, next, { subresource: 'status', fieldManager: DEPLOYMENT_MANAGER });
      return undefined;
    }
    this.event(deployment, `Scaled up replica set ${rs.metadata.name} from 0 to ${replicas}`);
    this.setDeploymentRevision(deployment, revision);
    return rs;
  }

  /** The ReplicaSet of the current template carries the highest revision, and the Deployment says so. */
  private syncRevision(deployment: KubeObject, current: KubeObject, olds: KubeObject[]): void {
    const maxOld = Math.max(0, ...olds.map(revisionOf));
    const revision = revisionOf(current);
    if (revision <= maxOld) {
      const { replicaSets } = this.types();
      const next = structuredClone(current) as KubeObject;
      const history = [next.metadata.annotations?.[REVISION_HISTORY], String(revision)].filter(Boolean).join(',');
      next.metadata.annotations = { ...next.metadata.annotations, [REVISION]: String(maxOld + 1), ...(revision > 0 ? { [REVISION_HISTORY]: history } : {}) };
      this.resources.commit(replicaSets, current, next, { fieldManager: DEPLOYMENT_MANAGER });
    }
    this.setDeploymentRevision(deployment, Math.max(revision, maxOld + 1));
  }

  private setDeploymentRevision(deployment: KubeObject, revision: number): void {
    const { deployments } = this.types();
    const live = this.resources.tryGet(deployments, deployment.metadata.namespace, deployment.metadata.name);
    if (!live || live.metadata.annotations?.[REVISION] === String(revision)) return;
    const next = structuredClone(live) as KubeObject;
    next.metadata.annotations = { ...next.metadata.annotations, [REVISION]: String(revision) };
    // Through /status, as the real controller does (UpdateStatus): the revision is not a spec change.
    this.resources.commit(deployments, live, next, { fieldManager: DEPLOYMENT_MANAGER, subresource: 'status' });
  }

  private scale(deployment: KubeObject, view: ReplicaSetView): void {
    const { replicaSets } = this.types();
    const live = this.resources.tryGet(replicaSets, view.rs.metadata.namespace, view.name);
    if (!live) return;
    const from = live.spec?.replicas ?? 1;
    const next = structuredClone(live) as KubeObject;
    next.spec.replicas = view.replicas;
    next.metadata.annotations = {
      ...next.metadata.annotations,
      [DESIRED_REPLICAS]: String(deployment.spec?.replicas ?? 1),
      [MAX_REPLICAS]: String((deployment.spec?.replicas ?? 1) + maxSurgeOf(deployment)),
    };
    this.resources.commit(replicaSets, live, next, { fieldManager: DEPLOYMENT_MANAGER });
    if (from !== view.replicas) this.event(deployment, `Scaled ${view.replicas > from ? 'up' : 'down'} replica set ${view.name} from ${from} to ${view.replicas}`);
  }

  /** Old ReplicaSets with no replicas and no Pods beyond revisionHistoryLimit are deleted, oldest revision first. */
  private cleanupIfComplete(snapshot: Snapshot, current: KubeObject, olds: KubeObject[]): void {
    const { deployments, replicaSets } = this.types();
    const live = this.resources.tryGet(deployments, snapshot.deployment.metadata.namespace, snapshot.deployment.metadata.name);
    if (!live || !isComplete(live, countStatus([current, ...olds].map(snapshot.view), snapshot.view(current), isReady), live.status?.observedGeneration ?? 0)) return;
    const cleanable = olds.filter((rs) => !rs.metadata.deletionTimestamp).sort((a, b) => revisionOf(a) - revisionOf(b) || byCreation(a, b));
    const excess = cleanable.length - (live.spec?.revisionHistoryLimit ?? 10);
    for (const rs of cleanable.slice(0, Math.max(0, excess))) {
      const busy = (rs.spec?.replicas ?? 0) !== 0 || (snapshot.podsByRs.get(rs.metadata.uid) ?? []).length > 0 || (rs.metadata.generation ?? 0) > (rs.status?.observedGeneration ?? 0);
      if (!busy) this.resources.delete(replicaSets, rs.metadata.namespace, rs.metadata.name, { preconditions: { uid: rs.metadata.uid } });
    }
  }

  private writeStatus(snapshot: Snapshot, replicaSets: KubeObject[], current: KubeObject | undefined, created = false): void {
    const { deployments } = this.types();
    const live = this.resources.tryGet(deployments, snapshot.deployment.metadata.namespace, snapshot.deployment.metadata.name);
    if (!live) return;
    // Views again: this sync may have changed the ReplicaSets' replicas.
    const fresh = replicaSets.map((rs) => this.store.get('apps/replicasets', rs.metadata.namespace, rs.metadata.name)).filter((rs): rs is KubeObject => !!rs);
    const views = fresh.map(snapshot.view);
    const newView = current ? views.find((v) => v.rs.metadata.uid === current.metadata.uid) : undefined;
    const counts = countStatus(views, newView, isReady);
    const progressing = (live.status?.conditions ?? []).some((c: KubeObject) => c.type === 'Progressing');
    const newRsEvent = created ? 'created' : current && !progressing ? 'found' : undefined;
    const { conditions, deadlineInMs } = nextConditions({ deployment: live, counts, newRsName: current?.metadata.name, newRsEvent, now: snapshot.now });
    const next = structuredClone(live) as KubeObject;
    next.status = statusObject(live.status, counts, live.metadata.generation ?? 0, conditions);
    this.resources.commit(deployments, live, next, { subresource: 'status', fieldManager: DEPLOYMENT_MANAGER });
    const key = keyOf(live.metadata.namespace, live.metadata.name);
    const allPods = views.flatMap((v) => v.pods);
    const availableIn = nextAvailableInMs(allPods, live.spec?.minReadySeconds ?? 0, snapshot.now.getTime());
    for (const wait of [availableIn, deadlineInMs]) if (wait !== undefined) this.queue.addAfter(key, wait);
  }

  private event(deployment: KubeObject, message: string): void {
    recordEvent(this.registry, this.resources, deployment, 'Normal', EventReasons.scalingReplicaSet, message, DEPLOYMENT_MANAGER, this.now());
  }
}

function byCreation(a: KubeObject, b: KubeObject): number {
  return String(a.metadata.creationTimestamp).localeCompare(String(b.metadata.creationTimestamp)) || String(a.metadata.name).localeCompare(String(b.metadata.name));
}
