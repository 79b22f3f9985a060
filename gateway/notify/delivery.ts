/**
 * Runs one queued job to its end: ack it, defer it (retry, quiet hours, rate window, a lease
 * held elsewhere) or dead-letter it. Nothing here loops or waits for time: the worker reads,
 * this decides.
 *
 * - route: expired or collapsed → done. Connected anywhere (a live entry in the presence of the
 *   user's personal room, which the relay fills across regions) → the socket push and nothing
 *   else. Otherwise the preferred channels for the urgency: quiet hours defer (not `high`), the
 *   per-user rate limit defers to the next window (not `high`), low-urgency email goes to the
 *   digest, then one deliver job per target.
 * - deliver: a lease on (notification, channel, target) makes each target get it once; the
 *   done mark outlives retries and redeliveries for notify.idempotencyTtlMs.
 * - digest: the window closed; its items become one email.
 */
import type { Engine } from '../engine/types.ts';
import { personalRoom } from '../rooms.ts';
import type { EmailChannel } from './channels/email.ts';
import type { ChannelMessage, SendOutcome } from './channels/types.ts';
import type { WebhookChannel } from './channels/webhook.ts';
import type { WebPushChannel } from './channels/webpush.ts';
import type { DeliveryOutcome, NotifyMetrics, RouteDecision } from './metrics.ts';
import { backoffMs, quietUntil, windowStart } from './schedule.ts';
import { defaultPreferences, type NotifySettings } from './settings.ts';
import { notificationMidPrefix } from './socket-push.ts';
import type { Channel, Job, Notification, NotifyStore, QueueEntry } from './types.ts';

export interface ChannelSenders {
  push?: WebPushChannel;
  email?: EmailChannel;
  webhook?: WebhookChannel;
}

export interface DeliveryDeps {
  settings: NotifySettings;
  store: NotifyStore;
  engine: Engine;
  channels: ChannelSenders;
  metrics: NotifyMetrics;
  logger: { warn(obj: object, msg: string): void; info(obj: object, msg: string): void };
  now: () => number;
  random: () => number;
}

type DeliverJob = Extract<Job, { kind: 'deliver' }>;
type RouteJob = Extract<Job, { kind: 'route' }>;

export class Delivery {
  readonly #deps: DeliveryDeps;

  constructor(deps: DeliveryDeps) {
    this.#deps = deps;
  }

  /** Which channels this gateway can send on (configured). */
  get configuredChannels(): Channel[] {
    const { push, email, webhook } = this.#deps.channels;
    return [push && 'push', email && 'email', webhook && 'webhook'].filter(Boolean) as Channel[];
  }

  async run(entry: QueueEntry): Promise<void> {
    const { job } = entry;
    if (job.kind === 'route') return this.#route(entry.entryId, job);
    if (job.kind === 'deliver') return this.#deliver(entry.entryId, job);
    return this.#digest(entry.entryId, job.user);
  }

  #expired(n: Notification): boolean {
    return this.#deps.now() > n.ts + n.ttlSec * 1000;
  }

  async #superseded(user: string, n: Notification): Promise<boolean> {
    if (!n.collapseKey) return false;
    const newest = await this.#deps.store.collapsed(user, n.collapseKey);
    return newest !== undefined && newest !== n.id;
  }

  #decided(decision: RouteDecision): void {
    this.#deps.metrics.routed.inc({ decision });
  }

  async #route(entryId: string, job: RouteJob): Promise<void> {
    const { store, engine, settings, now } = this.#deps;
    const { user, n } = job;
    if (this.#expired(n)) return this.#decideAck(entryId, 'expired');
    if (await this.#superseded(user, n)) return this.#decideAck(entryId, 'collapsed');
    const room = personalRoom(user);
    let online: boolean;
    try {
      online = (await engine.presence.count(room)) > 0;
      if (online) {
        await engine.broker.publish({ room, mid: notificationMidPrefix + n.id, data: n, region: settings.region, ts: now() });
        this.#deps.metrics.deliveries.inc({ channel: 'socket', outcome: 'delivered' });
        this.#deps.metrics.deliverSeconds.observe({ channel: 'socket' }, (now() - n.ts) / 1000);
        return this.#decideAck(entryId, 'socket');
      }
    } catch (error) {
      // The engine is unreachable: routing waits for it rather than guessing "offline".
      this.#decided('retry');
      return this.#retry(entryId, job, `engine: ${(error as Error).message}`, 'socket');
    }
    const stored = await store.settings(user);
    const preferences = stored.preferences ?? defaultPreferences(settings);
    const configured = this.configuredChannels;
    let wanted = preferences.channels[n.urgency].filter((c) => configured.includes(c));
    if (!stored.email) wanted = wanted.filter((c) => c !== 'email');
    if (stored.push.length === 0) wanted = wanted.filter((c) => c !== 'push');
    if (wanted.length === 0) return this.#decideAck(entryId, 'no_channel');
    if (n.urgency !== 'high') {
      const quietEnd = quietUntil(preferences.quietHours, now());
      if (quietEnd !== undefined) {
        this.#decided('quiet_hours');
        return store.defer(entryId, job, quietEnd);
      }
      const start = windowStart(now(), settings.rateWindowMs);
      if ((await store.countSend(user, start, settings.rateWindowMs)) > settings.rateLimitPerUser) {
        this.#decided('rate_limited');
        return store.defer(entryId, job, start + settings.rateWindowMs + Math.floor(this.#deps.random() * 1000));
      }
    }
    if (preferences.digest && (n.urgency === 'low' || n.urgency === 'very-low') && wanted.includes('email')) {
      wanted = wanted.filter((c) => c !== 'email');
      if (await store.addToDigest(user, n, settings.digestMaxItems)) {
        await store.schedule({ kind: 'digest', user, attempt: 0 }, now() + settings.digestWindowMs);
      }
      this.#decided('digest');
    }
    const jobs: Job[] = [];
    for (const channel of wanted) {
      if (channel === 'push') for (const sub of stored.push) jobs.push({ kind: 'deliver', user, n, channel, target: sub.id, attempt: 0 });
      if (channel === 'email') jobs.push({ kind: 'deliver', user, n, channel, target: stored.email!, attempt: 0 });
      if (channel === 'webhook') jobs.push({ kind: 'deliver', user, n, channel, target: 'tenant', attempt: 0 });
    }
    await store.enqueue(jobs);
    if (jobs.length > 0) this.#decided('channels');
    await store.ack(entryId);
  }

  async #decideAck(entryId: string, decision: RouteDecision): Promise<void> {
    this.#decided(decision);
    await this.#deps.store.ack(entryId);
  }

  async #deliver(entryId: string, job: DeliverJob): Promise<void> {
    const { store, settings, metrics, now } = this.#deps;
    const { n, channel } = job;
    const count = (outcome: DeliveryOutcome) => metrics.deliveries.inc({ channel, outcome });
    if (!job.digest && this.#expired(n)) {
      count('expired');
      return store.ack(entryId);
    }
    if (!job.digest && (await this.#superseded(job.user, n))) {
      count('collapsed');
      return store.ack(entryId);
    }
    const key = `${n.id}:${channel}:${job.target}`;
    const lease = await store.begin(key, settings.claimIdleMs);
    if (lease === 'done') {
      count('duplicate');
      return store.ack(entryId);
    }
    // Another pod holds it (or a dead pod did): look again once its lease has run out.
    if (lease === 'busy') return store.defer(entryId, job, now() + settings.claimIdleMs);
    let outcome: SendOutcome;
    try {
      outcome = await this.#send(job, key);
    } catch (error) {
      outcome = { kind: 'retry', reason: `unexpected: ${(error as Error).message}` };
    }
    if (outcome.kind === 'delivered') {
      await store.complete(key, settings.idempotencyTtlMs);
      count('delivered');
      metrics.deliverSeconds.observe({ channel }, (now() - n.ts) / 1000);
      return store.ack(entryId);
    }
    await store.release(key);
    if (outcome.kind === 'gone') {
      count('gone');
      if (channel === 'push') await store.removePush(job.user, job.target);
      return store.ack(entryId);
    }
    if (outcome.kind === 'failed') return this.#dead(entryId, job, outcome.reason, channel);
    return this.#retry(entryId, job, outcome.reason, channel);
  }

  async #send(job: DeliverJob, idempotencyKey: string): Promise<SendOutcome> {
    const { channels, store } = this.#deps;
    const message: ChannelMessage = { user: job.user, n: job.n, idempotencyKey, digest: job.digest };
    if (job.channel === 'webhook') return channels.webhook ? channels.webhook.send(message) : { kind: 'failed', reason: 'webhook channel not configured' };
    if (job.channel === 'email') return channels.email ? channels.email.send(job.target, message) : { kind: 'failed', reason: 'email channel not configured' };
    if (!channels.push) return { kind: 'failed', reason: 'push channel not configured' };
    const subscription = (await store.settings(job.user)).push.find((s) => s.id === job.target);
    if (!subscription) return { kind: 'gone', reason: 'subscription removed' };
    return channels.push.send(subscription, message);
  }

  async #retry(entryId: string, job: Job, reason: string, channel: string): Promise<void> {
    const { store, settings, metrics, now, random } = this.#deps;
    const attempt = job.attempt + 1;
    if (attempt >= settings.maxAttempts) return this.#dead(entryId, job, `${reason} (after ${attempt} attempts)`, channel);
    metrics.deliveries.inc({ channel, outcome: 'retry' });
    await store.defer(entryId, { ...job, attempt }, now() + backoffMs(attempt, settings.retryInitialMs, settings.retryMaxMs, random));
  }

  async #dead(entryId: string, job: Job, reason: string, channel: string): Promise<void> {
    const { store, settings, metrics, now, logger } = this.#deps;
    metrics.deliveries.inc({ channel, outcome: 'dead_letter' });
    // The reason names a status or an error kind, never a secret or the message body.
    logger.warn({ channel, user: job.user, notification: 'n' in job ? job.n.id : undefined, reason }, 'notification moved to dead letters');
    await store.deadLetter(entryId, { job, reason, at: now() }, settings.deadLetterMax);
  }

  async #digest(entryId: string, user: string): Promise<void> {
    const { store } = this.#deps;
    const address = (await store.settings(user)).email;
    const items = await store.takeDigest(user);
    if (items.length === 0 || !address) {
      this.#decided('no_channel');
      return store.ack(entryId);
    }
    const n: Notification = {
      id: `digest-${items[0].id}`,
      title: items.length === 1 ? items[0].title : `${items.length} notifications`,
      body: items.map((item) => item.title).join('\n'),
      urgency: 'low',
      ttlSec: Math.max(...items.map((item) => item.ttlSec)),
      ts: items[0].ts,
    };
    await store.enqueue([{ kind: 'deliver', user, n, channel: 'email', target: address, attempt: 0, digest: items }]);
    await store.ack(entryId);
  }
}
