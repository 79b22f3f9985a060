/**
 * Builds the notification module from the gateway config: the store (Redis with the engine's
 * connection settings when `redisUrl` is set, memory otherwise), the configured channels and
 * the notifier. Only wiring lives here.
 */
import { randomBytes } from 'node:crypto';
import type { Agent } from 'node:https';
import type { Logger } from 'pino';
import type { GatewayConfig } from '../config.ts';
import type { Engine } from '../engine/types.ts';
import { EmailChannel } from './channels/email.ts';
import { WebhookChannel } from './channels/webhook.ts';
import { WebPushChannel } from './channels/webpush.ts';
import type { ChannelSenders } from './delivery.ts';
import { MemoryNotifyStore } from './memory-store.ts';
import { NotifyMetrics } from './metrics.ts';
import { Notifier } from './notifier.ts';
import { RedisNotifyStore } from './redis-store.ts';
import { channelList, type NotifySettings } from './settings.ts';
import type { NotifyStore } from './types.ts';

/** Injected by tests and benchmarks: a clock, randomness, a store, TLS toward push services. */
export interface NotifyOverrides {
  now?: () => number;
  random?: () => number;
  store?: NotifyStore;
  pushAgent?: Agent;
}

/** A digest list outlives its window by far; only a lost schedule leaves one behind. */
const digestTtlFactor = 4;

export function notifySettings(config: GatewayConfig): NotifySettings {
  const n = config.notify;
  return {
    region: config.region,
    consumer: `${config.node}-${process.pid}-${randomBytes(3).toString('hex')}`,
    maxAttempts: n.maxAttempts,
    retryInitialMs: n.retryInitialMs,
    retryMaxMs: n.retryMaxMs,
    claimIdleMs: n.claimIdleMs,
    pollMs: n.pollMs,
    concurrency: n.concurrency,
    rateLimitPerUser: n.rateLimitPerUser,
    rateWindowMs: n.rateWindowMs,
    digestWindowMs: n.digestWindowMs,
    digestMaxItems: n.digestMaxItems,
    idempotencyTtlMs: n.idempotencyTtlMs,
    deadLetterMax: n.deadLetterMax,
    maxBacklog: n.maxBacklog,
    maxRecipients: n.maxRecipients,
    maxRoomFollowers: n.maxRoomFollowers,
    maxPushSubscriptions: n.maxPushSubscriptions,
    defaultTtlSec: n.defaultTtlSec,
    maxTtlSec: n.maxTtlSec,
    maxTitleLength: n.maxTitleLength,
    maxBodyLength: n.maxBodyLength,
    maxRoomNameLength: config.limits.maxRoomNameLength,
    defaultChannels: {
      high: channelList(n.defaultChannels.high),
      normal: channelList(n.defaultChannels.normal),
      low: channelList(n.defaultChannels.low),
      'very-low': channelList(n.defaultChannels.veryLow),
    },
    defaultDigest: n.defaultDigest,
  };
}

export function createNotifier(config: GatewayConfig, engine: Engine, logger: Logger, overrides: NotifyOverrides = {}): Notifier {
  const now = overrides.now ?? Date.now;
  const n = config.notify;
  const settings = notifySettings(config);
  const store =
    overrides.store ??
    (config.redisUrl
      ? new RedisNotifyStore({
          url: config.redisUrl,
          // The region's Redis settings (redis.*), so a key prefix keeps deployments apart here too.
          keyPrefix: config.redis.keyPrefix,
          commandTimeoutMs: config.redis.commandTimeoutMs,
          connectTimeoutMs: config.redis.connectTimeoutMs,
          maxReconnectDelayMs: config.redis.maxReconnectDelayMs,
          digestTtlMs: n.digestWindowMs * digestTtlFactor,
        })
      : new MemoryNotifyStore({ now }));
  const channels: ChannelSenders = {};
  if (n.push.vapidPublicKey && n.push.vapidPrivateKey && n.push.subject) {
    channels.push = new WebPushChannel({ publicKey: n.push.vapidPublicKey, privateKey: n.push.vapidPrivateKey, subject: n.push.subject, timeoutMs: n.push.timeoutMs, agent: overrides.pushAgent }, now);
  }
  if (n.email.smtpUrl && n.email.from) {
    channels.email = new EmailChannel({ smtpUrl: n.email.smtpUrl, user: n.email.user, password: n.email.password, from: n.email.from, timeoutMs: n.email.timeoutMs });
  }
  if (n.webhook.url && n.webhook.secret) channels.webhook = new WebhookChannel({ url: n.webhook.url, secret: n.webhook.secret, timeoutMs: n.webhook.timeoutMs }, now);
  const metrics = new NotifyMetrics(() => store.backlog());
  return new Notifier({ settings, store, engine, channels, metrics, logger: logger.child({ component: 'notify' }), now, random: overrides.random });
}

export { Notifier } from './notifier.ts';
export { MemoryNotifyStore } from './memory-store.ts';
export { RedisNotifyStore } from './redis-store.ts';
export { isNotifyOp, notifyOps, serveNotifyOp, type NotifyOp } from './socket-ops.ts';
export { isNotifyPath, serveNotifyHttp } from './http-routes.ts';
export { isNotificationPublication, notificationView } from './socket-push.ts';
export { parseRoomRules, withRoomRules } from './room-rules.ts';
export { webhookSignature } from './channels/webhook.ts';
