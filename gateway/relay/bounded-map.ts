/**
 * A Map that keeps at most `max` entries, forgetting the least recently set or read one: the
 * relay's per-room memories (last relayed message, receive lanes) are caches, so forgetting
 * costs at most a history read, and a client cannot make the server hold rooms without bound.
 */
export class BoundedMap<K, V> {
  private readonly max: number;
  private readonly map = new Map<K, V>();

  constructor(max: number) {
    this.max = max;
  }

  get size(): number {
    return this.map.size;
  }

  get(key: K): V | undefined {
    const value = this.map.get(key);
    if (value !== undefined) {
      this.map.delete(key);
      this.map.set(key, value);
    }
    return value;
  }

  /** Sets the value; evicts the oldest entries that `evictable` allows (all by default) beyond `max`. */
  set(key: K, value: V, evictable: (value: V) => boolean = () => true): void {
    this.map.delete(key);
    this.map.set(key, value);
    if (this.map.size <= this.max) return;
    for (const [oldKey, oldValue] of this.map) {
      if (this.map.size <= this.max) break;
      if (oldKey !== key && evictable(oldValue)) this.map.delete(oldKey);
    }
  }

  delete(key: K): void {
    this.map.delete(key);
  }

  /** Most recently used last. */
  entries(): IterableIterator<[K, V]> {
    return this.map.entries();
  }
}
