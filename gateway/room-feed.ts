/**
 * Keeps the engine's broker subscribed to exactly the rooms that have local members, batching
 * changes: every `want`/`unwant` made in the same tick goes to the broker in one call, so a
 * reconnect storm of thousands of subscribes costs a few broker round trips, not thousands.
 * Calls are serialised, so an unsubscribe never overtakes a later subscribe of the same room.
 */
import type { Broker } from './engine/types.ts';

interface Waiter {
  resolve(): void;
  reject(error: unknown): void;
}

export class RoomFeed {
  private readonly broker: Broker;
  private readonly batchSize: number;
  private readonly onUnsubscribeError: (error: unknown, rooms: string[]) => void;
  private readonly toSubscribe = new Map<string, Waiter[]>();
  private readonly toUnsubscribe = new Set<string>();
  private scheduled = false;
  private chain: Promise<void> = Promise.resolve();

  /** `onUnsubscribeError` reports failed unsubscribes, which only cost deliveries the hub ignores. */
  constructor(broker: Broker, batchSize: number, onUnsubscribeError: (error: unknown, rooms: string[]) => void) {
    this.broker = broker;
    this.batchSize = batchSize;
    this.onUnsubscribeError = onUnsubscribeError;
  }

  /** Resolves once the broker delivers the room's publications. */
  want(room: string): Promise<void> {
    this.toUnsubscribe.delete(room);
    return new Promise((resolve, reject) => {
      const waiters = this.toSubscribe.get(room) ?? [];
      waiters.push({ resolve, reject });
      this.toSubscribe.set(room, waiters);
      this.schedule();
    });
  }

  /**
   * The room has no local member left. A subscribe still pending for it is dropped (its waiters
   * resolve: the member that asked is gone), and the broker is told to stop, which is harmless
   * if it never started.
   */
  unwant(room: string): void {
    const waiters = this.toSubscribe.get(room);
    if (waiters) {
      this.toSubscribe.delete(room);
      for (const w of waiters) w.resolve();
    }
    this.toUnsubscribe.add(room);
    this.schedule();
  }

  /** Resolves when every change requested so far has been applied (or failed). */
  settled(): Promise<void> {
    return this.chain;
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      const subscribe = new Map(this.toSubscribe);
      const unsubscribe = [...this.toUnsubscribe];
      this.toSubscribe.clear();
      this.toUnsubscribe.clear();
      this.chain = this.chain.then(() => this.apply(subscribe, unsubscribe));
    });
  }

  private async apply(subscribe: Map<string, Waiter[]>, unsubscribe: string[]): Promise<void> {
    for (const rooms of chunks(unsubscribe, this.batchSize)) {
      try {
        await this.broker.unsubscribe(rooms);
      } catch (error) {
        this.onUnsubscribeError(error, rooms);
      }
    }
    for (const rooms of chunks([...subscribe.keys()], this.batchSize)) {
      try {
        await this.broker.subscribe(rooms);
        for (const room of rooms) for (const w of subscribe.get(room)!) w.resolve();
      } catch (error) {
        for (const room of rooms) for (const w of subscribe.get(room)!) w.reject(error);
      }
    }
  }
}

function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}
