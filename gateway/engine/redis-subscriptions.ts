/**
 * Which room channels the subscriber connection listens to, kept in step with what the hub
 * wants, in batches.
 *
 * Requests made in the same tick (and while a batch is in flight) are coalesced into one
 * batch: the difference between the rooms wanted and the rooms subscribed is sent as
 * SUBSCRIBE / UNSUBSCRIBE commands of at most `batchSize` channels. Batches run one at a time,
 * so the commands reach Redis in request order. On a Redis Cluster (sharded pub/sub) a command
 * may only name channels of one hash slot: the connection says which slot a channel is in
 * (`slotOf`), and the channels are grouped by slot before they are cut into commands.
 *
 * A subscribe that fails (Redis down) rejects with EngineUnavailableError and leaves its rooms
 * unsubscribed. An unsubscribe never fails: a lost connection has dropped its channels anyway.
 * After a reconnect, `restore()` subscribes every wanted room again.
 */
import type { Logger } from 'pino';
import { EngineUnavailableError } from './types.ts';

/** The part of an ioredis connection this needs. */
export interface SubscriberConnection {
  readonly status: string;
  subscribe(...channels: string[]): Promise<unknown>;
  unsubscribe(...channels: string[]): Promise<unknown>;
  /** Sharded pub/sub only: the hash slot of a channel; one command names channels of one slot. */
  slotOf?(channel: string): number;
}

interface Batch {
  generation: number;
  done: Promise<void>;
  resolve(): void;
  reject(error: Error): void;
}

function newBatch(generation: number): Batch {
  let resolve!: () => void;
  let reject!: (error: Error) => void;
  const done = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  // A batch nobody awaits (only unsubscribes) must not surface as an unhandled rejection.
  done.catch(() => undefined);
  return { generation, done, resolve, reject };
}

export class RoomSubscriptions {
  readonly #connection: SubscriberConnection;
  readonly #channel: (room: string) => string;
  readonly #batchSize: number;
  readonly #logger: Logger;
  /** Rooms the hub wants, with the batch generation that last asked for each. */
  readonly #wanted = new Map<string, number>();
  /** Rooms subscribed on the current connection. */
  readonly #active = new Set<string>();
  #next: Batch | undefined;
  #generation = 0;
  #chain: Promise<void> = Promise.resolve();

  constructor(connection: SubscriberConnection, channel: (room: string) => string, batchSize: number, logger: Logger) {
    this.#connection = connection;
    this.#channel = channel;
    this.#batchSize = batchSize;
    this.#logger = logger;
  }

  /** True when the room's messages should be delivered. */
  wants(room: string): boolean {
    return this.#wanted.has(room);
  }

  wantedRooms(): string[] {
    return [...this.#wanted.keys()];
  }

  get activeCount(): number {
    return this.#active.size;
  }

  subscribe(rooms: readonly string[]): Promise<void> {
    const batch = this.#schedule();
    for (const room of rooms) this.#wanted.set(room, batch.generation);
    return batch.done;
  }

  unsubscribe(rooms: readonly string[]): Promise<void> {
    const batch = this.#schedule();
    for (const room of rooms) this.#wanted.delete(room);
    // Unsubscribing cannot fail for the caller; the batch logs what went wrong.
    return batch.done.catch(() => undefined);
  }

  /** The connection dropped: Redis forgot every channel of it. */
  connectionLost(): void {
    this.#active.clear();
  }

  /** Subscribes every wanted room again (after a reconnect); resolves with the rooms restored. */
  async restore(): Promise<string[]> {
    await this.#schedule().done;
    return this.wantedRooms().filter((room) => this.#active.has(room));
  }

  #schedule(): Batch {
    if (this.#next) return this.#next;
    const batch = newBatch(++this.#generation);
    this.#next = batch;
    // setImmediate: every request of this tick joins the batch before it runs.
    setImmediate(() => {
      this.#chain = this.#chain.then(() => this.#run(batch));
    });
    return batch;
  }

  async #run(batch: Batch): Promise<void> {
    if (this.#next === batch) this.#next = undefined;
    try {
      await this.#sync();
      batch.resolve();
    } catch (error) {
      const failed: string[] = [];
      for (const [room, generation] of this.#wanted) {
        if (generation === batch.generation && !this.#active.has(room)) failed.push(room);
      }
      for (const room of failed) this.#wanted.delete(room);
      this.#logger.warn({ engine: 'redis', err: error, rooms: failed.length }, 'room subscription failed');
      batch.reject(error instanceof EngineUnavailableError ? error : new EngineUnavailableError('Redis subscribe failed', { cause: error }));
    }
  }

  async #sync(): Promise<void> {
    const toUnsubscribe = [...this.#active].filter((room) => !this.#wanted.has(room));
    const toSubscribe = [...this.#wanted.keys()].filter((room) => !this.#active.has(room));
    for (const chunk of this.#commands(toUnsubscribe)) {
      // Forget them first: a message racing the UNSUBSCRIBE is dropped by `wants` anyway.
      for (const room of chunk) this.#active.delete(room);
      if (this.#connection.status === 'ready') await this.#connection.unsubscribe(...chunk.map(this.#channel));
    }
    if (toSubscribe.length > 0 && this.#connection.status !== 'ready') {
      throw new EngineUnavailableError(`Redis subscriber connection is ${this.#connection.status}`);
    }
    // Every command is tried, so the rooms of a healthy shard are subscribed while another
    // shard is away; the first failure is reported after.
    let failure: unknown;
    for (const chunk of this.#commands(toSubscribe)) {
      try {
        await this.#connection.subscribe(...chunk.map(this.#channel));
        for (const room of chunk) this.#active.add(room);
      } catch (error) {
        failure ??= error;
      }
    }
    if (failure !== undefined) throw failure;
  }

  /** Rooms cut into commands of at most `batchSize` channels, each of one slot when sharded. */
  *#commands(rooms: readonly string[]): Generator<string[]> {
    const slotOf = this.#connection.slotOf?.bind(this.#connection);
    const groups = new Map<number, string[]>();
    if (!slotOf) groups.set(0, [...rooms]);
    else {
      for (const room of rooms) {
        const slot = slotOf(this.#channel(room));
        const group = groups.get(slot);
        if (group) group.push(room);
        else groups.set(slot, [room]);
      }
    }
    for (const group of groups.values()) {
      for (let i = 0; i < group.length; i += this.#batchSize) yield group.slice(i, i + this.#batchSize);
    }
  }
}
