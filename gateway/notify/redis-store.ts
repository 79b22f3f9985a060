/**
 * The Redis NotifyStore: the region's queue is one stream with one consumer group shared by
 * every pod (`XREADGROUP`), stale pending entries move to a live pod (`XAUTOCLAIM`), retries
 * and deferrals wait in a sorted set until due, dead letters in a capped list. Acked entries
 * are deleted, so the stream's length is the work not yet done. Marks (send ids, per-channel
 * idempotency, rate counts, collapse keys) are plain keys with a TTL.
 *
 * Two connections with the engine's settings: one for commands (auto-pipelined, fails fast
 * while Redis is away, like the engine's), one for the blocking read.
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { defineNotifyScripts, type NotifyScripts } from './redis-scripts.ts';
import type { DeadLetter, Job, LeaseState, Notification, NotifyStore, Preferences, QueueEntry, StoredPushSubscription } from './types.ts';

export interface RedisNotifyStoreOptions {
  url: string;
  /** Key prefix shared with the engine (`meridian`); notification keys live under `<prefix>:notify:`. */
  keyPrefix: string;
  commandTimeoutMs: number;
  connectTimeoutMs: number;
  maxReconnectDelayMs: number;
  /** A digest list nobody sent (its schedule was lost with Redis) expires after this long. */
  digestTtlMs: number;
}

const group = 'delivery';

export class RedisNotifyStore implements NotifyStore {
  readonly #command: Redis;
  readonly #reader: Redis;
  readonly #scripts: NotifyScripts;
  readonly #options: RedisNotifyStoreOptions;
  readonly #stream: string;
  readonly #schedule: string;
  readonly #dead: string;
  #groupReady = false;

  constructor(options: RedisNotifyStoreOptions) {
    this.#options = options;
    const base = `${options.keyPrefix}:notify`;
    this.#stream = `${base}:{q}:jobs`;
    this.#schedule = `${base}:{q}:scheduled`;
    this.#dead = `${base}:{q}:dead`;
    const connection = {
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      connectTimeout: options.connectTimeoutMs,
      retryStrategy: (attempt: number) => Math.min(attempt * 100, options.maxReconnectDelayMs),
    };
    this.#command = new Redis(options.url, { ...connection, commandTimeout: options.commandTimeoutMs, enableAutoPipelining: true, connectionName: 'meridian-notify' });
    // The blocking read's own timeout is set per call (block time plus the command timeout).
    this.#reader = new Redis(options.url, { ...connection, connectionName: 'meridian-notify-read' });
    for (const connection of [this.#command, this.#reader]) connection.on('error', () => {}); // reported by the failing calls
    this.#scripts = defineNotifyScripts(this.#command);
  }

  #key(kind: string, ...parts: string[]): string {
    return `${this.#options.keyPrefix}:notify:${kind}:${parts.length === 1 ? parts[0] : JSON.stringify(parts)}`;
  }

  async start(): Promise<void> {
    if (this.#command.status === 'wait') await this.#command.connect();
    if (this.#reader.status === 'wait') await this.#reader.connect();
    await this.#ensureGroup();
  }

  async #ensureGroup(): Promise<void> {
    if (this.#groupReady) return;
    try {
      await this.#command.xgroup('CREATE', this.#stream, group, '0', 'MKSTREAM');
    } catch (error) {
      if (!String((error as Error).message).includes('BUSYGROUP')) throw error;
    }
    this.#groupReady = true;
  }

  async close(): Promise<void> {
    this.#command.disconnect();
    this.#reader.disconnect();
  }

  async enqueue(jobs: readonly Job[]): Promise<void> {
    if (jobs.length === 0) return;
    const multi = this.#command.multi();
    for (const job of jobs) multi.xadd(this.#stream, '*', 'job', JSON.stringify(job));
    await multi.exec();
  }

  async read(consumer: string, count: number, blockMs: number): Promise<QueueEntry[]> {
    try {
      const reply = (await this.#withTimeout(
        this.#reader.xreadgroup('GROUP', group, consumer, 'COUNT', count, 'BLOCK', Math.max(1, blockMs), 'STREAMS', this.#stream, '>'),
        blockMs + this.#options.commandTimeoutMs,
      )) as [string, [string, string[]][]][] | null;
      return reply ? entries(reply[0][1]) : [];
    } catch (error) {
      // The group disappears with the stream (FLUSHALL, a Redis restart without persistence).
      if (String((error as Error).message).includes('NOGROUP')) this.#groupReady = false;
      await this.#ensureGroup().catch(() => {});
      throw error;
    }
  }

  async #withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        // A blocked read that does not answer holds the connection: reconnect it.
        this.#reader.disconnect(true);
        reject(new Error(`blocking read gave no answer within ${ms} ms`));
      }, ms);
    });
    try {
      return await Promise.race([promise, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  async claimStale(consumer: string, minIdleMs: number, count: number): Promise<QueueEntry[]> {
    const reply = (await this.#command.xautoclaim(this.#stream, group, consumer, minIdleMs, '0-0', 'COUNT', count)) as [string, [string, string[]][], string[]?];
    return entries(reply[1]);
  }

  async ack(entryId: string): Promise<void> {
    await this.#scripts.notifyAck(this.#stream, group, entryId);
  }

  async schedule(job: Job, dueAt: number): Promise<void> {
    await this.#command.zadd(this.#schedule, dueAt, `${randomUUID()}|${JSON.stringify(job)}`);
  }

  async defer(entryId: string, job: Job, dueAt: number): Promise<void> {
    await this.#scripts.notifyDefer(this.#stream, this.#schedule, group, entryId, dueAt, `${randomUUID()}|${JSON.stringify(job)}`);
  }

  async deadLetter(entryId: string, letter: DeadLetter, max: number): Promise<void> {
    await this.#scripts.notifyDead(this.#stream, this.#dead, group, entryId, JSON.stringify(letter), max);
  }

  async promoteDue(now: number, max: number): Promise<number> {
    return Number(await this.#scripts.notifyPromote(this.#schedule, this.#stream, now, max));
  }

  async backlog(): Promise<number> {
    const [queued, scheduled] = await Promise.all([this.#command.xlen(this.#stream), this.#command.zcard(this.#schedule)]);
    return queued + scheduled;
  }

  async deadLetters(limit: number): Promise<DeadLetter[]> {
    const items = await this.#command.lrange(this.#dead, 0, limit - 1);
    return items.map((item) => JSON.parse(item) as DeadLetter);
  }

  async firstSend(id: string, ttlMs: number): Promise<boolean> {
    return (await this.#command.set(this.#key('send', id), '1', 'PX', ttlMs, 'NX')) === 'OK';
  }

  async begin(key: string, leaseMs: number): Promise<LeaseState> {
    return (await this.#scripts.notifyBegin(this.#key('once', key), leaseMs)) as LeaseState;
  }

  async complete(key: string, ttlMs: number): Promise<void> {
    await this.#command.set(this.#key('once', key), 'done', 'PX', ttlMs);
  }

  async release(key: string): Promise<void> {
    await this.#scripts.notifyRelease(this.#key('once', key));
  }

  async countSend(user: string, windowStart: number, windowMs: number): Promise<number> {
    const key = this.#key('rate', user, String(windowStart));
    const [[, count]] = (await this.#command.multi().incr(key).pexpire(key, 2 * windowMs).exec()) as [[unknown, number], unknown];
    return count;
  }

  async setCollapse(user: string, key: string, id: string, ttlMs: number): Promise<void> {
    await this.#command.set(this.#key('collapse', user, key), id, 'PX', ttlMs);
  }

  async collapsed(user: string, key: string): Promise<string | undefined> {
    return (await this.#command.get(this.#key('collapse', user, key))) ?? undefined;
  }

  async addToDigest(user: string, n: Notification, max: number): Promise<boolean> {
    return Number(await this.#scripts.notifyDigestAdd(this.#key('digest', user), JSON.stringify(n), max, this.#options.digestTtlMs)) === 1;
  }

  async takeDigest(user: string): Promise<Notification[]> {
    const items = (await this.#scripts.notifyDigestTake(this.#key('digest', user))) as string[];
    return items.map((item) => JSON.parse(item) as Notification);
  }

  async settings(user: string) {
    const [fields, push] = await Promise.all([this.#command.hgetall(this.#key('user', user)), this.#command.hvals(this.#key('push', user))]);
    return {
      email: fields.email,
      preferences: fields.preferences ? (JSON.parse(fields.preferences) as Preferences) : undefined,
      push: push.map((item) => JSON.parse(item) as StoredPushSubscription),
    };
  }

  async setEmail(user: string, email: string | undefined): Promise<void> {
    if (email === undefined) await this.#command.hdel(this.#key('user', user), 'email');
    else await this.#command.hset(this.#key('user', user), 'email', email);
  }

  async setPreferences(user: string, preferences: Preferences): Promise<void> {
    await this.#command.hset(this.#key('user', user), 'preferences', JSON.stringify(preferences));
  }

  async addPush(user: string, subscription: StoredPushSubscription, max: number): Promise<boolean> {
    return Number(await this.#scripts.notifyBoundedHset(this.#key('push', user), subscription.id, JSON.stringify(subscription), max)) === 1;
  }

  async removePush(user: string, id: string): Promise<boolean> {
    return (await this.#command.hdel(this.#key('push', user), id)) === 1;
  }

  async followers(room: string, limit: number): Promise<string[]> {
    const members: string[] = [];
    let cursor = '0';
    do {
      const [next, batch] = await this.#command.sscan(this.#key('followers', room), cursor, 'COUNT', 500);
      members.push(...batch);
      cursor = next;
    } while (cursor !== '0' && members.length < limit);
    return members.slice(0, limit);
  }

  async follow(room: string, user: string, maxFollowers: number): Promise<boolean> {
    return Number(await this.#scripts.notifyBoundedSadd(this.#key('followers', room), user, maxFollowers)) === 1;
  }

  async unfollow(room: string, user: string): Promise<void> {
    await this.#command.srem(this.#key('followers', room), user);
  }
}

function entries(raw: [string, string[]][]): QueueEntry[] {
  const out: QueueEntry[] = [];
  for (const [entryId, fields] of raw) {
    const at = fields?.indexOf('job') ?? -1;
    if (at < 0) continue; // deleted while pending (XAUTOCLAIM reports those apart)
    out.push({ entryId, job: JSON.parse(fields[at + 1]) as Job });
  }
  return out;
}
