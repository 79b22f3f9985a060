/**
 * Garbage collection and namespace cleanup, as kube-controller-manager does them:
 * - a dependent whose owners are all gone is deleted (background propagation), whether the owner
 *   went before or after the dependent was written: every object written with ownerReferences is
 *   checked, so one created after its only owner was deleted is collected too;
 * - an owner is looked up by its reference's kind, name and namespace and must carry the
 *   reference's uid (a recreated owner of the same name does not count);
 * - an owner deleted with propagationPolicy=Foreground keeps its `foregroundDeletion` finalizer
 *   until its blocking dependents (blockOwnerDeletion) are gone; with Orphan, dependents lose
 *   the ownerReference;
 * - a terminating namespace is emptied, then removed.
 * Deletions trigger one coalesced full pass (O(n)); writes of owned objects are checked one by one.
 */
import { bucketOf, type KubeObject, type Registry, type ResourceType } from '../registry.ts';
import type { Resources } from '../resources.ts';
import type { ChangeEvent, Store } from '../store.ts';

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
  private fullPassWanted = false;
  /** Objects written with ownerReferences since the last pass: bucket, namespace, name. */
  private readonly toVerify = new Map<string, { bucket: string; namespace?: string; name: string }>();
  private readonly watchedBuckets = new Set<string>();
  private stopped = false;
  private retryTimer: NodeJS.Timeout | undefined;

  constructor(deps: { registry: Registry; store: Store; resources: Resources; onError: (error: unknown) => void }, options: GcOptions) {
    this.registry = deps.registry;
    this.store = deps.store;
    this.resources = deps.resources;
    this.onError = deps.onError;
    this.options = options;
    this.watchBuckets();
    this.registry.onChange(() => this.watchBuckets());
  }

  /** Asks for a full pass soon (after a deletion); many requests in one tick make one pass. */
  schedule(): void {
    this.fullPassWanted = true;
    this.kick();
  }

  private kick(): void {
    if (this.scheduled || this.stopped) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      if (this.stopped) return;
      const full = this.fullPassWanted;
      const objects = [...this.toVerify.values()];
      this.fullPassWanted = false;
      this.toVerify.clear();
      try {
        if (full) this.pass();
        else this.verify(objects);
      } catch (error) {
        this.onError(error);
        this.retryTimer = setTimeout(() => this.schedule(), this.options.retryDelayMs);
      }
    });
  }

  /** Every bucket, including those CRDs add later: owned objects are checked when written. */
  private watchBuckets(): void {
    for (const type of this.registry.all()) {
      const bucket = bucketOf(type);
      if (this.watchedBuckets.has(bucket)) continue;
      this.watchedBuckets.add(bucket);
      this.store.subscribe({ bucket, deliver: (event) => this.written(event) });
    }
  }

  private written(event: ChangeEvent): void {
    if (event.type === 'DELETED' || !event.object.metadata.ownerReferences?.length) return;
    const refsBefore = event.previous?.metadata.ownerReferences;
    if (event.type === 'MODIFIED' && JSON.stringify(refsBefore) === JSON.stringify(event.object.metadata.ownerReferences)) return;
    const { namespace, name } = event.object.metadata;
    this.toVerify.set(`${event.bucket}\u0000${namespace ?? ''}\u0000${name}`, { bucket: event.bucket, namespace, name });
    this.kick();
  }

  /**
   * 'alive' when the owner exists with the reference's uid, 'absent' when it does not, 'unknown'
   * when the reference names a kind this server does not serve (then nothing is decided, as the
   * upstream collector cannot resolve it either).
   */
  private ownerState(ref: KubeObject, namespace: string | undefined): { state: 'alive' | 'absent' | 'unknown'; owner?: KubeObject } {
    const type = this.registry.findKind(ref.apiVersion ?? '', ref.kind ?? '');
    if (!type) return { state: 'unknown' };
    const owner = this.store.get(bucketOf(type), type.namespaced ? namespace : undefined, ref.name);
    return owner && owner.metadata.uid === ref.uid ? { state: 'alive', owner } : { state: 'absent' };
  }

  /** Checks the owners of objects just written; an owner being deleted in the foreground needs the full pass. */
  private verify(objects: Array<{ bucket: string; namespace?: string; name: string }>): void {
    const types = this.typesByBucket();
    for (const { bucket, namespace, name } of objects) {
      const type = types.get(bucket);
      const obj = this.store.get(bucket, namespace, name);
      if (!type || !obj) continue;
      const refs: KubeObject[] = obj.metadata.ownerReferences ?? [];
      const states = refs.map((r) => this.ownerState(r, namespace));
      if (states.some((s) => s.owner?.metadata.deletionTimestamp)) {
        this.schedule();
        continue;
      }
      const keep = refs.filter((_, i) => states[i].state !== 'absent');
      if (keep.length === refs.length) continue;
      if (keep.length === 0) this.delete(type, obj, 'Background');
      else {
        this.update(type, obj, (next) => {
          next.metadata.ownerReferences = keep;
        });
      }
    }
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
      const live = refs.filter((r) => this.ownerState(r, obj.metadata.namespace).state !== 'absent' && byUid.has(r.uid));
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
        // Only blocking dependents hold a foreground deletion back.
        if (ref.blockOwnerDeletion) dependentsOf.set(ref.uid, (dependentsOf.get(ref.uid) ?? 0) + 1);
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
