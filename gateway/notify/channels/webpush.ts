/**
 * Web Push through the `web-push` library: VAPID (RFC 8292) signs a JWT for the push service's
 * origin, the payload is encrypted for the subscription's keys (RFC 8291, aes128gcm), and the
 * headers carry TTL, Urgency and Topic (the collapse key) per RFC 8030.
 *
 * 404 and 410 mean "stop using this subscription" (push services differ on which they send);
 * 429, 408 and 5xx are temporary; other 4xx (413: payload too large, 400, 401/403: bad VAPID)
 * are permanent for this message.
 */
import type { Agent } from 'node:https';
import webpush from 'web-push';
import type { StoredPushSubscription } from '../types.ts';
import { pushPayload, remainingTtlSec, type ChannelMessage, type SendOutcome } from './types.ts';

export interface WebPushSettings {
  publicKey: string;
  /** Secret: never logged. */
  privateKey: string;
  /** `mailto:` or `https:` contact for the push service. */
  subject: string;
  timeoutMs: number;
  /** Overrides TLS settings toward push services (trusting a private CA). */
  agent?: Agent;
}

export class WebPushChannel {
  readonly #settings: WebPushSettings;
  readonly #now: () => number;

  constructor(settings: WebPushSettings, now: () => number) {
    this.#settings = settings;
    this.#now = now;
  }

  async send(subscription: StoredPushSubscription, message: ChannelMessage): Promise<SendOutcome> {
    const { n } = message;
    const { publicKey, privateKey, subject, timeoutMs, agent } = this.#settings;
    try {
      await webpush.sendNotification({ endpoint: subscription.endpoint, keys: subscription.keys }, pushPayload(n), {
        vapidDetails: { subject, publicKey, privateKey },
        TTL: remainingTtlSec(n, this.#now()),
        urgency: n.urgency,
        topic: n.collapseKey,
        timeout: timeoutMs,
        contentEncoding: 'aes128gcm',
        ...(agent ? { agent } : {}),
      });
      return { kind: 'delivered' };
    } catch (error) {
      const status = (error as { statusCode?: number }).statusCode;
      if (status === 404 || status === 410) return { kind: 'gone', reason: `push service answered ${status}` };
      if (status === undefined) return { kind: 'retry', reason: `push service unreachable: ${(error as Error).message}` };
      if (status === 408 || status === 429 || status >= 500) return { kind: 'retry', reason: `push service answered ${status}` };
      return { kind: 'failed', reason: `push service answered ${status}` };
    }
  }
}
