/**
 * What a topology pass means for the RealtimeCluster: `status.relay`, the `RelayReady`
 * condition, and Events on transitions. The reconciler computes its own status, then passes it
 * through `withRelayStatus`, so one status write carries both (and a pass that changed nothing
 * writes nothing).
 */
import type { RealtimeCluster, RealtimeClusterStatus, RelayStatus } from '../../crds/types.ts';
import { EventReason } from '../events.ts';
import type { EventRecorder } from '../types.ts';
import { condition } from '../reconcile/status.ts';

export const RELAY_READY = 'RelayReady';

export const RelayReason = {
  TopologyReady: 'TopologyReady',
  /** Pub/Sub did not answer (refused, unavailable, timed out). */
  PubSubUnavailable: 'PubSubUnavailable',
  /** Pub/Sub answered with an error (permission denied, invalid argument, …). */
  PubSubError: 'PubSubError',
  /** The credentials Secret's value is not a service-account JSON key. */
  CredentialsInvalid: 'CredentialsInvalid',
} as const;

/** One pass over a cluster's topology. */
export type RelayOutcome =
  /** No spec.relay: no status.relay, no RelayReady. */
  | { state: 'absent' }
  /** Not looked at (spec.paused, an invalid spec): status.relay and RelayReady stay as they are. */
  | { state: 'kept' }
  | { state: 'ready'; relay: RelayStatus; writes: string[] }
  /** `retry`: a Pub/Sub error, retried with backoff; otherwise a problem a person must fix (looked at again later). */
  | { state: 'failed'; reason: string; message: string; retry: boolean; relay: RelayStatus; writes: string[] };

/** Removing a deleted cluster's topology. */
export type RelayCleanup =
  | { state: 'none' }
  | { state: 'cleaned'; deleted: string[] }
  | { state: 'abandoned' }
  | { state: 'failed'; reason: string; message: string };

/** `status` with `status.relay` and RelayReady as `outcome` says. */
export function withRelayStatus(status: RealtimeClusterStatus, cluster: RealtimeCluster, outcome: RelayOutcome, now: Date): RealtimeClusterStatus {
  const previous = cluster.status;
  const others = (status.conditions ?? []).filter((c) => c.type !== RELAY_READY);
  const { relay: _relay, ...rest } = status;
  const generation = cluster.metadata.generation;
  const relayReady = (value: 'True' | 'False', reason: string, message: string) => condition(previous?.conditions, RELAY_READY, value, reason, message, generation, now);
  switch (outcome.state) {
    case 'absent':
      return { ...rest, conditions: others };
    case 'kept': {
      const kept = previous?.conditions?.find((c) => c.type === RELAY_READY);
      return { ...rest, ...(previous?.relay ? { relay: previous.relay } : {}), conditions: [...others, ...(kept ? [kept] : [])] };
    }
    case 'ready':
      return {
        ...rest,
        relay: outcome.relay,
        conditions: [...others, relayReady('True', RelayReason.TopologyReady, `topic and ${outcome.relay.subscriptions?.length ?? 0} region subscriptions in place`)],
      };
    case 'failed':
      return { ...rest, relay: outcome.relay, conditions: [...others, relayReady('False', outcome.reason, outcome.message)] };
  }
}

/** During deletion: RelayReady False while the topology is not removed yet. */
export function withRelayCleanupStatus(status: RealtimeClusterStatus, cluster: RealtimeCluster, cleanup: RelayCleanup, now: Date): RealtimeClusterStatus {
  if (cleanup.state === 'none') return withRelayStatus(status, cluster, { state: 'absent' }, now);
  if (cleanup.state !== 'failed') return withRelayStatus(status, cluster, { state: 'kept' }, now);
  const relay = { ...cluster.status?.relay, lastError: cleanup.message };
  const message = `deleting: the relay topology is not removed yet (${cleanup.message}); to leave it behind, annotate ${ABANDON_RELAY_ANNOTATION}=true`;
  return withRelayStatus(status, cluster, { state: 'failed', reason: cleanup.reason, message, retry: true, relay, writes: [] }, now);
}

/** Set to "true" on a RealtimeCluster being deleted: its Pub/Sub topology is left behind, and deletion no longer waits for it. */
export const ABANDON_RELAY_ANNOTATION = 'realtime.meridian.dev/abandon-relay';

/** Events for what a pass wrote and for RelayReady's transitions. */
export async function recordRelayEvents(events: EventRecorder, cluster: RealtimeCluster, outcome: RelayOutcome): Promise<void> {
  if ((outcome.state === 'ready' || outcome.state === 'failed') && outcome.writes.length > 0) {
    await events.record(cluster, 'Normal', EventReason.RelayApplied, `relay topology: ${outcome.writes.join(', ')}`);
  }
  const before = cluster.status?.conditions?.find((c) => c.type === RELAY_READY);
  if (outcome.state === 'failed' && (before?.status !== 'False' || before.reason !== outcome.reason)) {
    await events.record(cluster, 'Warning', EventReason.RelayFailed, outcome.message);
  } else if (outcome.state === 'ready' && before?.status === 'False') {
    await events.record(cluster, 'Normal', EventReason.RelayRecovered, 'relay topology in place again');
  }
}

/** `finishing`: the finalizer is about to go (the abandon Event is recorded once, then). */
export async function recordRelayCleanupEvents(events: EventRecorder, cluster: RealtimeCluster, cleanup: RelayCleanup, finishing: boolean): Promise<void> {
  if (cleanup.state === 'cleaned' && cleanup.deleted.length > 0) {
    await events.record(cluster, 'Normal', EventReason.RelayCleanedUp, `relay topology deleted: ${cleanup.deleted.join(', ')}`);
  } else if (cleanup.state === 'abandoned' && finishing) {
    await events.record(cluster, 'Warning', EventReason.RelayAbandoned, `relay topology left behind (${ABANDON_RELAY_ANNOTATION}): the topic and subscriptions, if any, remain in Pub/Sub`);
  }
}
