/**
 * The tenant webhook: a POST of the notification as JSON, signed as Stripe and GitHub sign
 * theirs. `Meridian-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">` with the
 * webhook secret; a receiver recomputes it over the raw body and refuses old timestamps
 * (replay). `Meridian-Delivery` is the same on every attempt, for de-duplication.
 *
 * 2xx delivered; 408, 429, 5xx and network errors retry; other statuses fail for good.
 * Redirects are not followed (the configured URL is the one trusted).
 */
import { createHmac } from 'node:crypto';
import type { ChannelMessage, SendOutcome } from './types.ts';

export interface WebhookSettings {
  url: string;
  /** Secret: never logged. */
  secret: string;
  timeoutMs: number;
}

export function webhookSignature(secret: string, timestampSec: number, body: string): string {
  return createHmac('sha256', secret).update(`${timestampSec}.${body}`).digest('hex');
}

export class WebhookChannel {
  readonly #settings: WebhookSettings;
  readonly #now: () => number;

  constructor(settings: WebhookSettings, now: () => number) {
    this.#settings = settings;
    this.#now = now;
  }

  async send(message: ChannelMessage): Promise<SendOutcome> {
    const { url, secret, timeoutMs } = this.#settings;
    const body = JSON.stringify({ type: 'notification', user: message.user, notification: message.n });
    const timestamp = Math.floor(this.#now() / 1000);
    let status: number;
    try {
      const response = await fetch(url, {
        method: 'POST',
        redirect: 'manual',
        signal: AbortSignal.timeout(timeoutMs),
        headers: {
          'content-type': 'application/json',
          'meridian-delivery': message.idempotencyKey,
          'meridian-signature': `t=${timestamp},v1=${webhookSignature(secret, timestamp, body)}`,
        },
        body,
      });
      status = response.status;
      await response.body?.cancel();
    } catch (error) {
      return { kind: 'retry', reason: `webhook unreachable: ${(error as Error).name}` };
    }
    if (status >= 200 && status < 300) return { kind: 'delivered' };
    if (status === 408 || status === 429 || status >= 500) return { kind: 'retry', reason: `webhook answered ${status}` };
    return { kind: 'failed', reason: `webhook answered ${status}` };
  }
}
