/**
 * Garbage collection and namespace cleanup, as kube-controller-manager does them:
 * - a dependent whose owners are all gone is deleted (background propagation);
 * - an owner deleted with propagationPolicy=Foreground keeps its `foregroundDeletion`
 *   finalizer until its dependents are gone; with Orphan, dependents lose the ownerReference;
 * - a terminating namespace is emptied, then removed.
 * Runs as one coalesced pass after any deletion; each pass scans all objects (O(n)).
 */
import { bucketOf, type KubeObject, type Registry, type ResourceType } from '../registry.ts';
import type { Resources } from '../resources.ts';
import type { Store } from '../store.ts';

export interface GcOptions {
  /** Delay before retrying a pass that failed. */
  retryDelayMs: number;
}

export class GarbageCollector {
  private readonly registry: Registry;
  private readonly store: Store;
  private readonly resources: Resources;
  private readonly onError: (error: unknown) => void;
  private readonly options: GcOptions;
  private scheduled = false;
  private stopped = false;
  private retryTimer: NodeJS.Timeout | undefined;

  constructor(deps: { registry: Registry; store: Store; resources: Resources; onError: (error: unknown) => void }, options: GcOptions) {
    this.registry = deps.registry;
    this.store = deps.store;
    this.resources = deps.resources;
    this.onError = deps.onError;
    this.options = options;
  }

  /** Asks for a pass soon; many requests in one tick make one pass. */
  schedule(): void {
    if (this.scheduled || this.stopped) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      if (this.stopped) return;
      try {
        this.pass();
      } catch (error) {
        this.onError(error);
        this.retryTimer = setTimeout(() => this.schedule(), this.options.retryDelayMs);
      }
    });
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.retryTimer);
  }

  /** One type per bucket (the storage version), for deletes and updates. */
  private typesByBucket(): Map<string, ResourceType> {
    const types = new Map<string, ResourceType>();
    for (const type of this.registry.all()) {
      const bucket = bucketOf(type);
      if (!types.has(bucket) || type.version === type.storageVersion) types.set(bucket, type);
    }
    return types;
  }

  private pass(): void {
    const types = this.typesByBucket();
    const all: Array<{ type: ResourceType; obj: KubeObject }> = [];
    const byUid = new Map<string, KubeObject>();
    for (const [bucket, type] of types) {
      for (const obj of this.store.list(bucket)) {
        all.push({ type, obj });
        byUid.set(obj.metadata.uid, obj);
      }
    }
    const dependentsOf = new Map<string, number>();
    for (const { type, obj } of all) {
      const refs: KubeObject[] = obj.metadata.ownerReferences ?? [];
      if (refs.length === 0) continue;
      const live = refs.filter((r) => byUid.has(r.uid));
      if (live.length === 0) {
        this.delete(type, obj, 'Background');
        continue;
      }
      const orphaning = live.filter((r) => byUid.get(r.uid)!.metadata.finalizers?.includes('orphan'));
      if (orphaning.length > 0 || live.length < refs.length) {
        const keep = live.filter((r) => !orphaning.includes(r));
        this.update(type, obj, (next) => {
          if (keep.length) next.metadata.ownerReferences = keep;
          else delete next.metadata.ownerReferences;
        });
        if (keep.length === 0) continue;
      }
      for (const ref of live) {
        const owner = byUid.get(ref.uid)!;
        dependentsOf.set(ref.uid, (dependentsOf.get(ref.uid) ?? 0) + 1);
        if (owner.metadata.finalizers?.includes('foregroundDeletion')) this.delete(type, obj, 'Foreground');
      }
    }
    for (const { type, obj } of all) {
      const finalizers: string[] = obj.metadata.finalizers ?? [];
      if (!obj.metadata.deletionTimestamp) continue;
      if (finalizers.includes('orphan') || (finalizers.includes('foregroundDeletion') && !dependentsOf.get(obj.metadata.uid))) {
        this.update(type, obj, (next) => {
          next.metadata.finalizers = finalizers.filter((f) => f !== 'orphan' && f !== 'foregroundDeletion');
        });
      }
      if (type.kind === 'Namespace' && type.group === '') this.drainNamespace(types, obj, type);
    }
  }

  private drainNamespace(types: Map<string, ResourceType>, namespace: KubeObject, nsType: ResourceType): void {
    let remaining = 0;
    for (const [bucket, type] of types) {
      if (!type.namespaced) continue;
      for (const obj of this.store.list(bucket, namespace.metadata.name)) {
        remaining++;
        if (!obj.metadata.deletionTimestamp) this.delete(type, obj, 'Background');
      }
    }
    if (remaining === 0 && namespace.spec?.finalizers?.length) {
      this.update(nsType, namespace, (next) => {
        next.spec.finalizers = [];
      });
    }
  }

  private delete(type: ResourceType, obj: KubeObject, propagationPolicy: 'Background' | 'Foreground'): void {
    if (obj.metadata.deletionTimestamp && propagationPolicy === 'Background') return;
    if (!this.store.get(bucketOf(type), obj.metadata.namespace, obj.metadata.name)) return;
    this.resources.delete(type, obj.metadata.namespace, obj.metadata.name, { propagationPolicy, preconditions: { uid: obj.metadata.uid } });
  }

  private update(type: ResourceType, obj: KubeObject, change: (next: KubeObject) => void): void {
    const live = this.store.get(bucketOf(type), obj.metadata.namespace, obj.metadata.name);
    if (!live) return;
    const next = structuredClone(live) as KubeObject;
    change(next);
    this.resources.commit(type, live, next, { fieldManager: 'garbage-collector' });
  }
}
