/**
 * In-memory storage: objects per bucket (group/plural), one global resourceVersion counter, and
 * a bounded log of change events for watches that resume from a resourceVersion.
 *
 * Stored objects are deeply frozen, so reads hand them out without copying and nobody can
 * change them behind the store's back; writers copy (structuredClone) and put a new object.
 */
import type { KubeObject } from './registry.ts';
import { deepFreeze } from '../../lib/deep-freeze.ts';

export type ChangeType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface ChangeEvent {
  rv: number;
  type: ChangeType;
  bucket: string;
  object: KubeObject;
  /** The object before a MODIFIED change (selector transitions need it). */
  previous?: KubeObject;
}

export interface Subscriber {
  bucket: string;
  deliver(event: ChangeEvent): void;
}

function keyOf(namespace: string | undefined, name: string): string {
  return `${namespace ?? ''}/${name}`;
}

export class Store {
  private rv = 0;
  private readonly buckets = new Map<string, Map<string, KubeObject>>();
  private readonly log: ChangeEvent[] = [];
  /** Events at or below this resourceVersion have been dropped from the log. */
  private compactedRv = 0;
  private readonly subscribers = new Map<string, Set<Subscriber>>();
  private readonly historyLimit: number;

  constructor(historyLimit: number) {
    this.historyLimit = historyLimit;
  }

  currentRv(): number {
    return this.rv;
  }

  oldestWatchableRv(): number {
    return this.compactedRv;
  }

  get(bucket: string, namespace: string | undefined, name: string): KubeObject | undefined {
    return this.buckets.get(bucket)?.get(keyOf(namespace, name));
  }

  /** Objects of a bucket (optionally one namespace), ordered by namespace/name as etcd keys are. */
  list(bucket: string, namespace?: string): KubeObject[] {
    const objects = this.buckets.get(bucket);
    if (!objects) return [];
    const prefix = namespace !== undefined ? `${namespace}/` : '';
    const keys = [...objects.keys()].filter((k) => k.startsWith(prefix)).sort();
    return keys.map((k) => objects.get(k)!);
  }

  /** Every stored object with its bucket (for snapshots). */
  entries(): Array<{ bucket: string; object: KubeObject }> {
    return [...this.buckets].flatMap(([bucket, objects]) => [...objects.values()].map((object) => ({ bucket, object })));
  }

  count(bucket: string): number {
    return this.buckets.get(bucket)?.size ?? 0;
  }

  /** Stores a new object: assigns the next resourceVersion, freezes it, emits ADDED. */
  create(bucket: string, object: KubeObject): KubeObject {
    return this.put(bucket, object, 'ADDED');
  }

  /** Replaces an existing object: next resourceVersion, emits MODIFIED. */
  update(bucket: string, object: KubeObject): KubeObject {
    return this.put(bucket, object, 'MODIFIED');
  }

  /** Removes an object; the DELETED event carries a fresh resourceVersion, as etcd's delete does. */
  remove(bucket: string, namespace: string | undefined, name: string): KubeObject | undefined {
    const objects = this.buckets.get(bucket);
    const key = keyOf(namespace, name);
    const existing = objects?.get(key);
    if (!objects || !existing) return undefined;
    objects.delete(key);
    const rv = ++this.rv;
    const gone = deepFreeze({ ...existing, metadata: { ...existing.metadata, resourceVersion: String(rv) } });
    this.emit({ rv, type: 'DELETED', bucket, object: gone });
    return gone;
  }

  /**
   * Events of a bucket after `rv`, or 'expired' when some of them were already dropped.
   */
  eventsSince(bucket: string, rv: number): ChangeEvent[] | 'expired' {
    if (rv < this.compactedRv) return 'expired';
    return this.log.filter((e) => e.rv > rv && e.bucket === bucket);
  }

  subscribe(subscriber: Subscriber): () => void {
    const set = this.subscribers.get(subscriber.bucket) ?? new Set();
    set.add(subscriber);
    this.subscribers.set(subscriber.bucket, set);
    return () => set.delete(subscriber);
  }

  subscriberCount(): number {
    let n = 0;
    for (const set of this.subscribers.values()) n += set.size;
    return n;
  }

  private put(bucket: string, object: KubeObject, type: 'ADDED' | 'MODIFIED'): KubeObject {
    let objects = this.buckets.get(bucket);
    if (!objects) {
      objects = new Map();
      this.buckets.set(bucket, objects);
    }
    const key = keyOf(object.metadata.namespace, object.metadata.name);
    const previous = objects.get(key);
    const rv = ++this.rv;
    object.metadata.resourceVersion = String(rv);
    const stored = deepFreeze(object);
    objects.set(key, stored);
    this.emit({ rv, type, bucket, object: stored, previous });
    return stored;
  }

  private emit(event: ChangeEvent): void {
    this.log.push(event);
    while (this.log.length > this.historyLimit) this.compactedRv = this.log.shift()!.rv;
    for (const subscriber of this.subscribers.get(event.bucket) ?? []) subscriber.deliver(event);
  }
}
