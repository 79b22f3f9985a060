/**
 * The in-memory NotifyStore: the store of a single gateway on the in-memory engine, and the
 * test double. It keeps every guarantee of types.ts within one process (a "consumer" is a
 * name, so the contract suite can play two pods against it).
 */
import type { DeadLetter, Job, LeaseState, Notification, NotifyStore, Preferences, QueueEntry, StoredPushSubscription } from './types.ts';

interface Pending {
  job: Job;
  consumer: string;
  since: number;
}

interface Expiring<T> {
  value: T;
  until: number;
}

export class MemoryNotifyStore implements NotifyStore {
  readonly #now: () => number;
  #seq = 0;
  readonly #unread: QueueEntry[] = [];
  readonly #pending = new Map<string, Pending>();
  readonly #scheduled: { job: Job; dueAt: number }[] = [];
  readonly #dead: DeadLetter[] = [];
  readonly #marks = new Map<string, Expiring<string>>();
  readonly #users = new Map<string, { email?: string; preferences?: Preferences; push: Map<string, StoredPushSubscription> }>();
  readonly #collapse = new Map<string, Expiring<string>>();
  readonly #digests = new Map<string, Notification[]>();
  readonly #followers = new Map<string, Set<string>>();
  readonly #counts = new Map<string, Expiring<number>>();
  /** Readers waiting for an entry (read with blockMs). */
  readonly #waiters = new Set<() => void>();

  constructor(options: { now?: () => number } = {}) {
    this.#now = options.now ?? Date.now;
  }

  async start(): Promise<void> {}

  async close(): Promise<void> {
    for (const wake of this.#waiters) wake();
  }

  async enqueue(jobs: readonly Job[]): Promise<void> {
    for (const job of jobs) this.#unread.push({ entryId: String(++this.#seq), job: structuredClone(job) });
    for (const wake of this.#waiters) wake();
  }

  async read(consumer: string, count: number, blockMs: number): Promise<QueueEntry[]> {
    if (this.#unread.length === 0 && blockMs > 0) {
      await new Promise<void>((resolve) => {
        const wake = () => {
          clearTimeout(timer);
          this.#waiters.delete(wake);
          resolve();
        };
        const timer = setTimeout(wake, blockMs);
        this.#waiters.add(wake);
      });
    }
    const taken = this.#unread.splice(0, count);
    for (const entry of taken) this.#pending.set(entry.entryId, { job: entry.job, consumer, since: this.#now() });
    return taken.map((entry) => ({ entryId: entry.entryId, job: structuredClone(entry.job) }));
  }

  async claimStale(consumer: string, minIdleMs: number, count: number): Promise<QueueEntry[]> {
    const claimed: QueueEntry[] = [];
    const now = this.#now();
    for (const [entryId, pending] of this.#pending) {
      if (claimed.length >= count) break;
      if (now - pending.since < minIdleMs) continue;
      pending.consumer = consumer;
      pending.since = now;
      claimed.push({ entryId, job: structuredClone(pending.job) });
    }
    return claimed;
  }

  async ack(entryId: string): Promise<void> {
    this.#pending.delete(entryId);
  }

  async schedule(job: Job, dueAt: number): Promise<void> {
    this.#scheduled.push({ job: structuredClone(job), dueAt });
  }

  async defer(entryId: string, job: Job, dueAt: number): Promise<void> {
    this.#pending.delete(entryId);
    this.#scheduled.push({ job: structuredClone(job), dueAt });
  }

  async deadLetter(entryId: string, letter: DeadLetter, max: number): Promise<void> {
    this.#pending.delete(entryId);
    this.#dead.unshift(structuredClone(letter));
    this.#dead.splice(max);
  }

  async promoteDue(now: number, max: number): Promise<number> {
    const due = this.#scheduled.filter((s) => s.dueAt <= now).sort((a, b) => a.dueAt - b.dueAt).slice(0, max);
    for (const item of due) this.#scheduled.splice(this.#scheduled.indexOf(item), 1);
    await this.enqueue(due.map((item) => item.job));
    return due.length;
  }

  async backlog(): Promise<number> {
    return this.#unread.length + this.#pending.size + this.#scheduled.length;
  }

  async deadLetters(limit: number): Promise<DeadLetter[]> {
    return structuredClone(this.#dead.slice(0, limit));
  }

  #mark(key: string): string | undefined {
    const mark = this.#marks.get(key);
    if (mark && mark.until <= this.#now()) this.#marks.delete(key);
    return this.#marks.get(key)?.value;
  }

  async firstSend(id: string, ttlMs: number): Promise<boolean> {
    const key = `send:${id}`;
    if (this.#mark(key) !== undefined) return false;
    this.#marks.set(key, { value: '1', until: this.#now() + ttlMs });
    return true;
  }

  async begin(key: string, leaseMs: number): Promise<LeaseState> {
    const mark = this.#mark(`once:${key}`);
    if (mark === 'done') return 'done';
    if (mark !== undefined) return 'busy';
    this.#marks.set(`once:${key}`, { value: 'lease', until: this.#now() + leaseMs });
    return 'acquired';
  }

  async complete(key: string, ttlMs: number): Promise<void> {
    this.#marks.set(`once:${key}`, { value: 'done', until: this.#now() + ttlMs });
  }

  async release(key: string): Promise<void> {
    if (this.#mark(`once:${key}`) !== 'done') this.#marks.delete(`once:${key}`);
  }

  async countSend(user: string, windowStart: number, windowMs: number): Promise<number> {
    const key = `${user}\0${windowStart}`;
    const current = this.#counts.get(key);
    const value = current && current.until > this.#now() ? current.value + 1 : 1;
    this.#counts.set(key, { value, until: this.#now() + 2 * windowMs });
    for (const [k, v] of this.#counts) if (v.until <= this.#now()) this.#counts.delete(k);
    return value;
  }

  async setCollapse(user: string, key: string, id: string, ttlMs: number): Promise<void> {
    this.#collapse.set(`${user}\0${key}`, { value: id, until: this.#now() + ttlMs });
  }

  async collapsed(user: string, key: string): Promise<string | undefined> {
    const entry = this.#collapse.get(`${user}\0${key}`);
    return entry && entry.until > this.#now() ? entry.value : undefined;
  }

  async addToDigest(user: string, n: Notification, max: number): Promise<boolean> {
    const list = this.#digests.get(user);
    if (list) {
      list.push(structuredClone(n));
      list.splice(0, Math.max(0, list.length - max));
      return false;
    }
    this.#digests.set(user, [structuredClone(n)]);
    return true;
  }

  async takeDigest(user: string): Promise<Notification[]> {
    const list = this.#digests.get(user) ?? [];
    this.#digests.delete(user);
    return list;
  }

  #user(user: string) {
    let entry = this.#users.get(user);
    if (!entry) this.#users.set(user, (entry = { push: new Map() }));
    return entry;
  }

  async settings(user: string) {
    const entry = this.#users.get(user);
    return structuredClone({ email: entry?.email, preferences: entry?.preferences, push: [...(entry?.push.values() ?? [])] });
  }

  async setEmail(user: string, email: string | undefined): Promise<void> {
    this.#user(user).email = email;
  }

  async setPreferences(user: string, preferences: Preferences): Promise<void> {
    this.#user(user).preferences = structuredClone(preferences);
  }

  async addPush(user: string, subscription: StoredPushSubscription, max: number): Promise<boolean> {
    const push = this.#user(user).push;
    if (!push.has(subscription.id) && push.size >= max) return false;
    push.set(subscription.id, structuredClone(subscription));
    return true;
  }

  async removePush(user: string, id: string): Promise<boolean> {
    return this.#users.get(user)?.push.delete(id) ?? false;
  }

  async followers(room: string, limit: number): Promise<string[]> {
    return [...(this.#followers.get(room) ?? [])].slice(0, limit);
  }

  async follow(room: string, user: string, maxFollowers: number): Promise<boolean> {
    let set = this.#followers.get(room);
    if (!set) this.#followers.set(room, (set = new Set()));
    if (!set.has(user) && set.size >= maxFollowers) return false;
    set.add(user);
    return true;
  }

  async unfollow(room: string, user: string): Promise<void> {
    this.#followers.get(room)?.delete(user);
  }
}
