/**
 * The `notify.*` configuration fields (spread into config-schema.ts's table, so they are
 * parsed, validated, overridable by MERIDIAN_NOTIFY_* and documented like every other field).
 * Secrets — the VAPID private key, the SMTP password, the webhook secret — are marked secret:
 * never printed, and meant to come from the environment (a Kubernetes Secret).
 */
import type { FieldSpec } from '../config-schema.ts';

export interface NotifyConfig {
  readonly enabled: boolean;
  readonly push: { readonly vapidPublicKey?: string; readonly vapidPrivateKey?: string; readonly subject?: string; readonly timeoutMs: number };
  readonly email: { readonly smtpUrl?: string; readonly user?: string; readonly password?: string; readonly from?: string; readonly timeoutMs: number };
  readonly webhook: { readonly url?: string; readonly secret?: string; readonly timeoutMs: number };
  readonly maxAttempts: number;
  readonly retryInitialMs: number;
  readonly retryMaxMs: number;
  readonly claimIdleMs: number;
  readonly pollMs: number;
  readonly concurrency: number;
  readonly rateLimitPerUser: number;
  readonly rateWindowMs: number;
  readonly digestWindowMs: number;
  readonly digestMaxItems: number;
  readonly idempotencyTtlMs: number;
  readonly deadLetterMax: number;
  readonly maxBacklog: number;
  readonly maxRecipients: number;
  readonly maxRoomFollowers: number;
  readonly maxPushSubscriptions: number;
  readonly defaultTtlSec: number;
  readonly maxTtlSec: number;
  readonly maxTitleLength: number;
  readonly maxBodyLength: number;
  readonly defaultChannels: { readonly high: string; readonly normal: string; readonly low: string; readonly veryLow: string };
  readonly defaultDigest: boolean;
  readonly roomRules?: string;
}

export const notifyConfigFields: readonly FieldSpec[] = [
  { path: 'notify.enabled', kind: 'bool', default: true, doc: 'Notifications (docs/notifications.md): the HTTP API, the socket ops and this pod\'s delivery worker. Channels without settings are off; the socket push needs none.' },
  { path: 'notify.push.vapidPublicKey', kind: 'string', doc: 'VAPID public key (URL-safe base64, 65 bytes) for Web Push; set with vapidPrivateKey and subject to turn the push channel on.' },
  { path: 'notify.push.vapidPrivateKey', kind: 'string', secret: true, doc: 'VAPID private key (URL-safe base64, 32 bytes). Secret: set it from the environment (MERIDIAN_NOTIFY_PUSH_VAPID_PRIVATE_KEY).' },
  { path: 'notify.push.subject', kind: 'string', doc: 'VAPID contact (`mailto:` or `https:` URL) sent to push services.' },
  { path: 'notify.push.timeoutMs', kind: 'int', default: 10_000, min: 100, doc: 'One request to a push service fails (and is retried) after this long.' },
  { path: 'notify.email.smtpUrl', kind: 'url', doc: 'SMTP server (`smtp://host:port`, `smtps://host:465`) for the email channel; absent → no email.' },
  { path: 'notify.email.user', kind: 'string', doc: 'SMTP user name, when the server needs AUTH.' },
  { path: 'notify.email.password', kind: 'string', secret: true, doc: 'SMTP password. Secret: set it from the environment (MERIDIAN_NOTIFY_EMAIL_PASSWORD).' },
  { path: 'notify.email.from', kind: 'string', doc: 'From address of notification emails (required with smtpUrl).' },
  { path: 'notify.email.timeoutMs', kind: 'int', default: 10_000, min: 100, doc: 'Connection, greeting and socket timeout toward the SMTP server.' },
  { path: 'notify.webhook.url', kind: 'url', doc: "The tenant webhook: the backend's endpoint that receives signed notifications for users whose preferences name `webhook`; absent → no webhook channel." },
  { path: 'notify.webhook.secret', kind: 'string', secret: true, doc: 'HMAC-SHA256 key of the webhook signature. Secret: set it from the environment (MERIDIAN_NOTIFY_WEBHOOK_SECRET).' },
  { path: 'notify.webhook.timeoutMs', kind: 'int', default: 10_000, min: 100, doc: 'One webhook request fails (and is retried) after this long.' },
  { path: 'notify.maxAttempts', kind: 'int', default: 8, min: 1, doc: 'Attempts per channel target before a notification goes to the dead-letter list.' },
  { path: 'notify.retryInitialMs', kind: 'int', default: 1000, min: 10, doc: 'First retry delay; it doubles per attempt (with jitter: half fixed, half random) up to notify.retryMaxMs.' },
  { path: 'notify.retryMaxMs', kind: 'int', default: 600_000, min: 10, doc: 'Longest retry delay.' },
  { path: 'notify.claimIdleMs', kind: 'int', default: 30_000, min: 100, doc: 'A queue entry pending this long on a pod (killed mid-delivery) is claimed by another pod; also the lease on one delivery. Must exceed the channel timeouts.' },
  { path: 'notify.pollMs', kind: 'int', default: 500, min: 10, doc: 'Longest blocking read of the queue; also how late a scheduled retry or deferral can start.' },
  { path: 'notify.concurrency', kind: 'int', default: 32, min: 1, doc: 'Notification jobs one pod runs at once.' },
  { path: 'notify.rateLimitPerUser', kind: 'int', default: 20, min: 1, doc: 'Notifications (below `high` urgency) sent to one user\'s channels per notify.rateWindowMs; more wait for the next window.' },
  { path: 'notify.rateWindowMs', kind: 'int', default: 600_000, min: 1000, doc: 'The rate limit\'s window.' },
  { path: 'notify.digestWindowMs', kind: 'int', default: 3_600_000, min: 1000, doc: 'The digest window: low and very-low urgency emails of a user with digest on are batched into one email sent this long after the first.' },
  { path: 'notify.digestMaxItems', kind: 'int', default: 50, min: 1, doc: 'Most notifications in one digest (the newest are kept).' },
  { path: 'notify.idempotencyTtlMs', kind: 'int', default: 604_800_000, min: 1000, doc: 'How long a send id and a delivery (notification, channel, target) are remembered, so repeats are not delivered again.' },
  { path: 'notify.deadLetterMax', kind: 'int', default: 10_000, min: 1, doc: 'Dead letters kept in the region (the newest).' },
  { path: 'notify.maxBacklog', kind: 'int', default: 1_000_000, min: 1, doc: 'Jobs queued and scheduled in the region; a send beyond it answers 503 OVERLOADED.' },
  { path: 'notify.maxRecipients', kind: 'int', default: 1000, min: 1, doc: 'Recipients of one send (named users plus room followers).' },
  { path: 'notify.maxRoomFollowers', kind: 'int', default: 10_000, min: 1, doc: 'Users following one room\'s notifications.' },
  { path: 'notify.maxPushSubscriptions', kind: 'int', default: 10, min: 1, doc: 'Web Push subscriptions one user holds (browsers, devices).' },
  { path: 'notify.defaultTtlSec', kind: 'int', default: 86_400, min: 0, doc: 'TTL of a notification that names none.' },
  { path: 'notify.maxTtlSec', kind: 'int', default: 2_419_200, min: 0, doc: 'Longest TTL a send may ask for (28 days, as push services keep at most).' },
  { path: 'notify.maxTitleLength', kind: 'int', default: 200, min: 1, doc: 'Longest title.' },
  { path: 'notify.maxBodyLength', kind: 'int', default: 2000, min: 1, doc: 'Longest body (a Web Push payload holds about 3 KiB of JSON in all).' },
  { path: 'notify.defaultChannels.high', kind: 'string', default: 'push,email,webhook', doc: 'Channels for `high` urgency of users who set none.' },
  { path: 'notify.defaultChannels.normal', kind: 'string', default: 'push,email,webhook', doc: 'Channels for `normal` urgency of users who set none.' },
  { path: 'notify.defaultChannels.low', kind: 'string', default: 'push,email,webhook', doc: 'Channels for `low` urgency of users who set none.' },
  { path: 'notify.defaultChannels.veryLow', kind: 'string', default: 'push', doc: 'Channels for `very-low` urgency of users who set none.' },
  { path: 'notify.roomRules', kind: 'string', doc: 'Room patterns (comma-separated, e.g. `class-*,lobby`) where a publish whose data holds a `notify` object also notifies the room\'s followers; absent → no room rules.' },
  { path: 'notify.defaultDigest', kind: 'bool', default: true, doc: 'Digest on for users who set none.' },
];
