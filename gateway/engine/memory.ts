/**
 * The in-memory engine: the default for a single gateway and the test double for the others.
 *
 * It keeps the guarantees of types.ts exactly as the Redis engine does: offsets and epochs,
 * idempotent publish by mid, history capped by size and TTL, presence with TTL. Handlers are
 * called asynchronously (from a microtask queue, never inside the caller's stack) and in
 * publish order. Several engines can share one MemoryBackend to act as pods of one region.
 */
import type { Logger } from 'pino';
import {
  checkMember,
  checkPublishInput,
  checkReadOptions,
  checkRoom,
  checkRooms,
  countUsers,
  EngineInputError,
  resolveEngineOptions,
  silentLogger,
} from './common.ts';
import { MemoryBackend, type Delivery, type MemoryBackendOptions, type MemoryNode } from './memory-backend.ts';
import { MemoryTallies } from './tally.ts';
import {
  EngineUnavailableError,
  type Broker,
  type Engine,
  type EngineHandlers,
  type EngineHealth,
  type EngineOptions,
  type History,
  type HistoryPage,
  type HistoryReadOptions,
  type Member,
  type Presence,
  type PresenceStats,
  type Publication,
  type PublishInput,
  type PublishResult,
  type RoomEvent,
  type StreamPosition,
} from './types.ts';

export interface MemoryEngineOptions {
  engine?: Partial<EngineOptions>;
  /** Share one backend between engines to model several pods; a private one by default. */
  backend?: MemoryBackend;
  /** Options of the private backend (ignored when `backend` is given). */
  memory?: Omit<MemoryBackendOptions, 'now'>;
  logger?: Logger;
}

type Task = { kind: 'deliver'; delivery: Delivery } | { kind: 'resynced'; rooms: string[] };

export class MemoryEngine implements Engine, MemoryNode {
  readonly name = 'memory';
  readonly broker: Broker;
  readonly history: History;
  readonly presence: Presence;
  /** Per engine: the memory engine is a single pod, so its tallies are not shared. */
  readonly tallies = new MemoryTallies();
  readonly backend: MemoryBackend;
  readonly options: Readonly<EngineOptions>;
  readonly #logger: Logger;
  readonly #rooms = new Set<string>();
  #handlers: EngineHandlers | undefined;
  #closed = false;
  #queue: Task[] = [];
  #drainScheduled = false;

  constructor(options: MemoryEngineOptions = {}) {
    this.options = resolveEngineOptions(options.engine);
    this.backend = options.backend ?? new MemoryBackend(options.memory);
    this.#logger = options.logger ?? silentLogger;
    this.broker = {
      publish: (input) => this.#call(() => this.#publish(input)),
      publishEvent: (room, event) => this.#call(() => this.#publishEvent(room, event)),
      subscribe: (rooms) => this.#call(() => this.#subscribe(rooms)),
      unsubscribe: (rooms) => this.#unsubscribe(rooms),
    };
    this.history = {
      read: (room, readOptions) => this.#call(() => this.#read(room, readOptions)),
      position: (room) => this.#call(() => this.#position(room)),
    };
    this.presence = {
      add: (room, member) => this.#call(() => this.#presenceAdd(room, member)),
      remove: (room, client) => this.#call(() => this.#presenceRemove(room, client)),
      list: (room) => this.#call(() => this.#presenceList(room)),
      stats: (room) => this.#call(() => this.#presenceStats(room)),
      count: (room) => this.#call(() => this.#presenceList(room).length),
    };
  }

  async start(handlers: EngineHandlers): Promise<void> {
    if (this.#closed) throw new EngineUnavailableError('memory engine is closed');
    if (this.#handlers) throw new EngineInputError('memory engine is already started');
    this.#handlers = handlers;
    this.backend.attach(this);
  }

  healthy(): boolean {
    return this.#handlers !== undefined && !this.#closed && this.backend.available;
  }

  health(): EngineHealth {
    return this.healthy() ? { healthy: true } : { healthy: false, reason: 'unavailable' };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.backend.detach(this);
    this.#rooms.clear();
    this.#queue.length = 0;
  }

  /** Runs an operation with the same failure behaviour as a remote backend: a rejected promise. */
  async #call<T>(operation: () => T): Promise<T> {
    if (this.#closed) throw new EngineUnavailableError('memory engine is closed');
    if (!this.#handlers) throw new EngineUnavailableError('memory engine is not started');
    if (!this.backend.available) throw new EngineUnavailableError('memory backend is unavailable');
    return operation();
  }

  #publish(input: PublishInput): PublishResult {
    checkPublishInput(input);
    return this.backend.publish(input.room, input.mid, input.freshMid !== true, storedBytes(input), this.options, (position) => {
      const pub: Publication = {
        room: input.room,
        epoch: position.epoch,
        offset: position.offset,
        mid: input.mid,
        data: input.data,
        region: input.region,
        ts: input.ts,
      };
      if (input.from) pub.from = { user: input.from.user, client: input.from.client };
      return Object.freeze(pub);
    });
  }

  #publishEvent(room: string, event: RoomEvent): void {
    checkRoom(room);
    checkMember(event?.member);
    this.backend.publishEvent(room, { type: event.type, member: { ...event.member } });
  }

  #subscribe(rooms: readonly string[]): void {
    checkRooms(rooms);
    for (const room of rooms) this.#rooms.add(room);
  }

  /** Unsubscribing never fails: a closed or unreachable engine delivers nothing anyway. */
  async #unsubscribe(rooms: readonly string[]): Promise<void> {
    checkRooms(rooms);
    for (const room of rooms) this.#rooms.delete(room);
  }

  #read(room: string, options: HistoryReadOptions): HistoryPage {
    checkRoom(room);
    checkReadOptions(options);
    return this.backend.read(room, this.options.historyTtlMs, options, Math.min(this.options.maxReadBytes, options.maxBytes ?? Number.POSITIVE_INFINITY));
  }

  #position(room: string): StreamPosition {
    checkRoom(room);
    return this.backend.position(room, this.options.historyTtlMs);
  }

  #presenceAdd(room: string, member: Member): void {
    checkRoom(room);
    checkMember(member);
    this.backend.presenceAdd(room, member, this.options.presenceTtlMs);
  }

  #presenceRemove(room: string, client: string): void {
    checkRoom(room);
    this.backend.presenceRemove(room, client);
  }

  #presenceList(room: string): Member[] {
    checkRoom(room);
    return this.backend.presenceList(room);
  }

  #presenceStats(room: string): PresenceStats {
    const members = this.#presenceList(room);
    return { clients: members.length, users: countUsers(members) };
  }

  // MemoryNode: called by the backend.

  isSubscribed(room: string): boolean {
    return this.#rooms.has(room);
  }

  deliver(delivery: Delivery): void {
    this.#enqueue({ kind: 'deliver', delivery });
  }

  backendLost(): void {
    this.#logger.warn({ engine: 'memory' }, 'memory backend unavailable');
  }

  backendRestored(): void {
    this.#logger.info({ engine: 'memory', rooms: this.#rooms.size }, 'memory backend available again, resyncing rooms');
    this.#enqueue({ kind: 'resynced', rooms: [...this.#rooms] });
  }

  #enqueue(task: Task): void {
    this.#queue.push(task);
    if (this.#drainScheduled) return;
    this.#drainScheduled = true;
    queueMicrotask(() => this.#drain());
  }

  /** Calls handlers one task at a time, in order; a throwing handler is logged and the rest still run. */
  #drain(): void {
    this.#drainScheduled = false;
    const handlers = this.#handlers;
    // Tasks enqueued by the handlers themselves go to a fresh queue and a later microtask.
    const tasks = this.#queue;
    this.#queue = [];
    for (const task of tasks) {
      if (!handlers || this.#closed) return;
      try {
        if (task.kind === 'resynced') handlers.resynced(task.rooms);
        else if (task.delivery.kind === 'publication') handlers.publication(task.delivery.pub);
        else handlers.roomEvent(task.delivery.room, task.delivery.event);
      } catch (error) {
        this.#logger.error({ engine: 'memory', err: error, task: task.kind }, 'engine handler threw; continuing with the next delivery');
      }
    }
  }
}

/**
 * What a publication costs in memory, counted against `maxRetainedBytes` and `maxReadBytes`:
 * its JSON size, as the Redis engine stores it. Data that JSON cannot encode is refused.
 */
function storedBytes(input: PublishInput): number {
  let json: string | undefined;
  try {
    json = JSON.stringify(input.data);
  } catch {
    // Cycles and BigInts: the caller learns the data is unusable, nothing is stored.
    json = undefined;
  }
  if (json === undefined) throw new EngineInputError('data must be a JSON value');
  return Buffer.byteLength(json) + Buffer.byteLength(input.mid) + entryOverheadBytes;
}

/** Per publication beyond data and mid: room, epoch, offset, region, ts and the sender. */
const entryOverheadBytes = 64;
