/**
 * Where a RealtimeCluster has put objects: recorded in an annotation on the cluster before the
 * first write to a region, so that a region later removed from the spec (or moved to another
 * namespace) is still known and can be cleaned up. The spec alone forgets it. Only a region
 * something is about to be written to is recorded: one that was never reachable, or whose
 * kubeconfig never worked, holds nothing and is owed no cleanup.
 */
import type { KubeClient } from '../kube/client.ts';
import { DEFAULTS } from '../../crds/schema.ts';
import { clusterHeader, type RealtimeCluster, type RegionSpec, type SecretKeyRef } from '../../crds/types.ts';
import { FIELD_MANAGER } from '../types.ts';
import { byCodePoint } from '../../lib/code-point-order.ts';

/** JSON list of {region, namespace, kubeconfigSecretRef?}: every place this cluster may have objects. */
export const PLACEMENTS_ANNOTATION = 'realtime.meridian.dev/placements';

export interface Placement {
  region: string;
  namespace: string;
  kubeconfigSecretRef?: SecretKeyRef;
}

export function placementKey(p: Placement): string {
  return JSON.stringify([p.region, p.namespace, p.kubeconfigSecretRef?.name ?? '', p.kubeconfigSecretRef?.key ?? '']);
}

/** The cluster an object lands in: two placements with the same target share objects. */
export function targetKey(p: Placement): string {
  return JSON.stringify([p.namespace, p.kubeconfigSecretRef?.name ?? '', p.kubeconfigSecretRef?.key ?? '']);
}

/** Where a spec region puts its objects. */
export function placementOf(r: RegionSpec): Placement {
  return {
    region: r.name,
    namespace: r.namespace ?? DEFAULTS.regionNamespace,
    ...(r.kubeconfigSecretRef ? { kubeconfigSecretRef: { name: r.kubeconfigSecretRef.name, key: r.kubeconfigSecretRef.key } } : {}),
  };
}

export function specPlacements(cluster: RealtimeCluster): Placement[] {
  return (cluster.spec.regions ?? []).map(placementOf);
}

export interface RecordedPlacements {
  placements: Placement[];
  /** Set when the annotation could not be read (edited by hand): treated as empty. */
  error?: string;
}

export function recordedPlacements(cluster: RealtimeCluster): RecordedPlacements {
  const raw = cluster.metadata.annotations?.[PLACEMENTS_ANNOTATION];
  if (!raw) return { placements: [] };
  try {
    const parsed: unknown = JSON.parse(raw);
    if (!Array.isArray(parsed)) return { placements: [], error: `${PLACEMENTS_ANNOTATION} is not a JSON list` };
    const placements = parsed.filter(
      (p): p is Placement => typeof p === 'object' && p !== null && typeof (p as Placement).region === 'string' && typeof (p as Placement).namespace === 'string',
    );
    return { placements };
  } catch (error) {
    return { placements: [], error: `${PLACEMENTS_ANNOTATION} is not JSON: ${error instanceof Error ? error.message : String(error)}` };
  }
}

/** Recorded placements the spec no longer has whose target no spec region reuses: their objects are orphans. */
export function orphanedPlacements(recorded: Placement[], desired: Placement[]): Placement[] {
  const wanted = new Set(desired.map(placementKey));
  const reused = new Set(desired.map(targetKey));
  return recorded.filter((p) => !wanted.has(placementKey(p)) && !reused.has(targetKey(p)));
}

/** The union, without duplicates, in a stable order (so an unchanged record compares equal). */
export function mergePlacements(...lists: Placement[][]): Placement[] {
  const byKey = new Map<string, Placement>();
  for (const p of lists.flat()) byKey.set(placementKey(p), p);
  return [...byKey.entries()].sort(([a], [b]) => byCodePoint(a, b)).map(([, p]) => p);
}

export function samePlacements(a: Placement[], b: Placement[]): boolean {
  return JSON.stringify(mergePlacements(a)) === JSON.stringify(mergePlacements(b));
}

/**
 * Writes the record: a merge patch of this one annotation (no generation change). Without a
 * resourceVersion precondition: only the reconciler writes it, and one key is reconciled at a time.
 */
export async function writePlacements(hub: KubeClient, cluster: RealtimeCluster, placements: Placement[]): Promise<RealtimeCluster> {
  const body = { metadata: { annotations: { [PLACEMENTS_ANNOTATION]: JSON.stringify(mergePlacements(placements)) } } };
  return (await hub.patch(clusterHeader(cluster), body, 'merge', { fieldManager: FIELD_MANAGER })) as RealtimeCluster;
}

/**
 * The record during one reconcile: regions add themselves (ensure) just before their first
 * write, one annotation write at a time, and the cluster's resourceVersion after the last write
 * is kept for the status write's precondition.
 */
export class PlacementRecord {
  readonly #hub: KubeClient;
  readonly #cluster: RealtimeCluster;
  #placements: Placement[];
  #resourceVersion: string | undefined;
  #writes: Promise<void> = Promise.resolve();
  /** Placements asked for since the queued write (#batch) last took them. */
  readonly #wanted: Placement[] = [];
  #batch: Promise<void> | undefined;

  constructor(hub: KubeClient, cluster: RealtimeCluster) {
    this.#hub = hub;
    this.#cluster = cluster;
    this.#placements = recordedPlacements(cluster).placements;
    this.#resourceVersion = cluster.metadata.resourceVersion;
  }

  get placements(): Placement[] {
    return this.#placements;
  }

  get resourceVersion(): string | undefined {
    return this.#resourceVersion;
  }

  /**
   * Records `placement` unless it is already recorded; resolves once the record is written.
   * Regions that ask while a write is in flight or queued share the next write: at 20 regions a
   * first pass costs two or three annotation writes, not twenty in a row (each region waiting
   * for those before it).
   */
  ensure(placement: Placement): Promise<void> {
    this.#wanted.push(placement);
    this.#batch ??= this.update((current) => {
      const wanted = this.#wanted.splice(0);
      this.#batch = undefined;
      return mergePlacements(current, wanted);
    });
    return this.#batch;
  }

  /** Changes the record (one write, serialized with the others, only if it differs). */
  update(next: (current: Placement[]) => Placement[]): Promise<void> {
    const write = this.#writes.then(async () => {
      const placements = next(this.#placements);
      if (samePlacements(placements, this.#placements)) return;
      const written = await writePlacements(this.#hub, this.#cluster, placements);
      this.#placements = mergePlacements(placements);
      this.#resourceVersion = written.metadata.resourceVersion;
    });
    // A failed write fails its caller; the chain goes on for the next one.
    this.#writes = write.catch(() => undefined);
    return write;
  }
}
