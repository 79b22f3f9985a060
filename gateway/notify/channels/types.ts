/**
 * A delivery channel sends one notification to one target and says what happened, in the
 * terms the worker acts on: delivered; retry later (a temporary failure: 4xx SMTP, 5xx or 429
 * HTTP, a network error); failed for good (dead letter); or gone (the target no longer exists:
 * a push subscription answered 404/410, so it is removed).
 */
import type { Notification } from '../types.ts';

export type SendOutcome =
  | { kind: 'delivered' }
  | { kind: 'retry'; reason: string }
  | { kind: 'failed'; reason: string }
  | { kind: 'gone'; reason: string };

export interface ChannelMessage {
  user: string;
  n: Notification;
  /** The same for every attempt of one (notification, channel, target): receivers may de-duplicate by it. */
  idempotencyKey: string;
  /** For a digest email: the notifications it batches. */
  digest?: Notification[];
}

/** What a push service and a browser's service worker get (JSON, encrypted per RFC 8291). */
export function pushPayload(n: Notification): string {
  return JSON.stringify({ id: n.id, title: n.title, body: n.body, link: n.link, data: n.data, urgency: n.urgency, ts: n.ts });
}

/** Seconds of the notification's TTL still left at `now` (0 when past). */
export function remainingTtlSec(n: Notification, now: number): number {
  return Math.max(0, Math.floor((n.ts + n.ttlSec * 1000 - now) / 1000));
}
