/**
 * Input checks for notifications and channel settings, shared by the HTTP API and the socket
 * ops: every refusal is BAD_REQUEST naming the field, and nothing half-checked is stored.
 */
import { createHash, randomUUID } from 'node:crypto';
import { gatewayError } from '../errors.ts';
import { validateRoom } from '../rooms.ts';
import { channels, urgencies, type Channel, type Notification, type Preferences, type PushSubscription, type QuietHours, type StoredPushSubscription, type Urgency } from './types.ts';

export interface ModelLimits {
  maxRecipients: number;
  maxTitleLength: number;
  maxBodyLength: number;
  maxTtlSec: number;
  defaultTtlSec: number;
  maxRoomNameLength: number;
}

export interface SendRequest {
  n: Notification;
  users: string[];
  room?: string;
}

type Fields = Record<string, unknown>;

function isObject(value: unknown): value is Fields {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function requireObject(value: unknown, what: string): Fields {
  if (!isObject(value)) throw gatewayError('BAD_REQUEST', `${what} must be a JSON object`);
  return value;
}

function text(fields: Fields, name: string, max: number, required: boolean): string | undefined {
  const value = fields[name];
  if (value === undefined && !required) return undefined;
  if (typeof value !== 'string' || value.length === 0) throw gatewayError('BAD_REQUEST', `${name} must be a non-empty string`);
  if (value.length > max) throw gatewayError('BAD_REQUEST', `${name} must be at most ${max} characters`);
  return value;
}

function urgencyOf(value: unknown, field: string): Urgency {
  if (typeof value === 'string' && (urgencies as readonly string[]).includes(value)) return value as Urgency;
  throw gatewayError('BAD_REQUEST', `${field} must be one of ${urgencies.join(', ')}`);
}

export function checkUser(value: unknown, field = 'user'): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > 128) throw gatewayError('BAD_REQUEST', `${field} must be a string of 1..128 characters`);
  return value;
}

/** `POST /v1/notify`: `{to:{users?,room?}, id?, title, body, link?, data?, urgency?, collapseKey?, ttlSec?}`. */
export function parseSendRequest(body: unknown, limits: ModelLimits, now: number): SendRequest {
  const fields = requireObject(body, 'body');
  const to = requireObject(fields.to, 'to');
  const users = to.users === undefined ? [] : to.users;
  if (!Array.isArray(users)) throw gatewayError('BAD_REQUEST', 'to.users must be an array of user ids');
  if (users.length > limits.maxRecipients) throw gatewayError('BAD_REQUEST', `to.users must name at most ${limits.maxRecipients} users (notify.maxRecipients)`);
  const room = to.room === undefined ? undefined : validateRoom(to.room, limits.maxRoomNameLength, 'to.room');
  if (users.length === 0 && room === undefined) throw gatewayError('BAD_REQUEST', 'to must name users or a room');
  const ttlSec = fields.ttlSec === undefined ? limits.defaultTtlSec : fields.ttlSec;
  if (typeof ttlSec !== 'number' || !Number.isSafeInteger(ttlSec) || ttlSec < 0 || ttlSec > limits.maxTtlSec) {
    throw gatewayError('BAD_REQUEST', `ttlSec must be an integer between 0 and ${limits.maxTtlSec}`);
  }
  const link = text(fields, 'link', 2048, false);
  if (link !== undefined && !/^https?:\/\//.test(link)) throw gatewayError('BAD_REQUEST', 'link must be an http(s) URL');
  const collapseKey = text(fields, 'collapseKey', 32, false);
  // Web Push carries the collapse key as its Topic header: URL-safe base64 characters only.
  if (collapseKey !== undefined && !/^[A-Za-z0-9_-]+$/.test(collapseKey)) throw gatewayError('BAD_REQUEST', 'collapseKey may only contain letters, digits, _ and -');
  if (fields.data !== undefined && JSON.stringify(fields.data) === undefined) throw gatewayError('BAD_REQUEST', 'data must be a JSON value');
  const n: Notification = {
    id: text(fields, 'id', 128, false) ?? randomUUID(),
    title: text(fields, 'title', limits.maxTitleLength, true)!,
    body: typeof fields.body === 'string' && fields.body.length <= limits.maxBodyLength ? fields.body : badBody(limits.maxBodyLength),
    urgency: fields.urgency === undefined ? 'normal' : urgencyOf(fields.urgency, 'urgency'),
    ttlSec,
    ts: now,
  };
  if (link !== undefined) n.link = link;
  if (fields.data !== undefined) n.data = fields.data;
  if (collapseKey !== undefined) n.collapseKey = collapseKey;
  return { n, users: [...new Set(users.map((u, i) => checkUser(u, `to.users[${i}]`)))], room };
}

function badBody(max: number): never {
  throw gatewayError('BAD_REQUEST', `body must be a string of at most ${max} characters`);
}

const clock = /^([01]\d|2[0-3]):[0-5]\d$/;

export function isTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

function parseQuietHours(value: unknown): QuietHours | undefined {
  if (value === null) return undefined;
  const fields = requireObject(value, 'preferences.quietHours');
  const start = fields.start;
  const end = fields.end;
  if (typeof start !== 'string' || !clock.test(start)) throw gatewayError('BAD_REQUEST', 'preferences.quietHours.start must be HH:MM (24 h)');
  if (typeof end !== 'string' || !clock.test(end)) throw gatewayError('BAD_REQUEST', 'preferences.quietHours.end must be HH:MM (24 h)');
  const timeZone = fields.timeZone;
  if (typeof timeZone !== 'string' || timeZone.length > 64 || !isTimeZone(timeZone)) throw gatewayError('BAD_REQUEST', 'preferences.quietHours.timeZone must be an IANA time zone such as Europe/Paris');
  return { start, end, timeZone };
}

/** Applies a partial preferences update (`channels` per urgency, `quietHours` or null, `digest`). */
export function mergePreferences(current: Preferences, input: unknown): Preferences {
  const fields = requireObject(input, 'preferences');
  const next: Preferences = structuredClone(current);
  for (const key of Object.keys(fields)) {
    if (key !== 'channels' && key !== 'quietHours' && key !== 'digest') throw gatewayError('BAD_REQUEST', `preferences.${key} is not a preference (channels, quietHours, digest)`);
  }
  if (fields.channels !== undefined) {
    const byUrgency = requireObject(fields.channels, 'preferences.channels');
    for (const [urgency, list] of Object.entries(byUrgency)) {
      urgencyOf(urgency, 'preferences.channels keys');
      if (!Array.isArray(list) || !list.every((c) => (channels as readonly unknown[]).includes(c))) {
        throw gatewayError('BAD_REQUEST', `preferences.channels.${urgency} must be a list of ${channels.join(', ')}`);
      }
      next.channels[urgency as Urgency] = [...new Set(list as Channel[])];
    }
  }
  if (fields.quietHours !== undefined) {
    const quiet = parseQuietHours(fields.quietHours);
    if (quiet) next.quietHours = quiet;
    else delete next.quietHours;
  }
  if (fields.digest !== undefined) {
    if (typeof fields.digest !== 'boolean') throw gatewayError('BAD_REQUEST', 'preferences.digest must be true or false');
    next.digest = fields.digest;
  }
  return next;
}

export function parseEmail(value: unknown): string | undefined {
  if (value === null) return undefined;
  if (typeof value !== 'string' || value.length > 254 || !/^[^\s@<>",;]+@[^\s@<>",;]+$/.test(value)) throw gatewayError('BAD_REQUEST', 'email must be an address such as ada@example.com, or null');
  return value;
}

function base64urlBytes(value: unknown, field: string, length: number): string {
  if (typeof value !== 'string' || !/^[A-Za-z0-9_-]+=*$/.test(value) || Buffer.from(value, 'base64url').length !== length) {
    throw gatewayError('BAD_REQUEST', `${field} must be ${length} bytes in URL-safe base64`);
  }
  return value;
}

/** A browser's PushSubscription JSON: `{endpoint, keys:{p256dh, auth}}`. */
export function parsePushSubscription(value: unknown, now: number): StoredPushSubscription {
  const fields = requireObject(value, 'subscription');
  const endpoint = fields.endpoint;
  if (typeof endpoint !== 'string' || endpoint.length > 1024 || !URL.canParse(endpoint) || new URL(endpoint).protocol !== 'https:') {
    throw gatewayError('BAD_REQUEST', 'subscription.endpoint must be an https URL of at most 1024 characters');
  }
  const keys = requireObject(fields.keys, 'subscription.keys');
  const subscription: PushSubscription = {
    endpoint,
    keys: { p256dh: base64urlBytes(keys.p256dh, 'subscription.keys.p256dh', 65), auth: base64urlBytes(keys.auth, 'subscription.keys.auth', 16) },
  };
  return { ...subscription, id: pushSubscriptionId(endpoint), createdAt: now };
}

/** One id per endpoint: a renewed subscription (a new endpoint) never shares the old one's id. */
export function pushSubscriptionId(endpoint: string): string {
  return createHash('sha256').update(endpoint).digest('base64url').slice(0, 22);
}
