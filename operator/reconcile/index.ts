/**
 * The RealtimeCluster reconciler: level-based and idempotent. Each call re-reads the cluster,
 * renders every region's objects, applies only what differs, and writes status only when it
 * changed, so a resync that finds everything in place makes no writes at all.
 */
import type { KubeClient } from '../kube/client.ts';
import { API_VERSION, KIND, type RealtimeCluster, type RegionStatus } from '../../crds/types.ts';
import type { Logger } from 'pino';
import { EventReason } from '../events.ts';
import { TerminalError, type EventRecorder, type ReconcileResult, type Reconciler, type RegionPool } from '../types.ts';
import { DEFAULT_REGION_CALL_TIMEOUT_MS } from './apply.ts';
import { isNotFound } from '../errors.ts';
import { ReconcileError, ReconcileErrorReason, describeError } from './errors.ts';
import { readSecretFromApi, type ReadSecret } from '../secrets.ts';
import { checkSpec, planCluster, type PlanOptions } from './desired.ts';
import { addFinalizer, hasFinalizer } from './finalizer.ts';
import { finalizeCluster } from './deletion.ts';
import { cleanupOrphans } from './orphans.ts';
import { PlacementRecord, placementOf } from './placements.ts';
import { reconcileRegion, type RegionOutcome } from './region.ts';
import { RegionRenderer } from './render.ts';
import { computeStatus, writeStatus } from './status.ts';
import { createRelayTopology, recordRelayEvents, withRelayStatus, type RelayTopology } from '../relay-topology/index.ts';
import type { Autoscaler } from '../autoscale/autoscaler.ts';
import { reportScaling, scalingObservation } from '../autoscale/report.ts';

export { ABANDON_ANNOTATION, FINALIZER } from './finalizer.ts';
export { PLACEMENTS_ANNOTATION } from './placements.ts';

export interface ReconcilerOptions {
  /** Seconds a terminating pod keeps serving so endpoints stop routing to it first. */
  preStopPauseSeconds?: number;
  /** Seconds a gateway has to drain its connections (close 1012) after the pause. */
  drainWindowSeconds?: number;
  /** Look again this soon while a rollout is in progress. */
  progressRecheckMs?: number;
  /** Look again this soon while a region is Unknown or cleanup waits for one. */
  unreachableRecheckMs?: number;
  /** Look again this soon when the spec is invalid (a missing Secret may appear). */
  invalidSpecRecheckMs?: number;
  /** One call to a region taking longer counts as no answer (a hanging region cannot stall a reconcile). */
  regionCallTimeoutMs?: number;
  /** The autoscaling seam: pods per region; defaults to the region's minimum. */
  chooseReplicas?: PlanOptions['chooseReplicas'];
}

/** Optional counters; the runtime wires them to prom-client. */
export interface ReconcileMetrics {
  objectsWritten?(region: string, count: number): void;
  statusWritten?(): void;
  scalingDecision?(region: string, direction: string, reason: string): void;
}

export interface ReconcilerDeps {
  hub: KubeClient;
  regions: RegionPool;
  events: EventRecorder;
  logger: Logger;
  now?: () => Date;
  metrics?: ReconcileMetrics;
  /** Reads hub Secrets the spec references; defaults to a GET on the hub (the controller passes its cache). */
  readSecret?: ReadSecret;
  /** Reads the RealtimeCluster (a copy); defaults to a GET on the hub (the controller passes its cache). */
  readCluster?: ReadCluster;
  /** Keeps the relay's Pub/Sub topology; default: one on @google-cloud/pubsub (whoever passes one closes it). */
  relay?: RelayTopology;
  options?: ReconcilerOptions;
  /** Scales each region on its connections (operator/autoscale); absent: every region runs its minimum. */
  autoscaler?: Autoscaler;
}

export const DEFAULT_RECONCILER_OPTIONS = Object.freeze({
  preStopPauseSeconds: 5,
  drainWindowSeconds: 30,
  progressRecheckMs: 5_000,
  unreachableRecheckMs: 30_000,
  invalidSpecRecheckMs: 60_000,
  regionCallTimeoutMs: DEFAULT_REGION_CALL_TIMEOUT_MS,
});

export function parseKey(key: string): { namespace: string; name: string } {
  const parts = key.split('/');
  if (parts.length !== 2 || !parts[0] || !parts[1]) throw new TerminalError('InvalidKey', `reconcile key "${key}" is not "namespace/name"`);
  return { namespace: parts[0], name: parts[1] };
}

export type ReadCluster = (namespace: string, name: string) => Promise<RealtimeCluster | undefined>;

/** A ReadCluster that GETs from the hub, for callers without a cache. */
export function readClusterFromApi(hub: KubeClient): ReadCluster {
  return async (namespace, name) => {
    try {
      return (await hub.read({ apiVersion: API_VERSION, kind: KIND, metadata: { namespace, name } })) as RealtimeCluster;
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  };
}

function isPaused(status: RealtimeCluster['status']): boolean {
  return status?.conditions?.some((c) => c.type === 'Paused' && c.status === 'True') ?? false;
}

export function createReconciler(deps: ReconcilerDeps): Reconciler {
  const { hub, regions: pool, events, logger, now = () => new Date(), metrics } = deps;
  const options = { ...DEFAULT_RECONCILER_OPTIONS, ...deps.options };
  const readSecret = deps.readSecret ?? readSecretFromApi(hub);
  const readCluster = deps.readCluster ?? readClusterFromApi(hub);
  const relay = deps.relay ?? createRelayTopology({ logger });
  const renderer = new RegionRenderer();
  const planOptions: PlanOptions = {
    preStopPauseSeconds: options.preStopPauseSeconds,
    drainWindowSeconds: options.drainWindowSeconds,
    chooseReplicas: options.chooseReplicas ?? ((_cluster, _region, bounds) => bounds.min),
  };

  async function reportRegionChanges(cluster: RealtimeCluster, outcomes: RegionOutcome[]): Promise<void> {
    const previous = new Map<string, RegionStatus>((cluster.status?.regions ?? []).map((r) => [r.name, r]));
    for (const { observation, written, misconfigured } of outcomes) {
      const before = previous.get(observation.name);
      if (written.length > 0) {
        metrics?.objectsWritten?.(observation.name, written.length);
        await events.record(cluster, 'Normal', EventReason.Applied, `region ${observation.name}: applied ${written.join(', ')}`);
      }
      if (observation.phase === 'Unknown' && before?.phase !== 'Unknown') {
        await events.record(cluster, 'Warning', EventReason.RegionUnreachable, `region ${observation.name} is unreachable (${observation.message}); nothing is deleted because of it`);
      } else if (before?.phase === 'Unknown' && observation.phase !== 'Unknown') {
        await events.record(cluster, 'Normal', EventReason.RegionRecovered, `region ${observation.name} answers again: ${observation.phase}`);
      }
      if (misconfigured && (before?.phase !== 'Degraded' || before.message !== observation.message)) {
        await events.record(cluster, 'Warning', EventReason.RegionMisconfigured, `region ${observation.name}: ${observation.message}`);
      }
    }
  }

  async function reconcileLive(cluster: RealtimeCluster, key: string): Promise<ReconcileResult> {
    const paused = cluster.spec.paused === true;
    const { autoscaler } = deps;
    // The autoscaler decides first (chooseReplicas reads its decisions); an invalid spec is not scaled.
    const scaling = autoscaler && checkSpec(cluster).length === 0 ? await autoscaler.plan(pool, cluster, key, paused) : undefined;
    if (autoscaler && scaling) await autoscaler.prepareScaleDown(pool, cluster, key, scaling);
    const chooseReplicas = scaling ? (_c: RealtimeCluster, region: { name: string }, bounds: { min: number }) => scaling.regions.get(region.name)?.decision.replicas ?? bounds.min : planOptions.chooseReplicas;
    const plan = await planCluster(readSecret, cluster, { ...planOptions, chooseReplicas });
    if (plan.problems.length > 0) {
      // The relay is not looked at either: its status stays as it was.
      const status = withRelayStatus(computeStatus({ cluster, problems: plan.problems, paused, now: now() }), cluster, { state: 'kept' }, now());
      if (await writeStatus(hub, cluster, status, cluster.metadata.resourceVersion)) {
        metrics?.statusWritten?.();
        logger.warn({ cluster: `${cluster.metadata.namespace}/${cluster.metadata.name}`, problems: plan.problems.map((p) => `${p.field}: ${p.reason}`) }, 'invalid spec: regions left as they were');
        const before = cluster.status?.conditions?.find((c) => c.type === 'Degraded');
        const after = status.conditions?.find((c) => c.type === 'Degraded');
        if (after && (before?.reason !== after.reason || before.message !== after.message)) {
          await events.record(cluster, 'Warning', EventReason.InvalidSpec, after.message);
        }
      }
      return { requeueAfterMs: options.invalidSpecRecheckMs };
    }

    // Before a maintenance drain starts (this pass's apply sets replicas 0), the pods learn where clients go.
    if (autoscaler && scaling) {
      const apiKey = plan.regions[0]?.plan.secretData['api-key'];
      await autoscaler.announceReconnect(pool, cluster, key, scaling, apiKey ? Buffer.from(apiKey, 'base64').toString('utf8') : undefined);
    }
    // Each region is recorded just before its first write, so that one later dropped from the spec is cleaned up.
    const record = new PlacementRecord(hub, cluster);
    // Beside the regions, never in their way: a Pub/Sub failure is an outcome, not an exception.
    const relayPass = relay.reconcile(cluster, readSecret);
    const outcomes = await Promise.all(
      plan.regions.map(({ spec, plan: regionPlan }) =>
        reconcileRegion(pool, renderer, cluster, spec, regionPlan, paused, options.regionCallTimeoutMs, () => record.ensure(placementOf(spec))),
      ),
    );
    // Paused: nothing is written to regions, deletions included; pending cleanup stays as it was.
    const orphans = paused ? undefined : await cleanupOrphans({ pool, events, regionCallTimeoutMs: options.regionCallTimeoutMs }, cluster, record);
    if (orphans && orphans.pending.length > 0) {
      logger.warn({ cluster: `${cluster.metadata.namespace}/${cluster.metadata.name}`, pending: orphans.pending.map((p) => p.region) }, 'regions left the spec; their objects are not cleaned up yet');
    }
    const relayOutcome = await relayPass;
    const observations = outcomes.map((o) => (scaling ? scalingObservation(o.observation, scaling) : o.observation));
    const status = withRelayStatus(
      computeStatus({ cluster, problems: [], regions: observations, pendingCleanup: orphans?.pending, paused, now: now(), ...(scaling ? { failover: scaling.failover } : {}) }),
      cluster,
      relayOutcome,
      now(),
    );
    // Events first: if the status write then fails (409), the retry sees the same transitions and
    // records them again (a count bump), rather than losing an Applied event for writes already made.
    await reportRegionChanges(cluster, outcomes);
    await recordRelayEvents(events, cluster, relayOutcome);
    if (autoscaler && scaling) {
      await reportScaling(cluster, scaling, { events, metrics, logger });
      const apiKey = plan.regions[0]?.plan.secretData['api-key'];
      await autoscaler.rebalance(pool, cluster, key, scaling, apiKey ? Buffer.from(apiKey, 'base64').toString('utf8') : undefined).then(
        (sent) => (sent > 0 ? events.record(cluster, 'Normal', EventReason.Rebalancing, `${sent} pod(s) above their share shed connections (1012) so that new pods take load`) : undefined),
        (error: unknown) => logger.warn({ err: describeError(error) }, 'rebalancing failed'),
      );
    }
    if (paused !== isPaused(cluster.status)) {
      await events.record(cluster, 'Normal', paused ? EventReason.Paused : EventReason.Resumed, paused ? 'spec.paused is true: no writes to regions' : 'spec.paused is false: regions are reconciled again');
    }
    // Conditional on the version this pass last wrote (or read): a concurrent status writer is never overwritten.
    if (await writeStatus(hub, cluster, status, record.resourceVersion)) metrics?.statusWritten?.();

    const retry = outcomes.filter((o) => o.retry !== undefined);
    if (retry.length > 0 || orphans?.retry !== undefined) {
      const detail = retry.map((o) => `${o.observation.name}: ${describeError(o.retry)}`);
      if (orphans?.retry !== undefined) detail.push(`cleanup of regions left the spec: ${describeError(orphans.retry)}`);
      throw new ReconcileError(ReconcileErrorReason.RegionApiError, `regions to retry: ${detail.join('; ')}`, { cause: retry[0]?.retry ?? orphans?.retry });
    }
    // A Pub/Sub error: the regions are done; the work queue retries the relay with backoff.
    if (relayOutcome.state === 'failed' && relayOutcome.retry) throw new ReconcileError(ReconcileErrorReason.RelayApiError, `relay topology to retry: ${relayOutcome.message}`);
    const phases = outcomes.map((o) => o.observation.phase);
    const rechecks: number[] = [];
    if (phases.includes('Unknown') || (orphans?.pending.length ?? 0) > 0) rechecks.push(options.unreachableRecheckMs);
    if (!paused && phases.some((p) => p === 'Progressing' || p === 'Pending')) rechecks.push(options.progressRecheckMs);
    // A relay conflict a person must fix: looked at again later (and at once when the spec changes).
    if (relayOutcome.state === 'failed') rechecks.push(options.invalidSpecRecheckMs);
    return rechecks.length > 0 ? { requeueAfterMs: Math.min(...rechecks) } : {};
  }

  return {
    async reconcile(key) {
      const { namespace, name } = parseKey(key);
      const cluster = await readCluster(namespace, name);
      if (!cluster || cluster.metadata.deletionTimestamp) {
        deps.autoscaler?.forget(key);
        renderer.forget(namespace, name);
      }
      if (!cluster) return {};
      if (cluster.metadata.deletionTimestamp) {
        return finalizeCluster({ hub, pool, events, now, unreachableRecheckMs: options.unreachableRecheckMs, regionCallTimeoutMs: options.regionCallTimeoutMs, relay, readSecret }, cluster);
      }
      if (!hasFinalizer(cluster)) {
        // The patch's answer is the live object: later writes start from its resourceVersion.
        return reconcileLive(await addFinalizer(hub, cluster), key);
      }
      return reconcileLive(cluster, key);
    },
  };
}
