/**
 * The cleanup finalizer: added on first reconcile, removed once every region's objects are gone
 * or the region was abandoned by an SRE. An unreachable region keeps the finalizer: deleting a
 * RealtimeCluster must not leave gateways running unseen in a region that comes back.
 */
import type { KubernetesObject } from '@kubernetes/client-node';
import { clusterHeader, type RealtimeCluster } from '../../crds/types.ts';
import type { KubeClient } from '../kube/client.ts';
import { CLUSTER_LABEL, FIELD_MANAGER, type RegionClient } from '../types.ts';
import { callRegion, describeObject, readLive } from './apply.ts';
import { isNotFound } from '../errors.ts';
import { CREATED_BY_ANNOTATION } from './render.ts';

export const FINALIZER = 'realtime.meridian.dev/cleanup';

/**
 * Regions an SRE gave up on, comma-separated ("eu-west1,asia-south1"), or "*" for all. Their
 * objects are left behind, and the finalizer no longer waits for them.
 */
export const ABANDON_ANNOTATION = 'realtime.meridian.dev/abandon-regions';

/** Kinds the operator creates in a region, deleted in this order (the workload first). */
export const REGIONAL_KINDS: ReadonlyArray<{ apiVersion: string; kind: string }> = [
  { apiVersion: 'apps/v1', kind: 'Deployment' },
  { apiVersion: 'policy/v1', kind: 'PodDisruptionBudget' },
  { apiVersion: 'v1', kind: 'Service' },
  { apiVersion: 'v1', kind: 'ConfigMap' },
  { apiVersion: 'v1', kind: 'Secret' },
  { apiVersion: 'v1', kind: 'ServiceAccount' },
];

export function hasFinalizer(cluster: RealtimeCluster): boolean {
  return cluster.metadata.finalizers?.includes(FINALIZER) ?? false;
}

/** Whether the abandon annotation names this region (or is "*"). */
export function isAbandoned(cluster: RealtimeCluster, region: string): boolean {
  const value = cluster.metadata.annotations?.[ABANDON_ANNOTATION];
  if (!value) return false;
  const names = value.split(',').map((name) => name.trim());
  return names.includes('*') || names.includes(region);
}

/** Returns the cluster as written (its new resourceVersion is the base of the next write). */
async function patchFinalizers(hub: KubeClient, cluster: RealtimeCluster, finalizers: string[]): Promise<RealtimeCluster> {
  // The resourceVersion test makes this a compare-and-swap: another writer's finalizer is never lost.
  const body = [
    { op: 'test', path: '/metadata/resourceVersion', value: cluster.metadata.resourceVersion },
    cluster.metadata.finalizers ? { op: 'replace', path: '/metadata/finalizers', value: finalizers } : { op: 'add', path: '/metadata/finalizers', value: finalizers },
  ];
  return (await hub.patch(clusterHeader(cluster), body, 'json', { fieldManager: FIELD_MANAGER })) as RealtimeCluster;
}

export async function addFinalizer(hub: KubeClient, cluster: RealtimeCluster): Promise<RealtimeCluster> {
  return patchFinalizers(hub, cluster, [...(cluster.metadata.finalizers ?? []), FINALIZER]);
}

export async function removeFinalizer(hub: KubeClient, cluster: RealtimeCluster): Promise<void> {
  await patchFinalizers(hub, cluster, (cluster.metadata.finalizers ?? []).filter((f) => f !== FINALIZER));
}

export interface CleanupOutcome {
  /** "Kind/name" of each object a delete was sent for. */
  deleted: string[];
  /** Objects still present (being deleted); cleanup is done when this is 0. */
  remaining: number;
  /** Set when the Namespace was kept because it was not ours or other clusters still use it. */
  namespaceKept?: string;
}

/**
 * Deletes the cluster's objects (by label) in one region's namespace, then the Namespace when
 * this cluster created it and no other RealtimeCluster has objects in it.
 */
export async function cleanupRegion(client: RegionClient, namespace: string, owner: string, timeoutMs?: number): Promise<CleanupOutcome> {
  const outcome: CleanupOutcome = { deleted: [], remaining: 0 };
  const selector = `${CLUSTER_LABEL}=${owner}`;
  for (const { apiVersion, kind } of REGIONAL_KINDS) {
    const list = await callRegion(client, (signal) => client.kube.list<KubernetesObject>(apiVersion, kind, { namespace, labelSelector: selector, signal }), timeoutMs);
    for (const item of list.items) {
      const object = { ...item, apiVersion, kind };
      if (item.metadata?.deletionTimestamp) {
        outcome.remaining += 1;
        continue;
      }
      try {
        await callRegion(client, (signal) => client.kube.delete(object, { propagationPolicy: 'Background', signal }), timeoutMs);
        outcome.deleted.push(describeObject(object));
      } catch (error) {
        if (!isNotFound(error)) throw error;
      }
    }
  }
  const namespaceObject = { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } };
  const live = await readLive(client, namespaceObject, timeoutMs);
  if (!live || live.metadata?.deletionTimestamp) return outcome;
  if (live.metadata?.annotations?.[CREATED_BY_ANNOTATION] !== owner) {
    outcome.namespaceKept = `namespace ${namespace} was not created by this cluster`;
    return outcome;
  }
  const otherClusters = `${CLUSTER_LABEL},${CLUSTER_LABEL}!=${owner}`;
  const list = (signal: AbortSignal) => client.kube.list<KubernetesObject>('apps/v1', 'Deployment', { namespace, labelSelector: otherClusters, signal });
  const others = await callRegion(client, list, timeoutMs);
  if (others.items.length > 0) {
    outcome.namespaceKept = `namespace ${namespace} still holds other clusters' gateways`;
    return outcome;
  }
  try {
    await callRegion(client, (signal) => client.kube.delete(namespaceObject, { signal }), timeoutMs);
    outcome.deleted.push(describeObject(namespaceObject));
  } catch (error) {
    if (!isNotFound(error)) throw error;
  }
  return outcome;
}
