/**
 * Deleting a RealtimeCluster: remove its objects in every region it wrote to (the placements
 * record), then the finalizer. Such a region that cannot be reached keeps the finalizer (status
 * and an Event say so) until it answers again or an SRE abandons it with the ABANDON_ANNOTATION.
 * A spec region the record does not name was never written to: it is cleaned if it answers
 * (in case the record was edited by hand), and never waited for.
 */
import type { KubeClient } from '../kube/client.ts';
import type { RealtimeCluster, RegionSpec } from '../../crds/types.ts';
import { EventReason } from '../events.ts';
import { clusterLabelValue, type EventRecorder, type ReconcileResult, type RegionClient, type RegionPool } from '../types.ts';
import { ReconcileError, ReconcileErrorReason, describeError } from './errors.ts';
import { ABANDON_ANNOTATION, cleanupRegion, hasFinalizer, isAbandoned, removeFinalizer } from './finalizer.ts';
import { mergePlacements, placementKey, recordedPlacements, specPlacements, type Placement } from './placements.ts';
import { classifyRegionFailure, getClient } from './region.ts';
import { computeStatus, writeStatus, type RegionObservation } from './status.ts';
import type { ReadSecret } from '../secrets.ts';
import { recordRelayCleanupEvents, withRelayCleanupStatus, type RelayCleanup, type RelayTopology } from '../relay-topology/index.ts';

export interface DeletionDeps {
  hub: KubeClient;
  pool: RegionPool;
  events: EventRecorder;
  now: () => Date;
  unreachableRecheckMs: number;
  regionCallTimeoutMs?: number;
  /** Removes the relay's Pub/Sub topology (with readSecret for its credentials); absent: nothing to remove. */
  relay?: RelayTopology;
  readSecret?: ReadSecret;
}

/** The outcome for one placement: `name` is the region, `namespace` where its objects are. */
export type RegionCleanup = { name: string; namespace: string } & (
  | { state: 'cleaned'; deleted: string[]; note?: string }
  | { state: 'abandoned' }
  | { state: 'blocked'; observation: RegionObservation }
  | { state: 'retry'; error: unknown }
);

/** Removes the cluster's objects from one placement (a region and namespace). */
export async function cleanupPlacement(pool: RegionPool, cluster: RealtimeCluster, placement: Placement, timeoutMs?: number): Promise<RegionCleanup> {
  const region: RegionSpec = { name: placement.region, namespace: placement.namespace, ...(placement.kubeconfigSecretRef ? { kubeconfigSecretRef: placement.kubeconfigSecretRef } : {}) };
  if (isAbandoned(cluster, region.name)) return { name: region.name, namespace: placement.namespace, state: 'abandoned' };
  const previous = cluster.status?.regions?.find((r) => r.name === region.name);
  let client: RegionClient | undefined;
  try {
    client = await getClient(pool, cluster, region);
    const owner = clusterLabelValue(cluster.metadata.namespace ?? '', cluster.metadata.name ?? '');
    const outcome = await cleanupRegion(client, placement.namespace, owner, timeoutMs);
    if (outcome.remaining > 0) return { name: region.name, namespace: placement.namespace, state: 'retry', error: new Error(`${outcome.remaining} objects still terminating`) };
    return { name: region.name, namespace: placement.namespace, state: 'cleaned', deleted: outcome.deleted, ...(outcome.namespaceKept ? { note: outcome.namespaceKept } : {}) };
  } catch (error) {
    const failure = classifyRegionFailure(error, client, previous, region.name);
    if (failure.retry !== undefined) return { name: region.name, namespace: placement.namespace, state: 'retry', error: failure.retry };
    const hint = `cleanup waits for this region; to give up on it, annotate ${ABANDON_ANNOTATION}=${region.name}`;
    return { name: region.name, namespace: placement.namespace, state: 'blocked', observation: { ...failure.observation, message: `${failure.observation.message}; ${hint}` } };
  }
}

export async function finalizeCluster(deps: DeletionDeps, cluster: RealtimeCluster): Promise<ReconcileResult> {
  if (!hasFinalizer(cluster)) return {};
  const record = recordedPlacements(cluster);
  // An unreadable record (edited by hand) owes cleanup wherever the spec points, as before records existed.
  const owed = record.error ? mergePlacements(record.placements, specPlacements(cluster)) : record.placements;
  const owedKeys = new Set(owed.map(placementKey));
  const placements = mergePlacements(owed, specPlacements(cluster));
  const relayPass: Promise<RelayCleanup> = deps.relay && deps.readSecret ? deps.relay.finalize(cluster, deps.readSecret) : Promise.resolve({ state: 'none' });
  const attempts = await Promise.all(placements.map((placement) => cleanupPlacement(deps.pool, cluster, placement, deps.regionCallTimeoutMs)));
  const relay = await relayPass;
  // Nothing was written where nothing is recorded: such a region that does not answer is not waited for.
  const results = attempts.filter((result, i) => owedKeys.has(placementKey(placements[i])) || result.state === 'cleaned');

  for (const result of results) {
    if (result.state === 'cleaned' && result.deleted.length > 0) {
      await deps.events.record(cluster, 'Normal', EventReason.CleanedUp, `region ${result.name}: deleted ${result.deleted.join(', ')}${result.note ? `; ${result.note}` : ''}`);
    }
  }
  const blocked = results.filter((r) => r.state === 'blocked');
  const retry = results.filter((r) => r.state === 'retry');
  // The topic and subscriptions hold the finalizer like a region: a Pub/Sub error never lets them leak unseen.
  const finishing = blocked.length === 0 && retry.length === 0 && relay.state !== 'failed';
  await recordRelayCleanupEvents(deps.events, cluster, relay, finishing);
  if (finishing) {
    for (const result of results) {
      if (result.state === 'abandoned') {
        await deps.events.record(cluster, 'Warning', EventReason.RegionAbandoned, `region ${result.name} abandoned by ${ABANDON_ANNOTATION}: its objects, if any, are left behind`);
      }
    }
    await removeFinalizer(deps.hub, cluster);
    return {};
  }

  // Still waiting: say which regions hold the finalizer, once (status and Event change together).
  // A region recorded in two namespaces appears once in status: its first placement's state.
  const firstPerRegion = results.filter((r, i) => results.findIndex((other) => other.name === r.name) === i);
  const observations: RegionObservation[] = firstPerRegion.map((r) =>
    r.state === 'blocked'
      ? r.observation
      : { name: r.name, phase: 'Pending', message: r.state === 'cleaned' ? 'cleaned up' : r.state === 'abandoned' ? 'abandoned' : 'cleanup in progress', wrote: false },
  );
  const pendingCleanup = results.flatMap((r) =>
    r.state === 'blocked' || r.state === 'retry'
      ? [{ region: r.name, namespace: r.namespace, message: r.state === 'blocked' ? r.observation.message : `retrying: ${describeError(r.error)}` }]
      : [],
  );
  const status = withRelayCleanupStatus(computeStatus({ cluster, problems: [], regions: observations, pendingCleanup, deleting: true, paused: false, now: deps.now() }), cluster, relay, deps.now());
  if ((await writeStatus(deps.hub, cluster, status, cluster.metadata.resourceVersion)) && blocked.length > 0) {
    const names = blocked.map((r) => r.name).join(', ');
    await deps.events.record(cluster, 'Warning', EventReason.CleanupBlocked, `deletion waits for ${names}: unreachable or misconfigured; annotate ${ABANDON_ANNOTATION} to give up on a region`);
  }
  if (retry.length > 0) {
    const detail = retry.map((r) => `${r.name}: ${r.state === 'retry' ? describeError(r.error) : ''}`).join('; ');
    throw new ReconcileError(ReconcileErrorReason.RegionApiError, `cleanup to retry: ${detail}`);
  }
  if (relay.state === 'failed') throw new ReconcileError(ReconcileErrorReason.RelayApiError, `relay topology cleanup to retry: ${relay.message}`);
  return { requeueAfterMs: deps.unreachableRecheckMs };
}
