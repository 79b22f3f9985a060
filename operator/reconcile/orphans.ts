/**
 * Placements a live RealtimeCluster no longer wants (a region removed from the spec, or moved to
 * another namespace): their objects are deleted like on deletion, and the record forgets them
 * once they are gone. An unreachable one is kept and tried again; nothing is deleted unseen.
 */
import type { KubeConfig } from '@kubernetes/client-node';
import type { RealtimeCluster } from '../../crds/types.ts';
import { EventReason } from '../events.ts';
import type { EventRecorder, RegionPool } from '../types.ts';
import { cleanupPlacement } from './deletion.ts';
import { mergePlacements, orphanedPlacements, recordedPlacements, samePlacements, specPlacements, writePlacements, type Placement } from './placements.ts';

export interface OrphanDeps {
  hub: KubeConfig;
  pool: RegionPool;
  events: EventRecorder;
  regionCallTimeoutMs?: number;
}

/**
 * Records every placement of the spec before anything is written there. Returns the record now
 * in force and the cluster's resourceVersion after the write (for later preconditions).
 */
export async function recordPlacements(hub: KubeConfig, cluster: RealtimeCluster): Promise<{ record: Placement[]; resourceVersion?: string }> {
  const recorded = recordedPlacements(cluster).placements;
  const union = mergePlacements(recorded, specPlacements(cluster));
  if (samePlacements(union, recorded)) return { record: union, resourceVersion: cluster.metadata.resourceVersion };
  const written = await writePlacements(hub, cluster, union);
  return { record: union, resourceVersion: written.metadata.resourceVersion };
}

export interface OrphanOutcome {
  /** Orphans still holding objects (unreachable, or a retryable error). */
  pending: Array<{ region: string; namespace: string; reason: string }>;
  /** A retryable error, if any orphan hit one. */
  retry?: unknown;
}

/** Cleans up recorded placements the spec dropped, then shrinks the record to what still exists. */
export async function cleanupOrphans(deps: OrphanDeps, cluster: RealtimeCluster, record: Placement[]): Promise<OrphanOutcome> {
  const desired = specPlacements(cluster);
  const orphans = orphanedPlacements(record, desired);
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
      const reason = result.state === 'blocked' ? result.observation.message : String(result.error);
      outcome.pending.push({ region: orphan.region, namespace: orphan.namespace, reason });
      if (result.state === 'retry') outcome.retry ??= result.error;
    }
  }
  // Entries dropped from the spec whose target a spec region reuses hold no orphans: forget them too.
  const next = mergePlacements(desired, kept);
  if (!samePlacements(next, record)) await writePlacements(deps.hub, cluster, next);
  return outcome;
}
