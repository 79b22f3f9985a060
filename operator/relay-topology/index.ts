/**
 * The relay's Pub/Sub topology, kept by the operator for each RealtimeCluster with
 * spec.relay.pubsub: the topic and one subscription per region (plan.ts, sync.ts), reported as
 * status.relay and RelayReady (status.ts). The reconciler calls `reconcile` beside its regions
 * and `finalize` from the deletion path; neither throws: a Pub/Sub error becomes an outcome,
 * so it never blocks the regions and never deletes anything.
 *
 * Per cluster it keeps one admin client (rebuilt when the project, emulator or credentials
 * change) and the last successful check: a topology verified within `recheckMs`, for the same
 * desired state, is not read again, so a burst of reconciles (a rollout) costs Pub/Sub nothing.
 */
import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import type { RealtimeCluster, RelayStatus } from '../../crds/types.ts';
import { secretText, type ReadSecret } from '../secrets.ts';
import { connectPubSub, grpcCode, type ConnectPubSub, type PubSubAdmin, type PubSubConnection } from './admin.ts';
import { desiredTopology, subscriptionPath, topicPath, type DesiredTopology } from './plan.ts';
import { ABANDON_RELAY_ANNOTATION, RelayReason, type RelayCleanup, type RelayOutcome } from './status.ts';
import { TopologyProblemReason, removeTopology, syncTopology, type SyncResult } from './sync.ts';

export { ABANDON_RELAY_ANNOTATION, RELAY_READY, RelayReason, recordRelayCleanupEvents, recordRelayEvents, withRelayCleanupStatus, withRelayStatus } from './status.ts';
export type { RelayCleanup, RelayOutcome } from './status.ts';
export type { ConnectPubSub, PubSubAdmin, PubSubConnection } from './admin.ts';
export { TopologyProblemReason } from './sync.ts';

export const RELAY_TOPOLOGY_DEFAULTS = Object.freeze({
  /** One Pub/Sub admin call taking longer counts as no answer. */
  callTimeoutMs: 10_000,
  /** A topology verified this recently (same spec, same credentials) is not read again. */
  recheckMs: 60_000,
  /** Clusters whose client and last check are kept (the least recently used is forgotten first). */
  maxTracked: 1024,
});

export interface RelayTopologyOptions {
  logger: Logger;
  /** Builds the admin client of one cluster; tests wrap the default to count writes. */
  connect?: ConnectPubSub;
  callTimeoutMs?: number;
  recheckMs?: number;
  maxTracked?: number;
  now?: () => number;
}

export interface RelayTopology {
  /** Ensures the topology of a live cluster. Never throws. */
  reconcile(cluster: RealtimeCluster, readSecret: ReadSecret): Promise<RelayOutcome>;
  /** Removes the topology of a cluster being deleted. Never throws. */
  finalize(cluster: RealtimeCluster, readSecret: ReadSecret): Promise<RelayCleanup>;
  /** Closes every client. */
  close(): Promise<void>;
}

interface Tracked {
  fingerprint: string;
  admin: PubSubAdmin;
  /** Digest of the desired topology last found in place, and when. */
  checked?: { digest: string; at: number };
}

class CredentialsError extends Error {}

const grpcUnavailable = 14;
const grpcDeadlineExceeded = 4;

function digestOf(value: unknown): string {
  return createHash('sha256').update(JSON.stringify(value)).digest('hex');
}

/** A secret-free, bounded description of a Pub/Sub error. */
function describe(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.length > 1024 ? `${text.slice(0, 1024)}…` : text;
}

function reasonOf(error: unknown): string {
  const code = grpcCode(error);
  if (code === grpcUnavailable || code === grpcDeadlineExceeded) return RelayReason.PubSubUnavailable;
  const errno = (error as { code?: unknown; cause?: { code?: unknown } })?.cause?.code ?? (error as { code?: unknown })?.code;
  return typeof errno === 'string' && /^E[A-Z]+$/.test(errno) ? RelayReason.PubSubUnavailable : RelayReason.PubSubError;
}

/** How to reach Pub/Sub for the cluster: the emulator (no auth), a service-account key from a hub Secret, or ambient credentials. */
async function connectionOf(cluster: RealtimeCluster, readSecret: ReadSecret): Promise<PubSubConnection> {
  const pubsub = cluster.spec.relay!.pubsub;
  if (pubsub.emulatorHost) return { projectId: pubsub.projectId, emulatorHost: pubsub.emulatorHost };
  const ref = pubsub.credentialsSecretRef;
  if (!ref) return { projectId: pubsub.projectId };
  const secret = await readSecret(cluster.metadata.namespace ?? '', ref.name);
  const text = secret && secretText(secret, ref.key);
  if (text === undefined) throw new CredentialsError(`Secret "${ref.name}" has no key "${ref.key}" (spec.relay.pubsub.credentialsSecretRef)`);
  let key: unknown;
  try {
    key = JSON.parse(text);
  } catch {
    key = undefined;
  }
  const fields = key as { client_email?: unknown; private_key?: unknown } | undefined;
  if (typeof fields?.client_email !== 'string' || typeof fields.private_key !== 'string') {
    throw new CredentialsError(`Secret "${ref.name}" key "${ref.key}" is not a service-account JSON key (client_email and private_key)`);
  }
  return { projectId: pubsub.projectId, credentials: key as Record<string, unknown> };
}

function readyStatus(desired: DesiredTopology, regions?: string[]): RelayStatus {
  const subscriptions = desired.subscriptions.filter((s) => !regions || regions.includes(s.region));
  return { topic: topicPath(desired.projectId, desired.topic), subscriptions: subscriptions.map((s) => ({ region: s.region, name: subscriptionPath(desired.projectId, s.name) })) };
}

export function createRelayTopology(options: RelayTopologyOptions): RelayTopology {
  const { logger, connect = connectPubSub, callTimeoutMs = RELAY_TOPOLOGY_DEFAULTS.callTimeoutMs, recheckMs = RELAY_TOPOLOGY_DEFAULTS.recheckMs, maxTracked = RELAY_TOPOLOGY_DEFAULTS.maxTracked, now = Date.now } = options;
  const tracked = new Map<string, Tracked>();

  const forget = async (key: string): Promise<void> => {
    const entry = tracked.get(key);
    tracked.delete(key);
    await entry?.admin.close().catch(() => undefined);
  };

  /** The cluster's client, rebuilt when its connection changed; most recently used last. */
  const trackedFor = async (key: string, connection: PubSubConnection): Promise<Tracked> => {
    const fingerprint = digestOf(connection);
    let entry = tracked.get(key);
    if (entry && entry.fingerprint !== fingerprint) {
      await forget(key);
      entry = undefined;
    }
    entry ??= { fingerprint, admin: connect(connection, callTimeoutMs) };
    tracked.delete(key);
    tracked.set(key, entry);
    if (tracked.size > maxTracked) await forget(tracked.keys().next().value as string);
    return entry;
  };

  const keyOf = (cluster: RealtimeCluster) => `${cluster.metadata.namespace}/${cluster.metadata.name}`;

  return {
    async reconcile(cluster, readSecret) {
      const key = keyOf(cluster);
      const desired = desiredTopology(cluster);
      if (!desired) {
        // The relay left the spec: what it made stays in Pub/Sub (docs/operator.md, "Known limits").
        await forget(key);
        return { state: 'absent' };
      }
      if (cluster.spec.paused) return { state: 'kept' };
      const previous = cluster.status?.relay;
      const result: SyncResult = { writes: [], inPlace: [], problems: [] };
      try {
        const entry = await trackedFor(key, await connectionOf(cluster, readSecret));
        const digest = digestOf(desired);
        if (entry.checked?.digest === digest && now() - entry.checked.at < recheckMs) return { state: 'ready', relay: readyStatus(desired), writes: [] };
        entry.checked = undefined;
        await syncTopology(entry.admin, desired, result);
        if (result.problems.length === 0) {
          entry.checked = { digest, at: now() };
          return { state: 'ready', relay: readyStatus(desired), writes: result.writes };
        }
        const message = result.problems.map((p) => p.message).join('; ');
        logger.warn({ cluster: key, reason: result.problems[0].reason }, 'relay topology needs a person: left as it is');
        const topicOurs = !result.problems.some((p) => p.reason === TopologyProblemReason.TopicOwnedByOtherCluster);
        const known = readyStatus(desired, result.inPlace);
        return { state: 'failed', reason: result.problems[0].reason, message, retry: false, relay: { ...(topicOurs ? known : { subscriptions: [] }), lastError: message }, writes: result.writes };
      } catch (error) {
        const credentials = error instanceof CredentialsError;
        const reason = credentials ? RelayReason.CredentialsInvalid : reasonOf(error);
        const message = credentials ? error.message : `Pub/Sub: ${describe(error)}`;
        logger.warn({ cluster: key, reason, error: message }, 'relay topology not in place; regions are reconciled regardless');
        // What was seen before stays; nothing is deleted because of an error.
        return { state: 'failed', reason, message, retry: !credentials, relay: { ...previous, lastError: message }, writes: result.writes };
      }
    },

    async finalize(cluster, readSecret) {
      const key = keyOf(cluster);
      const desired = desiredTopology(cluster);
      if (!desired) return { state: 'none' };
      if (cluster.metadata.annotations?.[ABANDON_RELAY_ANNOTATION] === 'true') {
        await forget(key);
        return { state: 'abandoned' };
      }
      try {
        const entry = await trackedFor(key, await connectionOf(cluster, readSecret));
        const deleted = await removeTopology(entry.admin, desired);
        await forget(key);
        return { state: 'cleaned', deleted };
      } catch (error) {
        const credentials = error instanceof CredentialsError;
        const message = credentials ? error.message : `Pub/Sub: ${describe(error)}`;
        logger.warn({ cluster: key, error: message }, 'relay topology not deleted yet; deletion waits for it');
        return { state: 'failed', reason: credentials ? RelayReason.CredentialsInvalid : reasonOf(error), message };
      }
    },

    async close() {
      await Promise.all([...tracked.keys()].map((key) => forget(key)));
    },
  };
}
