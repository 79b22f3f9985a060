/**
 * Notifications: the model and the store seam.
 *
 * A notification is sent once (HTTP API or a room rule) to users; each recipient gets it over
 * the socket when connected anywhere, otherwise on the channels its preferences name for the
 * notification's urgency (Web Push, email, the tenant webhook). The work is queued in the
 * region's store and done by whichever pod of the region reads it.
 *
 * Guarantees every NotifyStore gives (test/notify-store-contract.ts runs against each):
 * - At least once: an entry stays pending until it is acked, deferred or dead-lettered; a
 *   pending entry idle longer than the claim idle time can be claimed by another consumer, so
 *   a consumer that dies loses nothing.
 * - `defer` and `deadLetter` remove the pending entry and keep the job in one step: a job is
 *   never both pending and scheduled, and never neither.
 * - Due scheduled jobs become readable entries again (`promoteDue`), each once.
 * - `begin(key)` is a lease: one holder at a time; `complete` turns it into a done mark kept
 *   for the idempotency TTL, so a job delivered once per (notification, channel, target) is
 *   skipped when it comes round again.
 */

export const urgencies = ['very-low', 'low', 'normal', 'high'] as const;
export type Urgency = (typeof urgencies)[number];

export const channels = ['push', 'email', 'webhook'] as const;
export type Channel = (typeof channels)[number];

/** What a sender asked for; the same object goes to every recipient and channel. */
export interface Notification {
  /** Unique per notification; a send with an id already used is a duplicate. */
  id: string;
  title: string;
  body: string;
  link?: string;
  data?: unknown;
  urgency: Urgency;
  /** A newer notification with the same key replaces an older one not yet delivered. */
  collapseKey?: string;
  /** Seconds the notification stays worth delivering; past it, it is dropped as expired. */
  ttlSec: number;
  /** Milliseconds since the Unix epoch when it was sent. */
  ts: number;
}

/** Quiet hours in the user's own time zone: "HH:MM" to "HH:MM" (may span midnight). */
export interface QuietHours {
  start: string;
  end: string;
  timeZone: string;
}

export interface Preferences {
  /** Channels used, per urgency, when the user is not connected. */
  channels: Record<Urgency, Channel[]>;
  quietHours?: QuietHours;
  /** Low and very-low urgency emails are batched into one digest email per window. */
  digest: boolean;
}

/** A Web Push subscription as the browser's PushManager returns it. */
export interface PushSubscription {
  endpoint: string;
  keys: { p256dh: string; auth: string };
}

export interface StoredPushSubscription extends PushSubscription {
  /** Derived from the endpoint: a renewed subscription (new endpoint) has a new id. */
  id: string;
  createdAt: number;
}

export interface UserSettings {
  email?: string;
  preferences: Preferences;
  push: StoredPushSubscription[];
}

/** One unit of queued work. */
export type Job =
  /** Decide, for one recipient, socket or channels (presence, preferences, quiet hours, rate). */
  | { kind: 'route'; user: string; n: Notification; attempt: number }
  /** Deliver to one channel target (a push subscription id, the email address, the webhook). */
  | { kind: 'deliver'; user: string; n: Notification; channel: Channel; target: string; attempt: number; digest?: Notification[] }
  /** Send the user's digest email (the window closed). */
  | { kind: 'digest'; user: string; attempt: number };

export interface QueueEntry {
  /** Store-assigned id of this entry (a stream id in Redis). */
  entryId: string;
  job: Job;
}

export interface DeadLetter {
  job: Job;
  reason: string;
  at: number;
}

export type LeaseState = 'acquired' | 'done' | 'busy';

export interface NotifyStore {
  /** Connect; idempotent. */
  start(): Promise<void>;
  close(): Promise<void>;

  enqueue(jobs: readonly Job[]): Promise<void>;
  /** New entries for `consumer`, at most `count`; waits up to `blockMs` when there are none. */
  read(consumer: string, count: number, blockMs: number): Promise<QueueEntry[]>;
  /** Entries pending on any consumer for longer than `minIdleMs`, now pending on `consumer`. */
  claimStale(consumer: string, minIdleMs: number, count: number): Promise<QueueEntry[]>;
  ack(entryId: string): Promise<void>;
  /** Schedules a new job at `dueAt`. */
  schedule(job: Job, dueAt: number): Promise<void>;
  /** Acks the entry and schedules `job` at `dueAt`. */
  defer(entryId: string, job: Job, dueAt: number): Promise<void>;
  /** Acks the entry and records the job in the dead-letter list (the newest `max` are kept). */
  deadLetter(entryId: string, letter: DeadLetter, max: number): Promise<void>;
  /** Moves scheduled jobs due by `now` into the queue; returns how many. */
  promoteDue(now: number, max: number): Promise<number>;
  /** Entries not yet acked plus scheduled jobs: the queue's size against its bound. */
  backlog(): Promise<number>;
  deadLetters(limit: number): Promise<DeadLetter[]>;

  /** Marks a send id as seen; false when it was seen within `ttlMs` (a duplicate send). */
  firstSend(id: string, ttlMs: number): Promise<boolean>;
  begin(key: string, leaseMs: number): Promise<LeaseState>;
  complete(key: string, ttlMs: number): Promise<void>;
  release(key: string): Promise<void>;

  /** Counts one notification for `user` in the window starting at `windowStart`; returns the count. */
  countSend(user: string, windowStart: number, windowMs: number): Promise<number>;
  /** Records `id` as the newest notification of (user, collapse key). */
  setCollapse(user: string, key: string, id: string, ttlMs: number): Promise<void>;
  collapsed(user: string, key: string): Promise<string | undefined>;
  /** Adds to the user's digest; returns true when this opened a new digest (schedule its send). */
  addToDigest(user: string, n: Notification, max: number): Promise<boolean>;
  /** Takes (and clears) the user's digest. */
  takeDigest(user: string): Promise<Notification[]>;

  settings(user: string): Promise<{ email?: string; preferences?: Preferences; push: StoredPushSubscription[] }>;
  setEmail(user: string, email: string | undefined): Promise<void>;
  setPreferences(user: string, preferences: Preferences): Promise<void>;
  /** Adds or replaces (same id) a subscription; false when the user already holds `max` others. */
  addPush(user: string, subscription: StoredPushSubscription, max: number): Promise<boolean>;
  /** Removes by id; false when there was none. */
  removePush(user: string, id: string): Promise<boolean>;

  /** Users following a room's notifications (at most `limit`). */
  followers(room: string, limit: number): Promise<string[]>;
  /** False when the room already has `maxFollowers`. */
  follow(room: string, user: string, maxFollowers: number): Promise<boolean>;
  unfollow(room: string, user: string): Promise<void>;
}
