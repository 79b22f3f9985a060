/**
 * The notification module's one facade: what the HTTP API and the socket ops call (send,
 * channel settings, room follows, dead letters), plus the pod's worker. Transports parse their
 * framing and call this; the rules live in delivery.ts.
 */
import { gatewayError } from '../errors.ts';
import { Delivery, type ChannelSenders } from './delivery.ts';
import type { NotifyMetrics } from './metrics.ts';
import { checkUser, mergePreferences, parseEmail, parsePushSubscription, parseSendRequest, requireObject, type SendRequest } from './model.ts';
import { defaultPreferences, type NotifySettings } from './settings.ts';
import type { DeadLetter, Job, NotifyStore, UserSettings } from './types.ts';
import { NotifyWorker } from './worker.ts';
import type { Engine } from '../engine/types.ts';

export interface NotifierDeps {
  settings: NotifySettings;
  store: NotifyStore;
  engine: Engine;
  channels: ChannelSenders;
  metrics: NotifyMetrics;
  logger: { warn(obj: object, msg: string): void; info(obj: object, msg: string): void; error(obj: object, msg: string): void };
  now?: () => number;
  random?: () => number;
}

export interface SendResult {
  id: string;
  recipients: number;
  duplicate: boolean;
}

export class Notifier {
  readonly #deps: NotifierDeps & { now: () => number };
  readonly #worker: NotifyWorker;
  readonly #delivery: Delivery;

  constructor(deps: NotifierDeps) {
    const now = deps.now ?? Date.now;
    this.#deps = { ...deps, now };
    this.#delivery = new Delivery({ ...deps, now, random: deps.random ?? Math.random });
    this.#worker = new NotifyWorker({ ...deps, now, delivery: this.#delivery });
  }

  get metrics(): NotifyMetrics {
    return this.#deps.metrics;
  }

  async start(): Promise<void> {
    await this.#deps.store.start();
    this.#worker.start();
  }

  async stop(deadlineMs = 5000): Promise<void> {
    await this.#worker.stop(deadlineMs);
    this.#deps.channels.email?.close();
    await this.#deps.store.close();
  }

  /** Parses and queues a notification (HTTP body or a room rule's); one route job per recipient. */
  async send(body: unknown, source: 'api' | 'rule' = 'api', exclude?: string): Promise<SendResult> {
    const { settings, store, now } = this.#deps;
    const request: SendRequest = parseSendRequest(body, settings, now());
    const { n } = request;
    const users = new Set(request.users);
    if (request.room) for (const user of await store.followers(request.room, settings.maxRecipients)) users.add(user);
    if (exclude !== undefined) users.delete(exclude);
    const recipients = [...users].slice(0, settings.maxRecipients);
    if ((await store.backlog()) + recipients.length > settings.maxBacklog) {
      throw gatewayError('OVERLOADED', `the notification queue holds notify.maxBacklog (${settings.maxBacklog}) jobs; retry later`);
    }
    if (!(await store.firstSend(n.id, settings.idempotencyTtlMs))) return { id: n.id, recipients: 0, duplicate: true };
    if (n.collapseKey) await Promise.all(recipients.map((user) => store.setCollapse(user, n.collapseKey!, n.id, n.ttlSec * 1000 + settings.idempotencyTtlMs)));
    const jobs: Job[] = recipients.map((user) => ({ kind: 'route', user, n, attempt: 0 }));
    await store.enqueue(jobs);
    this.#deps.metrics.accepted.inc({ source }, recipients.length);
    return { id: n.id, recipients: recipients.length, duplicate: false };
  }

  async settingsOf(user: string): Promise<UserSettings> {
    const stored = await this.#deps.store.settings(checkUser(user));
    return { email: stored.email, preferences: stored.preferences ?? defaultPreferences(this.#deps.settings), push: stored.push };
  }

  /** `{email?: string|null, preferences?: {...}}`; returns the settings after the change. */
  async updateSettings(user: string, body: unknown): Promise<UserSettings> {
    const fields = requireObject(body, 'settings');
    for (const key of Object.keys(fields)) if (key !== 'email' && key !== 'preferences') throw gatewayError('BAD_REQUEST', `${key} is not a setting (email, preferences)`);
    const current = await this.settingsOf(user);
    const preferences = fields.preferences === undefined ? undefined : mergePreferences(current.preferences, fields.preferences);
    const email = fields.email === undefined ? undefined : { value: parseEmail(fields.email) };
    if (preferences) await this.#deps.store.setPreferences(user, preferences);
    if (email) await this.#deps.store.setEmail(user, email.value);
    return this.settingsOf(user);
  }

  async addPush(user: string, subscription: unknown): Promise<{ id: string }> {
    const stored = parsePushSubscription(subscription, this.#deps.now());
    const max = this.#deps.settings.maxPushSubscriptions;
    if (!(await this.#deps.store.addPush(checkUser(user), stored, max))) throw gatewayError('LIMIT_EXCEEDED', `a user holds at most ${max} push subscriptions (notify.maxPushSubscriptions); remove one first`);
    return { id: stored.id };
  }

  async removePush(user: string, id: unknown): Promise<{ id: string; removed: boolean }> {
    if (typeof id !== 'string' || id.length === 0 || id.length > 64) throw gatewayError('BAD_REQUEST', 'id must be a push subscription id');
    return { id, removed: await this.#deps.store.removePush(checkUser(user), id) };
  }

  async follow(user: string, room: string): Promise<void> {
    const max = this.#deps.settings.maxRoomFollowers;
    if (!(await this.#deps.store.follow(room, user, max))) throw gatewayError('LIMIT_EXCEEDED', `room ${room} has notify.maxRoomFollowers (${max}) followers`);
  }

  async unfollow(user: string, room: string): Promise<void> {
    await this.#deps.store.unfollow(room, user);
  }

  deadLetters(limit: number): Promise<DeadLetter[]> {
    return this.#deps.store.deadLetters(limit);
  }
}
