/**
 * One region's share of a reconcile: get its client, apply its rendered objects (unless paused),
 * and observe its gateway Deployment. Failures stay inside the region: an unreachable region is
 * Unknown, a misconfigured one Degraded, and neither stops the other regions.
 */
import type { V1Deployment } from '@kubernetes/client-node';
import type { RealtimeCluster, RegionSpec, RegionStatus } from '../../crds/types.ts';
import { RegionConfigError, clusterLabelValue, type RegionClient, type RegionPool } from '../types.ts';
import { applyObjects, describeObject, readCurrent, readLive } from './apply.ts';
import { ReconcileError, describeError, isConnectivityError } from './errors.ts';
import { objectNames, type RegionPlan, type RegionRenderer } from './render.ts';
import { observeDeployment, type RegionObservation } from './status.ts';

export interface RegionOutcome {
  observation: RegionObservation;
  /** "Kind/name" of the objects written in this region. */
  written: string[];
  /** Set for a RegionConfigError: the reason of a region that cannot be configured. */
  misconfigured?: string;
  /** A failure worth retrying with backoff (the region answered with an error, or is not yet judged Unknown). */
  retry?: unknown;
}

/** The region's previous status as an observation, for a pass that learned nothing new. */
function unchanged(previous: RegionStatus | undefined, name: string, message: string): RegionObservation {
  if (!previous) return { name, phase: 'Pending', message, wrote: false };
  const { lastSyncTime: _time, connections: _connections, ...rest } = previous;
  return { ...rest, message: previous.message ?? message, wrote: false };
}

export async function getClient(pool: RegionPool, cluster: RealtimeCluster, region: RegionSpec): Promise<RegionClient> {
  return pool.client(cluster.metadata.namespace ?? '', { name: region.name, ...(region.kubeconfigSecretRef ? { kubeconfigSecretRef: region.kubeconfigSecretRef } : {}) });
}

/**
 * Classifies a region failure: an object owned by another cluster or a bad kubeconfig is
 * Degraded; no answer from a region whose health is Unknown is Unknown; anything else is retried.
 */
export function classifyRegionFailure(error: unknown, client: RegionClient | undefined, previous: RegionStatus | undefined, name: string): RegionOutcome {
  if (error instanceof RegionConfigError) {
    return { observation: { name, phase: 'Degraded', message: `${error.reason}: ${error.message}`, wrote: false }, written: [], misconfigured: error.reason };
  }
  if (error instanceof ReconcileError) {
    return { observation: { name, phase: 'Degraded', message: `${error.reason}: ${error.message}`, wrote: false }, written: [] };
  }
  if (client && client.health() === 'Unknown' && isConnectivityError(error)) {
    return { observation: { ...unchanged(previous, name, ''), phase: 'Unknown', message: `unreachable: ${describeError(error)}` }, written: [] };
  }
  return { observation: unchanged(previous, name, `retrying: ${describeError(error)}`), written: [], retry: error };
}

/** `beforeFirstWrite` records the region in the placements record (see placements.ts). */
export async function reconcileRegion(
  pool: RegionPool,
  renderer: RegionRenderer,
  cluster: RealtimeCluster,
  region: RegionSpec,
  plan: RegionPlan,
  paused: boolean,
  timeoutMs?: number,
  beforeFirstWrite?: () => Promise<void>,
): Promise<RegionOutcome> {
  const previous = cluster.status?.regions?.find((r) => r.name === region.name);
  let client: RegionClient | undefined;
  try {
    client = await getClient(pool, cluster, region);
    const owner = clusterLabelValue(plan.hubNamespace, plan.clusterName);
    const gateway = { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: objectNames(plan.clusterName).gateway, namespace: plan.namespace } };
    // A region the pool judges Unknown is asked live first: its cache still holds the last state
    // seen, and reads from it would report that as current. No answer keeps it Unknown (below);
    // an answer counts toward its health coming back.
    if (client.health() === 'Unknown') await readLive(client, gateway, timeoutMs);
    const applied = paused ? undefined : await applyObjects(client, renderer.render(plan), owner, timeoutMs, beforeFirstWrite);
    const written = applied?.written ?? [];
    // The Deployment read before applying is current unless it was just written: then read it
    // again (the cache holds the write's answer; without a cache, a GET).
    const deployment = (
      applied && !written.includes(describeObject(gateway)) ? applied.live.get(describeObject(gateway)) : await readCurrent(client, gateway, timeoutMs)
    ) as V1Deployment | undefined;
    const observation = observeDeployment(region.name, deployment, plan.replicas, written.length > 0);
    if (paused && !deployment) observation.message = 'paused before the first rollout';
    return { observation, written };
  } catch (error) {
    return classifyRegionFailure(error, client, previous, region.name);
  }
}
