/**
 * The Redis engine: the gateway pods of a region share rooms through one Redis or one Redis
 * Cluster (redis-connection.ts picks by URL; the code paths are the same).
 *
 * Two connections: one for commands (scripts, PUBLISH of events) and one in
 * subscriber mode, listening to one channel per room this pod holds members of (on a cluster,
 * sharded pub/sub: one subscriber connection per master, see redis-cluster-subscriber.ts). Publish and
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
import type { Logger } from 'pino';
import { Redis } from 'ioredis';
import { checkMember, checkRoom, checkRooms, EngineInputError, resolveEngineOptions, silentLogger } from './common.ts';
import { decodeChannelMessage, encodeEvent, isMalformed, RedisKeys } from './redis-format.ts';
import { RedisHealth, withDeadline } from './redis-health.ts';
import { connectRedis, redactRedisUrl, type CommandClient, type Subscriber } from './redis-connection.ts';
import { RedisHistoryStore } from './redis-history.ts';
import { RedisPresenceStore } from './redis-presence.ts';
import { publishWithReplicas } from './redis-replication.ts';
import { defineScripts, healthScript } from './redis-scripts.ts';
import type { RedisEngineCounters, RedisStoreContext } from './redis-store.ts';
import { RoomSubscriptions } from './redis-subscriptions.ts';
import { RedisTallies } from './redis-tally.ts';
import type { Tallies } from './tally.ts';
import { EngineFullError, EngineUnavailableError, type Broker, type Engine, type EngineHandlers, type EngineHealth, type EngineOptions, type History, type Presence, type RoomEvent } from './types.ts';

export type { RedisEngineCounters } from './redis-store.ts';

export interface RedisEngineOptions {
  url: string;
  engine?: Partial<EngineOptions>;
  logger?: Logger;
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
  /** How often a probe checks that Redis answers in time and accepts writes (see redis-health.ts). */
  healthCheckMs?: number;
  /** Cluster only: how often the slot map is read again even when no redirection forced it. */
  clusterRefreshMs?: number;
  /** Acknowledge a publish only once this many replicas confirmed it (WAIT); 0: do not wait. */
  waitReplicas?: number;
  /** How long a publish waits for `waitReplicas` confirmations (keep it well below commandTimeoutMs). */
  waitTimeoutMs?: number;
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
  healthCheckMs: 1_000,
  clusterRefreshMs: 5_000,
  waitReplicas: 0,
  waitTimeoutMs: 100,
});

const healthWarnings = {
  unavailable: 'redis unreachable: engine calls fail with UNAVAILABLE',
  stalled: 'redis does not answer within commandTimeoutMs: engine calls fail with UNAVAILABLE',
  'out-of-memory': 'redis is at maxmemory: publishes fail with STORAGE_FULL, nothing is deleted',
} as const;

function positiveInteger(name: string, value: number, { zero = false } = {}): number {
  if (!Number.isSafeInteger(value) || value < (zero ? 0 : 1)) throw new EngineInputError(`redis engine option ${name} must be a ${zero ? 'non-negative' : 'positive'} integer, got ${String(value)}`);
  return value;
}

export class RedisEngine implements Engine {
  readonly name = 'redis';
  readonly broker: Broker;
  readonly history: History;
  readonly presence: Presence;
  readonly tallies: Tallies;
  readonly options: Readonly<EngineOptions>;
  readonly counters: RedisEngineCounters = {
    malformedMessages: 0,
    malformedHistoryEntries: 0,
    malformedPresenceEntries: 0,
    resyncs: 0,
    commandTimeouts: 0,
    outOfMemory: 0,
  };
  readonly #keys: RedisKeys;
  readonly #logger: Logger;
  readonly #maxPayloadBytes: number;
  readonly #resubscribeRetryMs: number;
  #resubscribeTimer: NodeJS.Timeout | undefined;
  readonly #url: string;
  readonly #command: CommandClient;
  readonly #subscriber: Subscriber;
  readonly #subscriptions: RoomSubscriptions;
  #handlers: EngineHandlers | undefined;
  #closed = false;
  /** The subscriber lost its connection and its rooms are not subscribed again yet. */
  #feedLost = false;
  #reported: EngineHealth = { healthy: false, reason: 'unavailable' };
  readonly #health: RedisHealth;
  readonly #commandTimeoutMs: number;
  readonly #publishCommand: 'publish' | 'spublish';

  constructor(options: RedisEngineOptions) {
    this.options = resolveEngineOptions(options.engine);
    const settings = {
      keyPrefix: options.keyPrefix ?? defaultRedisEngineOptions.keyPrefix,
      commandTimeoutMs: positiveInteger('commandTimeoutMs', options.commandTimeoutMs ?? defaultRedisEngineOptions.commandTimeoutMs),
      connectTimeoutMs: positiveInteger('connectTimeoutMs', options.connectTimeoutMs ?? defaultRedisEngineOptions.connectTimeoutMs),
      maxReconnectDelayMs: positiveInteger('maxReconnectDelayMs', options.maxReconnectDelayMs ?? defaultRedisEngineOptions.maxReconnectDelayMs),
      subscribeBatchSize: positiveInteger('subscribeBatchSize', options.subscribeBatchSize ?? defaultRedisEngineOptions.subscribeBatchSize),
      maxPayloadBytes: positiveInteger('maxPayloadBytes', options.maxPayloadBytes ?? defaultRedisEngineOptions.maxPayloadBytes),
      resubscribeRetryMs: positiveInteger('resubscribeRetryMs', options.resubscribeRetryMs ?? defaultRedisEngineOptions.resubscribeRetryMs),
      healthCheckMs: positiveInteger('healthCheckMs', options.healthCheckMs ?? defaultRedisEngineOptions.healthCheckMs),
      clusterRefreshMs: positiveInteger('clusterRefreshMs', options.clusterRefreshMs ?? defaultRedisEngineOptions.clusterRefreshMs),
      waitReplicas: positiveInteger('waitReplicas', options.waitReplicas ?? defaultRedisEngineOptions.waitReplicas, { zero: true }),
      waitTimeoutMs: positiveInteger('waitTimeoutMs', options.waitTimeoutMs ?? defaultRedisEngineOptions.waitTimeoutMs),
    };
    if (typeof settings.keyPrefix !== 'string' || settings.keyPrefix.length === 0) throw new EngineInputError('redis engine option keyPrefix must be a non-empty string');
    if (typeof options.url !== 'string' || options.url.length === 0) throw new EngineInputError('redis engine needs a url');
    this.#url = redactRedisUrl(options.url);
    this.#keys = new RedisKeys(settings.keyPrefix);
    this.#logger = options.logger ?? silentLogger;
    this.#maxPayloadBytes = settings.maxPayloadBytes;
    this.#commandTimeoutMs = settings.commandTimeoutMs;
    this.#resubscribeRetryMs = settings.resubscribeRetryMs;
    const connections = connectRedis(options.url, settings);
    this.#command = connections.command;
    this.#subscriber = connections.subscriber;
    this.#publishCommand = connections.publishCommand;
    this.#subscriptions = new RoomSubscriptions(this.#subscriber, (room) => this.#keys.channel(room), settings.subscribeBatchSize, this.#logger);
    this.#watchConnections();
    const scripts = defineScripts(this.#command);
    this.#health = new RedisHealth({
      // Every master of a cluster: one that cannot write makes the engine unhealthy.
      probe: () => connections.probe(healthScript),
      timeoutMs: settings.commandTimeoutMs,
      connected: () => this.#connected(),
      intervalMs: settings.healthCheckMs,
      logger: this.#logger,
      changed: () => this.#healthChanged(),
      count: (failure) => (this.counters[failure === 'timeout' ? 'commandTimeouts' : 'outOfMemory'] += 1),
    });

    const store: RedisStoreContext = {
      scripts,
      publish: publishWithReplicas(this.#command, scripts, settings.waitReplicas, settings.waitTimeoutMs),
      publishCommand: this.#publishCommand,
      keys: this.#keys,
      options: this.options,
      maxPayloadBytes: this.#maxPayloadBytes,
      now: options.now ?? Date.now,
      malformed: (counter, room, reason, bytes) => this.#malformed(counter, room, reason, bytes),
    };
    const history = new RedisHistoryStore(store);
    const presence = new RedisPresenceStore(store);
    this.broker = {
      publish: (input) => this.#call(() => history.publish(input), { write: true }),
      publishEvent: (room, event) => this.#call(() => this.#publishEvent(room, event)),
      subscribe: (rooms) => this.#call(() => this.#subscribe(rooms)),
      unsubscribe: (rooms) => this.#unsubscribe(rooms),
    };
    this.history = {
      read: (room, readOptions) => this.#call(() => history.read(room, readOptions)),
      position: (room) => this.#call(() => history.position(room)),
    };
    this.tallies = new RedisTallies(this.#command, `${settings.keyPrefix}:tally:`, (operation) => this.#call(operation));
    this.presence = {
      add: (room, member) => this.#call(() => presence.add(room, member), { write: true }),
      remove: (room, client) => this.#call(() => presence.remove(room, client)),
      list: (room) => this.#call(() => presence.list(room)),
      stats: (room) => this.#call(() => presence.stats(room)),
      count: (room) => this.#call(() => presence.count(room)),
    };
  }

  async start(handlers: EngineHandlers): Promise<void> {
    if (this.#closed) throw new EngineUnavailableError('redis engine is closed');
    if (this.#handlers) throw new EngineInputError('redis engine is already started');
    this.#handlers = handlers;
    try {
      await Promise.all([this.#command.connect(), this.#subscriber.connect()]);
    } catch (error) {
      this.#command.disconnect();
      this.#subscriber.disconnect();
      this.#handlers = undefined;
      throw new EngineUnavailableError(`cannot reach Redis at ${this.#url}`, { cause: error });
    }
    this.#reported = { healthy: true };
    this.#health.start();
    this.#logger.info({ engine: 'redis', url: this.#url }, 'redis engine connected');
  }

  healthy(): boolean {
    return this.health().healthy;
  }

  health(): EngineHealth {
    return this.#health.current();
  }

  #connected(): boolean {
    return this.#handlers !== undefined && !this.#closed && !this.#feedLost && this.#command.status === 'ready' && this.#subscriber.status === 'ready';
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#handlers = undefined;
    this.#health.stop();
    clearTimeout(this.#resubscribeTimer);
    this.#command.disconnect();
    this.#subscriber.disconnect();
  }

  #watchConnections(): void {
    // Both kinds of client are event emitters with these events; their typings differ.
    for (const [role, connection] of [
      ['command', this.#command as unknown as Subscriber],
      ['subscriber', this.#subscriber],
    ] as const) {
      // ioredis emits an error per failed reconnect attempt; health changes are logged below.
      connection.on('error', (error: Error) => this.#logger.debug({ engine: 'redis', role, err: error.message }, 'redis connection error'));
      connection.on('close', () => this.#healthChanged());
      connection.on('ready', () => {
        this.#healthChanged();
        // A probe that failed while the connection was away would hold the state until its next turn.
        this.#health.check();
      });
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
    const health = this.health();
    const before = this.#reported;
    if (this.#closed || (health.healthy ? before.healthy : !before.healthy && before.reason === health.reason)) return;
    this.#reported = health;
    if (health.healthy) this.#logger.info({ engine: 'redis', url: this.#url }, 'redis healthy again');
    else this.#logger.warn({ engine: 'redis', url: this.#url, reason: health.reason }, healthWarnings[health.reason]);
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
    // The hub answers `resynced` with history reads: wait for the command connection too, or
    // every read would fail and the hub would drop its clients for nothing.
    await this.#commandReady();
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

  /** Resolves when the command connection is ready, or when it ended (the engine closed). */
  #commandReady(): Promise<void> {
    if (this.#command.status === 'ready') return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        this.#command.off('ready', done);
        this.#command.off('end', done);
        resolve();
      };
      this.#command.on('ready', done);
      this.#command.on('end', done);
    });
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

  /**
   * Every call: refused when closed or not started; its outcome feeds the health state. A write
   * Redis refused for lack of memory becomes EngineFullError, any other failure UNAVAILABLE.
   */
  async #call<T>(operation: () => Promise<T>, { write = false } = {}): Promise<T> {
    if (this.#closed) throw new EngineUnavailableError('redis engine is closed');
    if (!this.#handlers) throw new EngineUnavailableError('redis engine is not started');
    // Until the probe gets a reply, more commands would only queue up behind the unanswered ones.
    if (this.#health.stalled) throw new EngineUnavailableError(`redis answers nothing within ${this.#commandTimeoutMs} ms`);
    let result: T;
    try {
      result = await withDeadline(operation(), this.#commandTimeoutMs);
    } catch (error) {
      if (error instanceof EngineInputError || error instanceof EngineUnavailableError) throw error;
      if (this.#health.failed(error) === 'out-of-memory') {
        throw new EngineFullError('Redis is at maxmemory and refuses writes: nothing was stored', { cause: error });
      }
      throw new EngineUnavailableError(`redis command failed: ${(error as Error).message}`, { cause: error });
    }
    this.#health.succeeded(write);
    return result;
  }

  async #publishEvent(room: string, event: RoomEvent): Promise<void> {
    checkRoom(room);
    checkMember(event?.member);
    if (event.type !== 'join' && event.type !== 'leave') throw new EngineInputError('event type must be join or leave');
    await this.#command[this.#publishCommand](this.#keys.channel(room), encodeEvent(event));
  }

  async #subscribe(rooms: readonly string[]): Promise<void> {
    checkRooms(rooms);
    await this.#subscriptions.subscribe(rooms);
  }

  async #unsubscribe(rooms: readonly string[]): Promise<void> {
    checkRooms(rooms);
    await this.#subscriptions.unsubscribe(rooms);
  }
}
