/**
 * A minimal Deployment controller (no ReplicaSets): keeps `spec.replicas` Pods of the current
 * template (named <deployment>-<template hash>-<random>, owned by the Deployment), replaces Pods
 * of older templates once the new ones are Ready, and reports replicas, updatedReplicas,
 * readyReplicas, availableReplicas and observedGeneration through /status.
 * Level-based: a reconcile re-reads everything by key and is safe to run again at any time.
 */
import { createHash } from 'node:crypto';
import { bucketOf, type KubeObject, type Registry, type ResourceType } from '../registry.ts';
import { randomSuffix, type Resources } from '../resources.ts';
import { selectorToString } from '../selectors.ts';
import type { ChangeEvent, Store } from '../store.ts';
import { timestamp } from '../time.ts';
import { EventReasons, recordEvent } from './events.ts';
import { WorkQueue } from './work-queue.ts';

export const DEPLOYMENT_MANAGER = 'deployment-controller';

export function templateHash(template: unknown): string {
  return createHash('sha256').update(JSON.stringify(template ?? {})).digest('hex').slice(0, 10);
}

function isReady(pod: KubeObject): boolean {
  return (pod.status?.conditions ?? []).some((c: KubeObject) => c.type === 'Ready' && c.status === 'True');
}

export class DeploymentController {
  private readonly registry: Registry;
  private readonly store: Store;
  private readonly resources: Resources;
  private readonly now: () => Date;
  private readonly queue: WorkQueue;

  constructor(deps: { registry: Registry; store: Store; resources: Resources; now: () => Date; onError: (error: unknown) => void }, retryDelayMs: number) {
    this.registry = deps.registry;
    this.store = deps.store;
    this.resources = deps.resources;
    this.now = deps.now;
    this.queue = new WorkQueue((key) => this.reconcile(key), deps.onError, retryDelayMs);
    this.store.subscribe({ bucket: 'apps/deployments', deliver: (e) => this.queue.add(`${e.object.metadata.namespace}/${e.object.metadata.name}`) });
    this.store.subscribe({ bucket: '/pods', deliver: (e) => this.podChanged(e) });
  }

  stop(): void {
    this.queue.stop();
  }

  private podChanged(event: ChangeEvent): void {
    const owner = (event.object.metadata.ownerReferences ?? []).find((r: KubeObject) => r.controller && r.kind === 'Deployment');
    if (owner) this.queue.add(`${event.object.metadata.namespace}/${owner.name}`);
  }

  private types(): { deployments: ResourceType; pods: ResourceType } {
    return { deployments: this.registry.find('apps', 'v1', 'deployments')!, pods: this.registry.find('', 'v1', 'pods')! };
  }

  private reconcile(key: string): void {
    const [namespace, name] = key.split('/');
    const { deployments, pods: podType } = this.types();
    const deployment = this.resources.tryGet(deployments, namespace, name);
    if (!deployment || deployment.metadata.deletionTimestamp) return;
    const hash = templateHash(deployment.spec.template);
    const owned = this.store
      .list(bucketOf(podType), namespace)
      .filter((p) => (p.metadata.ownerReferences ?? []).some((r: KubeObject) => r.uid === deployment.metadata.uid) && !p.metadata.deletionTimestamp);
    const current = owned.filter((p) => p.metadata.labels?.['pod-template-hash'] === hash);
    const old = owned.filter((p) => p.metadata.labels?.['pod-template-hash'] !== hash);
    const desired = deployment.spec.replicas ?? 1;

    for (let i = current.length; i < desired; i++) this.createPod(podType, deployment, hash);
    if (current.length !== desired) {
      const direction = current.length < desired ? 'up' : 'down';
      this.event(deployment, `Scaled ${direction} replica set ${deployment.metadata.name}-${hash} to ${desired} from ${current.length}`);
    }
    if (current.length > desired) {
      // Not-ready and newest Pods go first, as the ReplicaSet controller prefers.
      const victims = [...current].sort((a, b) => Number(isReady(a)) - Number(isReady(b)) || String(b.metadata.creationTimestamp).localeCompare(String(a.metadata.creationTimestamp)));
      for (const pod of victims.slice(0, current.length - desired)) this.deletePod(podType, pod);
    }
    const readyCurrent = current.filter(isReady).length;
    if (old.length > 0 && readyCurrent >= Math.min(desired, current.length)) {
      for (const pod of old) this.deletePod(podType, pod);
      this.event(deployment, `Scaled down old replica sets of ${deployment.metadata.name} to 0 from ${old.length}`);
    }
    this.writeStatus(deployments, deployment);
  }

  private event(deployment: KubeObject, message: string): void {
    recordEvent(this.registry, this.resources, deployment, 'Normal', EventReasons.scalingReplicaSet, message, DEPLOYMENT_MANAGER, this.now());
  }

  private createPod(podType: ResourceType, deployment: KubeObject, hash: string): void {
    const template = deployment.spec.template ?? {};
    const pod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name: `${deployment.metadata.name}-${hash}-${randomSuffix()}`,
        namespace: deployment.metadata.namespace,
        labels: { ...template.metadata?.labels, 'pod-template-hash': hash },
        annotations: template.metadata?.annotations,
        ownerReferences: [{ apiVersion: 'apps/v1', kind: 'Deployment', name: deployment.metadata.name, uid: deployment.metadata.uid, controller: true, blockOwnerDeletion: true }],
      },
      spec: structuredClone(template.spec ?? {}),
    };
    this.resources.create(podType, deployment.metadata.namespace, pod, { fieldManager: DEPLOYMENT_MANAGER });
  }

  private deletePod(podType: ResourceType, pod: KubeObject): void {
    if (this.store.get(bucketOf(podType), pod.metadata.namespace, pod.metadata.name)) {
      this.resources.delete(podType, pod.metadata.namespace, pod.metadata.name, { preconditions: { uid: pod.metadata.uid } });
    }
  }

  private writeStatus(deployments: ResourceType, deployment: KubeObject): void {
    const podType = this.types().pods;
    const hash = templateHash(deployment.spec.template);
    const pods = this.store
      .list(bucketOf(podType), deployment.metadata.namespace)
      .filter((p) => (p.metadata.ownerReferences ?? []).some((r: KubeObject) => r.uid === deployment.metadata.uid) && !p.metadata.deletionTimestamp);
    const desired = deployment.spec.replicas ?? 1;
    const ready = pods.filter(isReady).length;
    const updated = pods.filter((p) => p.metadata.labels?.['pod-template-hash'] === hash).length;
    const live = this.resources.get(deployments, deployment.metadata.namespace, deployment.metadata.name);
    const previous: KubeObject[] = live.status?.conditions ?? [];
    const now = timestamp(this.now());
    const condition = (type: string, status: string, reason: string, message: string) => {
      const before = previous.find((c) => c.type === type);
      const since = before && before.status === status ? before.lastTransitionTime : now;
      return { type, status, lastUpdateTime: before && before.status === status && before.reason === reason ? before.lastUpdateTime : now, lastTransitionTime: since, reason, message };
    };
    const available = ready >= desired;
    const complete = available && updated === desired && pods.length === desired;
    const status: KubeObject = {
      observedGeneration: live.metadata.generation,
      replicas: pods.length,
      updatedReplicas: updated,
      readyReplicas: ready,
      availableReplicas: ready,
      ...(pods.length - ready > 0 ? { unavailableReplicas: pods.length - ready } : {}),
      conditions: [
        condition('Available', available ? 'True' : 'False', available ? 'MinimumReplicasAvailable' : 'MinimumReplicasUnavailable', available ? 'Deployment has minimum availability.' : 'Deployment does not have minimum availability.'),
        condition('Progressing', 'True', complete ? 'NewReplicaSetAvailable' : 'ReplicaSetUpdated', complete ? `ReplicaSet "${live.metadata.name}-${hash}" has successfully progressed.` : `ReplicaSet "${live.metadata.name}-${hash}" is progressing.`),
      ],
      selector: selectorToString(live.spec.selector),
    };
    if (ready === 0) delete status.readyReplicas;
    if (ready === 0) delete status.availableReplicas;
    const next = structuredClone(live) as KubeObject;
    next.status = status;
    this.resources.commit(deployments, live, next, { subresource: 'status', fieldManager: DEPLOYMENT_MANAGER });
  }
}
