/**
 * The notification settings the module runs with, built from the gateway config (index.ts).
 * Every bound and interval is named here and documented in docs/configuration.md.
 */
import type { Channel, Preferences, Urgency } from './types.ts';

export interface NotifySettings {
  region: string;
  /** This pod's consumer name in the region's consumer group. */
  consumer: string;
  maxAttempts: number;
  retryInitialMs: number;
  retryMaxMs: number;
  claimIdleMs: number;
  pollMs: number;
  concurrency: number;
  rateLimitPerUser: number;
  rateWindowMs: number;
  digestWindowMs: number;
  digestMaxItems: number;
  idempotencyTtlMs: number;
  deadLetterMax: number;
  maxBacklog: number;
  maxRecipients: number;
  maxRoomFollowers: number;
  maxPushSubscriptions: number;
  defaultTtlSec: number;
  maxTtlSec: number;
  maxTitleLength: number;
  maxBodyLength: number;
  maxRoomNameLength: number;
  defaultChannels: Record<Urgency, Channel[]>;
  defaultDigest: boolean;
}

export function defaultPreferences(settings: NotifySettings): Preferences {
  return { channels: structuredClone(settings.defaultChannels), digest: settings.defaultDigest };
}

/** Parses "push,email" (a config value) into channels. */
export function channelList(value: string): Channel[] {
  const list = value.split(',').map((c) => c.trim()).filter(Boolean);
  for (const c of list) if (c !== 'push' && c !== 'email' && c !== 'webhook') throw new Error(`unknown channel ${JSON.stringify(c)} (push, email, webhook)`);
  return [...new Set(list)] as Channel[];
}
