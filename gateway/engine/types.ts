/**
 * The engine seam: how a gateway pod shares rooms with the other pods of its region.
 *
 * Three interfaces, one implementation of each per backend (memory, redis), and one
 * contract suite (test/engine-contract.ts) that every backend passes unchanged.
 *
 * Guarantees every backend gives:
 * - Offsets in a room start at 1 and grow by exactly one per stored publication.
 * - `publish` stores and broadcasts atomically: a publication a subscriber receives is in
 *   history under the same (epoch, offset), and one in history was broadcast.
 * - `publish` is idempotent by `mid` for `idempotencyTtlMs`: a retried publish returns the
 *   first result with `duplicate: true` and is not broadcast again (except for a `freshMid`,
 *   which the gateway made for one publish and which therefore cannot be retried).
 * - Publications of one room reach `EngineHandlers.publication` in offset order, at most once;
 *   a live delivery can be lost (pub/sub is at most once), which the caller detects as an offset
 *   jump and repairs from `History.read`.
 * - `epoch` changes when a room's history was lost (expired or evicted meta): offsets from an
 *   older epoch can no longer be recovered.
 * - When the backend cannot be reached, calls reject with `EngineUnavailableError` at once
 *   (after at most `commandTimeoutMs`), never hang and never drop silently.
 * - When the backend's storage is full, a publish rejects with `EngineFullError` and nothing is
 *   stored; no stored data is ever deleted because the backend reported an error.
 * - Offsets never exceed `MAX_OFFSET`: a room that reaches it starts a new epoch.
 */

import type { Tallies } from './tally.ts';
/**
 * The largest offset (2^53 - 1): numbers are doubles in JavaScript and in Redis's Lua, exact up
 * to here. A room whose offset reaches it continues in a new epoch at offset 1, as after a
 * history expiry (at one publish per microsecond that takes 285 years).
 */
export const MAX_OFFSET = Number.MAX_SAFE_INTEGER;

export interface Sender {
  user: string;
  client: string;
}

export interface Publication {
  room: string;
  epoch: string;
  offset: number;
  /** Message id: unique per message, the idempotency and de-duplication key. */
  mid: string;
  /** Any JSON value, as the publisher sent it. */
  data: unknown;
  /** Absent for server-API publishes. */
  from?: Sender;
  /** Region where the message was first published. */
  region: string;
  /** Milliseconds since the Unix epoch at the first publish. */
  ts: number;
}

export type PublishInput = Omit<Publication, 'epoch' | 'offset'> & {
  /**
   * The gateway made `mid` for this very publish (the client sent none), so it cannot be a
   * retry: the engine neither looks it up nor remembers it, which spares the backend the
   * idempotency work. Only a mid a client chose can come back, and only that one is deduplicated.
   */
  freshMid?: boolean;
};

export interface PublishResult {
  epoch: string;
  offset: number;
  /** True when `mid` was already published: nothing was stored or broadcast this time. */
  duplicate: boolean;
}

export interface StreamPosition {
  epoch: string;
  /** Offset of the newest publication; 0 for a room with no publications yet. */
  offset: number;
}

export interface Member {
  user: string;
  client: string;
  region: string;
  /** Optional display name from the token. */
  name?: string;
}

export type RoomEvent =
  | { type: 'join'; member: Member }
  | { type: 'leave'; member: Member };

export interface EngineHandlers {
  /** A publication for a room this pod subscribed to, in offset order per room. */
  publication(pub: Publication): void;
  /** A presence change in a room this pod subscribed to (not stored, at most once). */
  roomEvent(room: string, event: RoomEvent): void;
  /**
   * The engine lost its live feed and got it back (e.g. Redis reconnected) for these rooms:
   * anything may have been missed, so positions must be checked against history.
   */
  resynced(rooms: readonly string[]): void;
}

export interface Broker {
  /** Store in the room's history and broadcast to every pod subscribed to the room. */
  publish(input: PublishInput): Promise<PublishResult>;
  /** Broadcast a presence event to every pod subscribed to the room; not stored. */
  publishEvent(room: string, event: RoomEvent): Promise<void>;
  /** Start receiving the rooms' publications and events. Idempotent; batched by the backend. */
  subscribe(rooms: readonly string[]): Promise<void>;
  /** Stop receiving the rooms. Idempotent. */
  unsubscribe(rooms: readonly string[]): Promise<void>;
}

export interface HistoryReadOptions {
  /** Return publications with offset > since (default: the newest `limit`). */
  since?: number;
  /** At most this many publications, oldest first. */
  limit: number;
  /**
   * At most about this many bytes of stored publications (their JSON `data` and fields): the
   * read stops before the publication that would pass it, but always returns one when there is
   * one. Bounds what one read pulls from the backend, whatever `limit` asks for. Absent: no cap.
   */
  maxBytes?: number;
}

export interface HistoryPage extends StreamPosition {
  /** Oldest first. When `since` was given, the first one has the lowest offset > since still kept. */
  publications: Publication[];
  /**
   * True when the read stopped at `maxReadBytes` before `limit` publications: more are kept.
   * With `since`, read on from the last offset returned; without, the oldest ones were left out.
   */
  truncated: boolean;
}

export interface History {
  read(room: string, options: HistoryReadOptions): Promise<HistoryPage>;
  /** The room's current epoch and top offset; creates the epoch when the room has none. */
  position(room: string): Promise<StreamPosition>;
}

export interface PresenceStats {
  clients: number;
  users: number;
}

export interface Presence {
  /** Add or refresh a member; it expires after `presenceTtlMs` unless refreshed. */
  add(room: string, member: Member): Promise<void>;
  remove(room: string, client: string): Promise<void>;
  /** Live members only: expired entries are removed on read. */
  list(room: string): Promise<Member[]>;
  stats(room: string): Promise<PresenceStats>;
  /** Live clients in the room, without reading the members (Redis: O(log n)); `stats().clients`. */
  count(room: string): Promise<number>;
}

export interface EngineOptions {
  /** Publications kept per room. */
  historySize: number;
  /** A room's history (and its epoch) expires after this long without a publish. */
  historyTtlMs: number;
  /** A presence entry expires after this long without a refresh. */
  presenceTtlMs: number;
  /** How long a publish result is remembered by `mid`. */
  idempotencyTtlMs: number;
  /**
   * Most bytes of publications one history read returns (at least one publication is always
   * returned); the page says `truncated` when it stopped here. Bounds what one read costs the
   * backend and the gateway, whatever `limit` asks for.
   */
  maxReadBytes: number;
}

export const defaultEngineOptions: Readonly<EngineOptions> = Object.freeze({
  historySize: 300,
  historyTtlMs: 600_000,
  presenceTtlMs: 60_000,
  idempotencyTtlMs: 120_000,
  maxReadBytes: 4 * 1024 * 1024,
});

/**
 * Why an engine is not healthy: `unavailable` (not connected, not started or closed),
 * `stalled` (connected, but commands time out), `out-of-memory` (the backend refuses writes).
 */
export type EngineHealth = { healthy: true } | { healthy: false; reason: 'unavailable' | 'stalled' | 'out-of-memory' };

export interface Engine {
  readonly name: 'memory' | 'redis';
  readonly broker: Broker;
  readonly history: History;
  readonly presence: Presence;
  /** Connect and start delivering to the handlers. */
  start(handlers: EngineHandlers): Promise<void>;
  /** False while the backend is unreachable, stalled or full (drives /readyz). */
  healthy(): boolean;
  /** `healthy()` with the reason when it is false (for /readyz and logs). */
  health(): EngineHealth;
  /** Running totals of what the backend had to skip or repair (exported as metrics); absent when there is nothing to count. */
  readonly counters?: Readonly<Record<string, number>>;
  /** Numbers shared by the pods of the region (AI budgets, room sentiment); see tally.ts. */
  readonly tallies: Tallies;
  close(): Promise<void>;
}

/** The backend is unreachable or failed; the caller answers UNAVAILABLE and nothing was stored. */
export class EngineUnavailableError extends Error {
  readonly code = 'UNAVAILABLE';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'EngineUnavailableError';
  }
}

/**
 * The backend's storage is full (Redis at `maxmemory`, or the memory engine's
 * `maxRetainedBytes` with nothing left to expire): nothing was stored and nothing deleted.
 * Retryable, with the same `mid`, once space is freed.
 */
export class EngineFullError extends Error {
  readonly code = 'STORAGE_FULL';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'EngineFullError';
  }
}
