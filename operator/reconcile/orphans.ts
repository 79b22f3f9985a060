/**
 * Placements a live RealtimeCluster no longer wants (a region removed from the spec, or moved to
 * another namespace): their objects are deleted like on deletion, and the record forgets them
 * once they are gone. An unreachable one is kept and tried again; nothing is deleted unseen.
 */
import type { PendingCleanup, RealtimeCluster } from '../../crds/types.ts';
import { EventReason } from '../events.ts';
import type { EventRecorder, RegionPool } from '../types.ts';
import { cleanupPlacement } from './deletion.ts';
import { describeError } from './errors.ts';
import { mergePlacements, orphanedPlacements, placementKey, specPlacements, targetKey, type Placement, type PlacementRecord } from './placements.ts';

export interface OrphanDeps {
  pool: RegionPool;
  events: EventRecorder;
  regionCallTimeoutMs?: number;
}

export interface OrphanOutcome {
  /** Orphans still holding objects (unreachable, or a retryable error): status.pendingCleanup. */
  pending: PendingCleanup[];
  /** A retryable error, if any orphan hit one. */
  retry?: unknown;
}

/** Cleans up recorded placements the spec dropped, then shrinks the record to what still exists. */
export async function cleanupOrphans(deps: OrphanDeps, cluster: RealtimeCluster, record: PlacementRecord): Promise<OrphanOutcome> {
  const desired = specPlacements(cluster);
  const orphans = orphanedPlacements(record.placements, desired);
  const outcome: OrphanOutcome = { pending: [] };
  const kept: Placement[] = [];
  for (const orphan of orphans) {
    const result = await cleanupPlacement(deps.pool, cluster, orphan, deps.regionCallTimeoutMs);
    if (result.state === 'cleaned') {
      if (result.deleted.length > 0) {
        await deps.events.record(cluster, 'Normal', EventReason.CleanedUp, `region ${orphan.region} (namespace ${orphan.namespace}) left the spec: deleted ${result.deleted.join(', ')}`);
      }
    } else if (result.state === 'abandoned') {
      await deps.events.record(cluster, 'Warning', EventReason.RegionAbandoned, `region ${orphan.region} left the spec and is abandoned: its objects, if any, are left behind`);
    } else {
      kept.push(orphan);
      const message = result.state === 'blocked' ? result.observation.message : `retrying: ${describeError(result.error)}`;
      outcome.pending.push({ region: orphan.region, namespace: orphan.namespace, message });
      if (result.state === 'retry') outcome.retry ??= result.error;
    }
  }
  // Entries dropped from the spec whose target a spec region reuses hold no orphans: the objects
  // there are that region's now, so it takes their place in the record.
  await record.update((current) => {
    const recorded = new Set(current.map(placementKey));
    const targets = new Set(current.map(targetKey));
    return mergePlacements(desired.filter((p) => recorded.has(placementKey(p)) || targets.has(targetKey(p))), kept);
  });
  return outcome;
}
