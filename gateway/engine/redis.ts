/**
 * The Redis engine: the gateway pods of a region share rooms through one Redis.
 *
 * Two connections: one for commands (scripts, PUBLISH of events; auto-pipelined) and one in
 * subscriber mode, listening to one channel per room this pod holds members of. Publish and
 * history append are one Lua script; presence is a hash plus an expiry zset per room (see
 * redis-format.ts for the key layout, lua/ for the scripts, docs/engines.md for the reasoning).
 *
 * Failure behaviour: neither connection queues commands while Redis is away, so calls reject
 * at once with EngineUnavailableError (or after `commandTimeoutMs`). ioredis reconnects with a
 * capped backoff; subscriptions are then restored by this engine (not ioredis) and
 * `handlers.resynced(rooms)` tells the hub to fill gaps from history. Whatever arrives from
 * Redis is decoded defensively: malformed or oversized values are logged (never their body),
 * counted and skipped.
 */
import { Redis } from 'ioredis';
import {
  checkMember,
  checkPublishInput,
  checkReadOptions,
  checkRoom,
  checkRooms,
  countUsers,
  EngineInputError,
  newEpoch,
  resolveEngineOptions,
  silentLogger,
  type EngineLogger,
} from './common.ts';
import { decodeChannelMessage, decodeEntry, decodeMember, encodeBody, encodeEvent, encodeMember, isMalformed, RedisKeys } from './redis-format.ts';
import { defineScripts, type ScriptCommands } from './redis-scripts.ts';
import { RoomSubscriptions } from './redis-subscriptions.ts';
import {
  EngineUnavailableError,
  type Broker,
  type Engine,
  type EngineHandlers,
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

export interface RedisEngineOptions {
  url: string;
  engine?: Partial<EngineOptions>;
  logger?: EngineLogger;
  /** Prefix of every key and channel, so several deployments can share one Redis. */
  keyPrefix?: string;
  /** A command without a reply after this long fails with UNAVAILABLE. */
  commandTimeoutMs?: number;
  /** The first connection attempt of each connection fails after this long. */
  connectTimeoutMs?: number;
  /** Reconnect backoff grows by 100 ms per attempt up to this. */
  maxReconnectDelayMs?: number;
  /** Channels per SUBSCRIBE / UNSUBSCRIBE command. */
  subscribeBatchSize?: number;
  /** Channel messages and stream entries larger than this are skipped as malformed. */
  maxPayloadBytes?: number;
  /** After a failed re-subscription on a live connection, try again after this long. */
  resubscribeRetryMs?: number;
  /** Clock for presence expiry; defaults to Date.now. */
  now?: () => number;
}

export const defaultRedisEngineOptions = Object.freeze({
  keyPrefix: 'meridian',
  commandTimeoutMs: 1_000,
  connectTimeoutMs: 2_000,
  maxReconnectDelayMs: 2_000,
  subscribeBatchSize: 512,
  maxPayloadBytes: 1_048_576,
  resubscribeRetryMs: 1_000,
});

/** What the engine skipped or repaired, for metrics. */
export interface RedisEngineCounters {
  malformedMessages: number;
  malformedHistoryEntries: number;
  malformedPresenceEntries: number;
  resyncs: number;
}

/** The URL without its password, for logs and errors. */
function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    // An unparsable URL is reported by ioredis itself; never echo it, it may hold a secret.
    return '<invalid redis url>';
  }
}

function positiveInteger(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value <= 0) throw new EngineInputError(`redis engine option ${name} must be a positive integer, got ${String(value)}`);
  return value;
}

export class RedisEngine implements Engine {
  readonly name = 'redis';
  readonly broker: Broker;
  readonly history: History;
  readonly presence: Presence;
  readonly options: Readonly<EngineOptions>;
  readonly counters: RedisEngineCounters = { malformedMessages: 0, malformedHistoryEntries: 0, malformedPresenceEntries: 0, resyncs: 0 };
  readonly #keys: RedisKeys;
  readonly #logger: EngineLogger;
  readonly #now: () => number;
  readonly #maxPayloadBytes: number;
  readonly #resubscribeRetryMs: number;
  #resubscribeTimer: NodeJS.Timeout | undefined;
  readonly #url: string;
  readonly #command: Redis;
  readonly #subscriber: Redis;
  readonly #scripts: ScriptCommands;
  readonly #subscriptions: RoomSubscriptions;
  #handlers: EngineHandlers | undefined;
  #closed = false;
  /** The subscriber lost its connection and its rooms are not subscribed again yet. */
  #feedLost = false;
  #wasHealthy = false;

  constructor(options: RedisEngineOptions) {
    this.options = resolveEngineOptions(options.engine);
    const settings = { ...defaultRedisEngineOptions, ...options };
    for (const name of ['commandTimeoutMs', 'connectTimeoutMs', 'maxReconnectDelayMs', 'subscribeBatchSize', 'maxPayloadBytes', 'resubscribeRetryMs'] as const) {
      positiveInteger(name, settings[name]);
    }
    if (typeof options.url !== 'string' || options.url.length === 0) throw new EngineInputError('redis engine needs a url');
    this.#url = redactUrl(options.url);
    this.#keys = new RedisKeys(settings.keyPrefix);
    this.#logger = options.logger ?? silentLogger;
    this.#now = options.now ?? Date.now;
    this.#maxPayloadBytes = settings.maxPayloadBytes;
    this.#resubscribeRetryMs = settings.resubscribeRetryMs;
    const connection = {
      lazyConnect: true,
      // Fail fast instead of queueing while Redis is away: the caller answers UNAVAILABLE.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      commandTimeout: settings.commandTimeoutMs,
      connectTimeout: settings.connectTimeoutMs,
      retryStrategy: (attempt: number) => Math.min(attempt * 100, settings.maxReconnectDelayMs),
    };
    this.#command = new Redis(options.url, { ...connection, enableAutoPipelining: true, connectionName: 'meridian-engine' });
    // Subscriptions are restored by RoomSubscriptions, so the hub hears `resynced` after them.
    this.#subscriber = new Redis(options.url, { ...connection, autoResubscribe: false, connectionName: 'meridian-engine-sub' });
    this.#scripts = defineScripts(this.#command);
    this.#subscriptions = new RoomSubscriptions(this.#subscriber, (room) => this.#keys.channel(room), settings.subscribeBatchSize, this.#logger);
    this.#watchConnections();

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
    };
  }

  async start(handlers: EngineHandlers): Promise<void> {
    if (this.#closed) throw new EngineUnavailableError('redis engine is closed');
    this.#handlers = handlers;
    try {
      await Promise.all([this.#command.connect(), this.#subscriber.connect()]);
    } catch (error) {
      this.#command.disconnect();
      this.#subscriber.disconnect();
      this.#handlers = undefined;
      throw new EngineUnavailableError(`cannot reach Redis at ${this.#url}`, { cause: error });
    }
    this.#wasHealthy = true;
    this.#logger.info({ engine: 'redis', url: this.#url }, 'redis engine connected');
  }

  healthy(): boolean {
    return this.#handlers !== undefined && !this.#closed && !this.#feedLost && this.#command.status === 'ready' && this.#subscriber.status === 'ready';
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#handlers = undefined;
    clearTimeout(this.#resubscribeTimer);
    this.#command.disconnect();
    this.#subscriber.disconnect();
  }

  #watchConnections(): void {
    for (const [role, connection] of [
      ['command', this.#command],
      ['subscriber', this.#subscriber],
    ] as const) {
      // ioredis emits an error per failed reconnect attempt; health changes are logged below.
      connection.on('error', (error: Error) => this.#logger.debug({ engine: 'redis', role, err: error.message }, 'redis connection error'));
      connection.on('close', () => this.#healthChanged());
      connection.on('ready', () => this.#healthChanged());
    }
    this.#subscriber.on('close', () => {
      if (!this.#handlers) return;
      this.#feedLost = true;
      this.#subscriptions.connectionLost();
    });
    this.#subscriber.on('ready', () => {
      if (this.#feedLost) void this.#resync();
    });
    this.#subscriber.on('message', (channel: string, message: string) => this.#onMessage(channel, message));
  }

  #healthChanged(): void {
    const healthy = this.healthy();
    if (healthy === this.#wasHealthy || this.#closed) return;
    this.#wasHealthy = healthy;
    if (healthy) this.#logger.info({ engine: 'redis', url: this.#url }, 'redis reachable again');
    else this.#logger.warn({ engine: 'redis', url: this.#url }, 'redis unreachable: engine calls fail with UNAVAILABLE');
  }

  /** Subscribes every wanted room on the new connection, then tells the hub to check for gaps. */
  async #resync(): Promise<void> {
    let rooms: string[];
    try {
      rooms = await this.#subscriptions.restore();
    } catch (error) {
      this.#logger.warn({ engine: 'redis', err: error }, 'restoring room subscriptions failed');
      // A dropped connection retries on its next 'ready'; a live one (a timeout) needs a nudge.
      if (this.#subscriber.status === 'ready' && !this.#closed) {
        clearTimeout(this.#resubscribeTimer);
        this.#resubscribeTimer = setTimeout(() => void this.#resync(), this.#resubscribeRetryMs).unref();
      }
      return;
    }
    if (this.#subscriber.status !== 'ready' || !this.#handlers) return;
    this.#feedLost = false;
    this.counters.resyncs += 1;
    this.#healthChanged();
    this.#logger.info({ engine: 'redis', rooms: rooms.length }, 'room subscriptions restored');
    try {
      this.#handlers.resynced(rooms);
    } catch (error) {
      this.#logger.error({ engine: 'redis', err: error }, 'resynced handler threw');
    }
  }

  #malformed(counter: keyof RedisEngineCounters, room: string | undefined, reason: string, bytes: number): void {
    this.counters[counter] += 1;
    this.#logger.warn({ engine: 'redis', room, reason, bytes }, 'skipped a malformed value from redis');
  }

  /** Never throws: a bad message or a failing handler must not take the connection down. */
  #onMessage(channel: string, message: string): void {
    const room = this.#keys.roomOf(channel);
    if (room === undefined || !this.#subscriptions.wants(room) || !this.#handlers) return;
    if (message.length > this.#maxPayloadBytes) return this.#malformed('malformedMessages', room, 'larger than maxPayloadBytes', message.length);
    const decoded = decodeChannelMessage(room, message);
    if (isMalformed(decoded)) return this.#malformed('malformedMessages', room, decoded.malformed, message.length);
    try {
      if (decoded.kind === 'publication') this.#handlers.publication(decoded.pub);
      else this.#handlers.roomEvent(room, decoded.event);
    } catch (error) {
      this.#logger.error({ engine: 'redis', room, err: error }, 'engine handler threw; continuing with the next message');
    }
  }

  /** Every call: refused when closed or not started, and any Redis failure becomes UNAVAILABLE. */
  async #call<T>(operation: () => Promise<T>): Promise<T> {
    if (this.#closed) throw new EngineUnavailableError('redis engine is closed');
    if (!this.#handlers) throw new EngineUnavailableError('redis engine is not started');
    try {
      return await operation();
    } catch (error) {
      if (error instanceof EngineInputError || error instanceof EngineUnavailableError) throw error;
      throw new EngineUnavailableError(`redis command failed: ${(error as Error).message}`, { cause: error });
    }
  }

  async #publish(input: PublishInput): Promise<PublishResult> {
    checkPublishInput(input);
    const { room, mid } = input;
    const keys = this.#keys;
    const reply = await this.#scripts.meridianPublish(
      keys.stream(room),
      keys.meta(room),
      keys.result(room, mid),
      encodeBody(input),
      this.options.historySize,
      this.options.historyTtlMs,
      this.options.idempotencyTtlMs,
      newEpoch(),
      keys.channel(room),
    );
    const [epoch, offset, duplicate] = reply as [unknown, unknown, unknown];
    if (typeof epoch !== 'string' || typeof offset !== 'number') throw new EngineUnavailableError('unexpected reply from the publish script');
    return { epoch, offset, duplicate: duplicate === 1 };
  }

  async #publishEvent(room: string, event: RoomEvent): Promise<void> {
    checkRoom(room);
    checkMember(event?.member);
    if (event.type !== 'join' && event.type !== 'leave') throw new EngineInputError('event type must be join or leave');
    await this.#command.publish(this.#keys.channel(room), encodeEvent(event));
  }

  async #subscribe(rooms: readonly string[]): Promise<void> {
    checkRooms(rooms);
    await this.#subscriptions.subscribe(rooms);
  }

  async #unsubscribe(rooms: readonly string[]): Promise<void> {
    checkRooms(rooms);
    await this.#subscriptions.unsubscribe(rooms);
  }

  async #stream(room: string, start: string, limit: number): Promise<{ epoch: string; offset: number; entries: unknown[] }> {
    const reply = await this.#scripts.meridianHistory(this.#keys.stream(room), this.#keys.meta(room), newEpoch(), this.options.historyTtlMs, start, limit);
    const [epoch, offset, entries, problem] = reply as [unknown, unknown, unknown, unknown];
    if (typeof epoch !== 'string' || typeof offset !== 'number' || !Array.isArray(entries)) throw new EngineUnavailableError('unexpected reply from the history script');
    if (typeof problem === 'string' && problem.length > 0) this.#malformed('malformedHistoryEntries', room, problem, 0);
    return { epoch, offset, entries };
  }

  async #read(room: string, options: HistoryReadOptions): Promise<HistoryPage> {
    checkRoom(room);
    checkReadOptions(options);
    const newest = options.since === undefined;
    const { epoch, offset, entries } = await this.#stream(room, newest ? '' : String(options.since! + 1), options.limit);
    if (newest) entries.reverse();
    const publications: Publication[] = [];
    for (const entry of entries) {
      const pub = decodeEntry(room, epoch, entry, this.#maxPayloadBytes);
      if (isMalformed(pub)) this.#malformed('malformedHistoryEntries', room, pub.malformed, 0);
      else publications.push(pub);
    }
    return { epoch, offset, publications };
  }

  async #position(room: string): Promise<StreamPosition> {
    checkRoom(room);
    const { epoch, offset } = await this.#stream(room, '', 0);
    return { epoch, offset };
  }

  async #presenceAdd(room: string, member: Member): Promise<void> {
    checkRoom(room);
    checkMember(member);
    const ttl = this.options.presenceTtlMs;
    await this.#scripts.meridianPresenceAdd(this.#keys.presence(room), this.#keys.presenceExpiry(room), member.client, encodeMember(member), this.#now() + ttl, ttl);
  }

  async #presenceRemove(room: string, client: string): Promise<void> {
    checkRoom(room);
    if (typeof client !== 'string') throw new EngineInputError('client must be a string');
    await this.#scripts.meridianPresenceRemove(this.#keys.presence(room), this.#keys.presenceExpiry(room), client);
  }

  async #presenceList(room: string): Promise<Member[]> {
    checkRoom(room);
    const reply = await this.#scripts.meridianPresenceGet(this.#keys.presence(room), this.#keys.presenceExpiry(room), this.#now());
    if (!Array.isArray(reply)) throw new EngineUnavailableError('unexpected reply from the presence script');
    const members: Member[] = [];
    for (const value of reply) {
      const member = typeof value === 'string' && value.length <= this.#maxPayloadBytes ? decodeMember(value) : { malformed: 'not a string or too large' };
      if (isMalformed(member)) this.#malformed('malformedPresenceEntries', room, member.malformed, typeof value === 'string' ? value.length : 0);
      else members.push(member);
    }
    return members;
  }

  async #presenceStats(room: string): Promise<PresenceStats> {
    const members = await this.#presenceList(room);
    return { clients: members.length, users: countUsers(members) };
  }
}
