/**
 * The state behind the memory engine: what Redis holds for the Redis engine. One backend can be
 * shared by several MemoryEngine instances, which then behave like gateway pods on one Redis
 * (tests use this to check cross-pod behaviour in one process).
 *
 * Time is injected (`now`), so TTLs can be tested without sleeping. Expired rooms are also
 * dropped by a timer (`sweepIntervalMs`), so an idle process does not keep them, and the bytes
 * of all retained publications are bounded (`maxRetainedBytes`).
 */
import { EngineInputError, newEpoch } from './common.ts';
import { EngineFullError, MAX_OFFSET, type HistoryPage, type HistoryReadOptions, type Member, type Publication, type PublishResult, type RoomEvent, type StreamPosition } from './types.ts';

interface StoredPublication {
  pub: Publication;
  /** Its size as counted against `maxRetainedBytes` and `maxReadBytes`. */
  bytes: number;
}

interface RoomStream {
  epoch: string;
  top: number;
  /** Oldest first, at most `historySize`. */
  entries: StoredPublication[];
  /** Sum of the entries' bytes. */
  bytes: number;
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
  /** Expired rooms (history and presence) are dropped by a timer this often, traffic or not. */
  sweepIntervalMs?: number;
  /** Most bytes of publications kept over all rooms; a publish past it fails with EngineFullError. */
  maxRetainedBytes?: number;
  /** The largest offset before a room starts a new epoch; only tests lower it. */
  maxOffset?: number;
}

export const defaultMemoryBackendOptions = Object.freeze({
  sweepIntervalMs: 10_000,
  maxRetainedBytes: 256 * 1024 * 1024,
  maxOffset: MAX_OFFSET,
});

function positiveInteger(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value <= 0) throw new EngineInputError(`memory backend option ${name} must be a positive integer, got ${String(value)}`);
  return value;
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
  readonly #sweepIntervalMs: number;
  readonly #maxRetainedBytes: number;
  readonly #maxOffset: number;
  /** Runs while at least one engine is attached. */
  #sweepTimer: NodeJS.Timeout | undefined;
  #retainedBytes = 0;

  constructor(options: MemoryBackendOptions = {}) {
    this.now = options.now ?? Date.now;
    this.#sweepIntervalMs = positiveInteger('sweepIntervalMs', options.sweepIntervalMs ?? defaultMemoryBackendOptions.sweepIntervalMs);
    this.#maxRetainedBytes = positiveInteger('maxRetainedBytes', options.maxRetainedBytes ?? defaultMemoryBackendOptions.maxRetainedBytes);
    this.#maxOffset = positiveInteger('maxOffset', options.maxOffset ?? defaultMemoryBackendOptions.maxOffset);
  }

  /** Bytes of publications held over all rooms (bounded by `maxRetainedBytes`). */
  get retainedBytes(): number {
    return this.#retainedBytes;
  }

  /** True while the sweep timer runs (an engine is attached). */
  get sweeping(): boolean {
    return this.#sweepTimer !== undefined;
  }

  /** Rooms with a history stream held, expired or not (for tests and metrics). */
  get streamCount(): number {
    return this.#streams.size;
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

  /** The sweep timer runs while any engine is attached (unref'd: it never keeps a process alive). */
  attach(node: MemoryNode): void {
    this.#nodes.add(node);
    this.#sweepTimer ??= setInterval(() => this.sweep(), this.#sweepIntervalMs).unref();
  }

  detach(node: MemoryNode): void {
    this.#nodes.delete(node);
    if (this.#nodes.size > 0) return;
    clearInterval(this.#sweepTimer);
    this.#sweepTimer = undefined;
  }

  /** Drops expired rooms (history and presence) and idempotency results; the timer calls it. */
  sweep(): void {
    const now = this.now();
    this.#sweepResults(now);
    for (const [room, stream] of this.#streams) {
      if (stream.expiresAt <= now) this.#dropStream(room, stream);
    }
    for (const room of [...this.#presence.keys()]) this.#liveMembers(room);
  }

  #dropStream(room: string, stream: RoomStream): void {
    this.#streams.delete(room);
    this.#retainedBytes -= stream.bytes;
  }

  /** The live stream of a room, creating an empty one with a new epoch if it has none or it expired. */
  #stream(room: string, ttlMs: number): RoomStream {
    const now = this.now();
    let stream = this.#streams.get(room);
    if (!stream || stream.expiresAt <= now) {
      if (stream) this.#dropStream(room, stream);
      stream = { epoch: newEpoch(), top: 0, entries: [], bytes: 0, expiresAt: now + ttlMs };
      this.#streams.set(room, stream);
    }
    return stream;
  }

  position(room: string, ttlMs: number): StreamPosition {
    const stream = this.#stream(room, ttlMs);
    return { epoch: stream.epoch, offset: stream.top };
  }

  /** A history page, as `History.read` defines it, of at most `maxReadBytes` (and one publication at least). */
  read(room: string, ttlMs: number, options: HistoryReadOptions, maxReadBytes: number): HistoryPage {
    const stream = this.#stream(room, ttlMs);
    const all = stream.entries;
    let chosen: StoredPublication[];
    if (options.since === undefined) {
      chosen = options.limit === 0 ? [] : all.slice(-options.limit);
    } else {
      const since = options.since;
      const first = all.findIndex((e) => e.pub.offset > since);
      chosen = first === -1 ? [] : all.slice(first, first + options.limit);
    }
    // Newest first without `since` (the newest are the ones asked for), oldest first with it.
    const ordered = options.since === undefined ? chosen.reverse() : chosen;
    let bytes = 0;
    let kept = 0;
    while (kept < ordered.length && (kept === 0 || bytes + ordered[kept].bytes <= maxReadBytes)) bytes += ordered[kept++].bytes;
    const page = ordered.slice(0, kept);
    if (options.since === undefined) page.reverse();
    return { epoch: stream.epoch, offset: stream.top, publications: page.map((e) => e.pub), truncated: kept < ordered.length };
  }

  #sweepResults(now: number): void {
    for (const [key, stored] of this.#results) {
      if (stored.expiresAt > now) break;
      this.#results.delete(key);
    }
  }

  /**
   * Stores and broadcasts in one step (the Redis Lua script does the same atomically).
   * `build` turns the assigned position into the publication. Without `dedupe` (a fresh mid)
   * the mid is neither looked up nor remembered.
   */
  publish(
    room: string,
    mid: string,
    dedupe: boolean,
    bytes: number,
    limits: { historySize: number; historyTtlMs: number; idempotencyTtlMs: number },
    build: (position: StreamPosition) => Publication,
  ): PublishResult {
    const now = this.now();
    this.#sweepResults(now);
    const resultKey = `${room}\n${mid}`;
    const previous = dedupe ? this.#results.get(resultKey) : undefined;
    if (previous && previous.expiresAt > now) return { epoch: previous.epoch, offset: previous.offset, duplicate: true };
    if (this.#retainedBytes + bytes > this.#maxRetainedBytes) {
      this.sweep();
      if (this.#retainedBytes + bytes > this.#maxRetainedBytes) {
        throw new EngineFullError(`retained history is at maxRetainedBytes (${this.#maxRetainedBytes}): nothing was stored`);
      }
    }

    let stream = this.#stream(room, limits.historyTtlMs);
    if (stream.top >= this.#maxOffset) {
      // Every offset a client can hold exactly is used: continue in a new epoch, as Redis does.
      this.#dropStream(room, stream);
      stream = this.#stream(room, limits.historyTtlMs);
    }
    stream.top += 1;
    stream.expiresAt = now + limits.historyTtlMs;
    const pub = build({ epoch: stream.epoch, offset: stream.top });
    stream.entries.push({ pub, bytes });
    stream.bytes += bytes;
    this.#retainedBytes += bytes;
    const excess = stream.entries.length - limits.historySize;
    if (excess > 0) {
      for (const dropped of stream.entries.splice(0, excess)) {
        stream.bytes -= dropped.bytes;
        this.#retainedBytes -= dropped.bytes;
      }
    }

    if (dedupe) {
      this.#results.delete(resultKey);
      this.#results.set(resultKey, { epoch: stream.epoch, offset: stream.top, expiresAt: now + limits.idempotencyTtlMs });
    }
    this.#broadcast(room, { kind: 'publication', pub });
    return { epoch: stream.epoch, offset: stream.top, duplicate: false };
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
