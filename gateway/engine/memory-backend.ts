/**
 * The state behind the memory engine: what Redis holds for the Redis engine. One backend can be
 * shared by several MemoryEngine instances, which then behave like gateway pods on one Redis
 * (tests use this to check cross-pod behaviour in one process).
 *
 * Time is injected (`now`), so TTLs can be tested without sleeping.
 */
import { newEpoch } from './common.ts';
import type { Member, Publication, PublishResult, RoomEvent, StreamPosition } from './types.ts';

interface RoomStream {
  epoch: string;
  top: number;
  /** Oldest first, at most `historySize`. */
  publications: Publication[];
  /** The stream and its epoch vanish at this time unless a publish extends it. */
  expiresAt: number;
}

interface StoredResult {
  epoch: string;
  offset: number;
  expiresAt: number;
}

interface PresenceEntry {
  member: Member;
  expiresAt: number;
}

/** What the backend delivers to a subscribed node (one engine instance). */
export type Delivery = { kind: 'publication'; pub: Publication } | { kind: 'event'; room: string; event: RoomEvent };

/** A subscriber attached to the backend; MemoryEngine implements it. */
export interface MemoryNode {
  isSubscribed(room: string): boolean;
  deliver(delivery: Delivery): void;
  /** The backend became reachable again after `setAvailable(false)`. */
  backendRestored(): void;
  /** The backend went away (`setAvailable(false)`). */
  backendLost(): void;
}

export interface MemoryBackendOptions {
  /** Milliseconds since the Unix epoch; defaults to Date.now. */
  now?: () => number;
  /** Expired rooms (history and presence) are dropped once per this many publishes. */
  sweepEveryPublishes?: number;
}

export class MemoryBackend {
  readonly now: () => number;
  #available = true;
  readonly #streams = new Map<string, RoomStream>();
  /**
   * Publish results by room and mid. Every entry lives the same TTL from its insertion, so Map
   * insertion order is expiry order per TTL and expired entries are swept from the front.
   */
  readonly #results = new Map<string, StoredResult>();
  readonly #presence = new Map<string, Map<string, PresenceEntry>>();
  readonly #nodes = new Set<MemoryNode>();
  readonly #sweepEveryPublishes: number;
  #publishesSinceSweep = 0;

  constructor(options: MemoryBackendOptions = {}) {
    this.now = options.now ?? Date.now;
    this.#sweepEveryPublishes = options.sweepEveryPublishes ?? 4096;
  }

  get available(): boolean {
    return this.#available;
  }

  /**
   * Fault injection for tests: while unavailable every engine call rejects with
   * EngineUnavailableError and nothing is delivered; on return every node is told to resync.
   */
  setAvailable(available: boolean): void {
    if (available === this.#available) return;
    this.#available = available;
    for (const node of [...this.#nodes]) {
      if (available) node.backendRestored();
      else node.backendLost();
    }
  }

  attach(node: MemoryNode): void {
    this.#nodes.add(node);
  }

  detach(node: MemoryNode): void {
    this.#nodes.delete(node);
  }

  /** The live stream of a room, creating an empty one with a new epoch if it has none or it expired. */
  #stream(room: string, ttlMs: number): RoomStream {
    const now = this.now();
    let stream = this.#streams.get(room);
    if (!stream || stream.expiresAt <= now) {
      stream = { epoch: newEpoch(), top: 0, publications: [], expiresAt: now + ttlMs };
      this.#streams.set(room, stream);
    }
    return stream;
  }

  position(room: string, ttlMs: number): StreamPosition {
    const stream = this.#stream(room, ttlMs);
    return { epoch: stream.epoch, offset: stream.top };
  }

  /** The stream's current state; `publications` is the live array: slice it, never modify it. */
  read(room: string, ttlMs: number): StreamPosition & { publications: Publication[] } {
    const stream = this.#stream(room, ttlMs);
    return { epoch: stream.epoch, offset: stream.top, publications: stream.publications };
  }

  #sweepResults(now: number): void {
    for (const [key, stored] of this.#results) {
      if (stored.expiresAt > now) break;
      this.#results.delete(key);
    }
  }

  /**
   * Stores and broadcasts in one step (the Redis Lua script does the same atomically).
   * `build` turns the assigned position into the publication.
   */
  publish(
    room: string,
    mid: string,
    limits: { historySize: number; historyTtlMs: number; idempotencyTtlMs: number },
    build: (position: StreamPosition) => Publication,
  ): PublishResult {
    const now = this.now();
    this.#sweepResults(now);
    if (++this.#publishesSinceSweep >= this.#sweepEveryPublishes) this.#sweepRooms(now);
    const resultKey = `${room}\n${mid}`;
    const previous = this.#results.get(resultKey);
    if (previous && previous.expiresAt > now) return { epoch: previous.epoch, offset: previous.offset, duplicate: true };

    const stream = this.#stream(room, limits.historyTtlMs);
    stream.top += 1;
    stream.expiresAt = now + limits.historyTtlMs;
    const pub = build({ epoch: stream.epoch, offset: stream.top });
    stream.publications.push(pub);
    const excess = stream.publications.length - limits.historySize;
    if (excess > 0) stream.publications.splice(0, excess);

    this.#results.delete(resultKey);
    this.#results.set(resultKey, { epoch: stream.epoch, offset: stream.top, expiresAt: now + limits.idempotencyTtlMs });
    this.#broadcast(room, { kind: 'publication', pub });
    return { epoch: stream.epoch, offset: stream.top, duplicate: false };
  }

  /** Rooms nobody touched since they expired would otherwise stay in memory forever. */
  #sweepRooms(now: number): void {
    this.#publishesSinceSweep = 0;
    for (const [room, stream] of this.#streams) {
      if (stream.expiresAt <= now) this.#streams.delete(room);
    }
    for (const room of [...this.#presence.keys()]) this.#liveMembers(room);
  }

  publishEvent(room: string, event: RoomEvent): void {
    this.#broadcast(room, { kind: 'event', room, event });
  }

  #broadcast(room: string, delivery: Delivery): void {
    for (const node of this.#nodes) {
      if (node.isSubscribed(room)) node.deliver(delivery);
    }
  }

  #liveMembers(room: string): Map<string, PresenceEntry> | undefined {
    const entries = this.#presence.get(room);
    if (!entries) return undefined;
    const now = this.now();
    for (const [client, entry] of entries) {
      if (entry.expiresAt <= now) entries.delete(client);
    }
    if (entries.size === 0) {
      this.#presence.delete(room);
      return undefined;
    }
    return entries;
  }

  presenceAdd(room: string, member: Member, ttlMs: number): void {
    let entries = this.#presence.get(room);
    if (!entries) {
      entries = new Map();
      this.#presence.set(room, entries);
    }
    entries.set(member.client, { member: { ...member }, expiresAt: this.now() + ttlMs });
  }

  presenceRemove(room: string, client: string): void {
    const entries = this.#presence.get(room);
    if (!entries) return;
    entries.delete(client);
    if (entries.size === 0) this.#presence.delete(room);
  }

  presenceList(room: string): Member[] {
    const entries = this.#liveMembers(room);
    return entries ? [...entries.values()].map((e) => ({ ...e.member })) : [];
  }
}
