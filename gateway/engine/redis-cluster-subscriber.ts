/**
 * The engine's subscriber side on a Redis Cluster: sharded pub/sub (`SSUBSCRIBE`), one
 * connection per master that serves a slot this pod listens to.
 *
 * It looks like the single-Redis subscriber connection to the engine (`status`, `subscribe`,
 * `unsubscribe`, events `message`, `close`, `ready`), so RoomSubscriptions (the one batcher)
 * and the engine's restore-then-`resynced` path serve both. RoomSubscriptions groups channels
 * by slot before calling `subscribe`, so each call names channels of one slot (the CROSSSLOT
 * rule of SSUBSCRIBE) and goes to the master that owns it.
 *
 * Why not ioredis's own `shardedSubscribers`: it re-subscribes by itself after a topology change
 * and swallows failures of that re-subscription, so nobody learns when the feed is complete
 * again — the hub must hear `resynced` only once every room is subscribed on its new owner.
 * Here a change is a `close`, followed by `ready` once the cluster client is ready again; the
 * engine then subscribes every wanted room again (duplicates on a connection that survived
 * are no-ops for Redis) and calls `resynced`, and the hub fills the gap from history.
 *
 * What counts as a change: a subscriber connection ending (its master died or restarted), a
 * master pushing an unsolicited SUNSUBSCRIBE (its slot migrated away: Redis drops the shard
 * channels of a slot it no longer owns), the cluster client's own connection closing, and a
 * slot-map refresh in which a slot with subscribed channels has a new owner (a failover).
 */
import { EventEmitter } from 'node:events';
import { Redis, type Cluster, type RedisOptions } from 'ioredis';
import { slotOf } from './redis-cluster-slot.ts';
import { EngineUnavailableError } from './types.ts';

export class ShardedRoomSubscriber extends EventEmitter {
  readonly #cluster: Cluster;
  readonly #nodeOptions: RedisOptions;
  /** Subscriber connection per master, by node key (host:port). */
  readonly #connections = new Map<string, Redis>();
  /** Slot → the node key it was subscribed on, for every slot with subscribed channels. */
  readonly #owners = new Map<number, string>();
  /** Channels subscribed per slot, so a slot without channels is forgotten. */
  readonly #channelsPerSlot = new Map<number, number>();
  #lost = false;
  #closed = false;

  constructor(cluster: Cluster, nodeOptions: RedisOptions) {
    super();
    this.#cluster = cluster;
    this.#nodeOptions = nodeOptions;
    cluster.on('refresh', () => this.#checkOwners());
    cluster.on('close', () => this.#lose());
    cluster.on('ready', () => this.#regain());
  }

  /** 'ready' when subscribes can be sent; after a change, not until the engine was told (`close`). */
  get status(): string {
    if (this.#closed) return 'end';
    if (this.#lost) return 'reconnecting';
    return this.#cluster.status;
  }

  /** Ready when the cluster client is (the engine connects it); subscriber connections open on demand. */
  connect(): Promise<void> {
    if (this.#cluster.status === 'ready') return Promise.resolve();
    return new Promise((resolve, reject) => {
      const ready = () => {
        this.#cluster.off('end', ended);
        resolve();
      };
      const ended = () => {
        this.#cluster.off('ready', ready);
        reject(new EngineUnavailableError('the Redis Cluster client ended before it was ready'));
      };
      this.#cluster.once('ready', ready);
      this.#cluster.once('end', ended);
    });
  }

  disconnect(): void {
    this.#closed = true;
    for (const connection of this.#connections.values()) connection.disconnect();
    this.#connections.clear();
  }

  slotOf(channel: string): number {
    return slotOf(channel);
  }

  /** Every channel must hash to one slot (RoomSubscriptions groups them so). */
  async subscribe(...channels: string[]): Promise<void> {
    const slot = slotOf(channels[0]);
    const owner = this.#cluster.slots[slot]?.[0];
    if (!owner || this.#cluster.status !== 'ready') throw new EngineUnavailableError(`no Redis Cluster master known for slot ${slot}`);
    const previous = this.#owners.get(slot);
    if (previous !== undefined && previous !== owner) {
      // The slot moved since its channels were subscribed: the hub must check them all.
      this.#lose();
      throw new EngineUnavailableError(`slot ${slot} moved from ${previous} to ${owner}`);
    }
    try {
      await this.#connection(owner).ssubscribe(...channels);
    } catch (error) {
      // Most often a stale slot map (MOVED, a master that died): read it again for the retry.
      this.#cluster.refreshSlotsCache();
      throw error;
    }
    this.#owners.set(slot, owner);
    this.#channelsPerSlot.set(slot, (this.#channelsPerSlot.get(slot) ?? 0) + channels.length);
  }

  async unsubscribe(...channels: string[]): Promise<void> {
    const slot = slotOf(channels[0]);
    const owner = this.#owners.get(slot);
    const left = (this.#channelsPerSlot.get(slot) ?? 0) - channels.length;
    if (left > 0) this.#channelsPerSlot.set(slot, left);
    else {
      this.#channelsPerSlot.delete(slot);
      this.#owners.delete(slot);
    }
    const connection = owner === undefined ? undefined : this.#connections.get(owner);
    if (connection?.status === 'ready') await connection.sunsubscribe(...channels);
  }

  #connection(nodeKey: string): Redis {
    const existing = this.#connections.get(nodeKey);
    if (existing) return existing;
    const separator = nodeKey.lastIndexOf(':');
    const connection = new Redis({
      ...this.#nodeOptions,
      host: nodeKey.slice(0, separator),
      port: Number(nodeKey.slice(separator + 1)),
      lazyConnect: true,
      // The first SSUBSCRIBE waits for the connection; a dead node fails it after connectTimeout.
      enableOfflineQueue: true,
      autoResubscribe: false,
      // A lost connection is not re-opened here: the engine re-subscribes on the current owner.
      retryStrategy: () => null,
    });
    connection.on('smessage', (channel: string, message: string) => this.emit('message', channel, message));
    connection.on('error', (error: Error) => this.emit('error', error));
    // An unsolicited SUNSUBSCRIBE: the master gave up a slot we listen to.
    connection.on('moved', () => {
      this.#cluster.refreshSlotsCache();
      this.#lose();
    });
    connection.on('end', () => {
      if (this.#connections.get(nodeKey) !== connection) return;
      this.#connections.delete(nodeKey);
      if ([...this.#owners.values()].includes(nodeKey)) this.#lose();
    });
    this.#connections.set(nodeKey, connection);
    return connection;
  }

  #checkOwners(): void {
    for (const [slot, owner] of this.#owners) {
      if (this.#cluster.slots[slot]?.[0] !== owner) return this.#lose();
    }
  }

  /** Channels may have been dropped: tell the engine (`close`), then `ready` when it can restore them. */
  #lose(): void {
    if (this.#lost || this.#closed) return;
    this.#lost = true;
    this.#owners.clear();
    this.#channelsPerSlot.clear();
    this.emit('close');
    // After the listeners ran (they mark the feed lost), so `ready` is never heard first.
    setImmediate(() => this.#regain());
  }

  #regain(): void {
    if (!this.#lost || this.#closed || this.#cluster.status !== 'ready') return;
    this.#lost = false;
    this.emit('ready');
  }
}
