/**
 * What travels on the relay bus, and its one encoding (JSON in the message body; attributes
 * `origin`, `room`, `kind` and, for repair traffic, `target`).
 *
 * A `msg` carries the origin's position of the message: its `epoch` and `offset` in the origin
 * region's history of the room, and `prev`, the promise that the origin has no message of its
 * own in the room between `prev` and `offset` (exclusive). `prevMid` is the mid stored at `prev`
 * when that is one of the origin's own messages. Offsets of one room are shared by all the
 * messages a region stores (its own and relayed ones), so an origin's own offsets have holes:
 * `prev` is what lets a receiver tell a hole from a loss.
 *
 * Decoding never throws: the bus is shared, and whatever arrives may be malformed.
 */
import type { Member, RoomEvent, Sender } from '../engine/types.ts';

export const envelopeVersion = 1;

interface Base {
  v: typeof envelopeVersion;
  /** Region that sent the envelope. */
  origin: string;
  room: string;
}

/** A message accepted in `origin`. */
export interface MessageEnvelope extends Base {
  kind: 'msg';
  mid: string;
  data: unknown;
  from?: Sender;
  /** Milliseconds since the Unix epoch at the first publish. */
  ts: number;
  epoch: string;
  offset: number;
  /** No message of the origin's own lies in (prev, offset) of this epoch. */
  prev: number;
  /** The mid at `prev`, when `prev` is one of the origin's own messages. */
  prevMid?: string;
}

/** Asks `target` for its own messages of the room in (after, until] of `epoch`. */
export interface RepairRequest extends Base {
  kind: 'repair-request';
  target: string;
  epoch: string;
  after: number;
  until: number;
}

/**
 * The origin's answer, sent before the messages it re-sends: offsets (after, lostUntil] are no
 * longer in its history (none lost when lostUntil = after). Re-sent messages follow as `msg`.
 */
export interface RepairMarker extends Base {
  kind: 'repair';
  target: string;
  epoch: string;
  after: number;
  lostUntil: number;
}

/**
 * A periodic, bounded summary of one room from one pod of the origin: its newest own message
 * (so a lost last message is found) and the members connected to that pod (their presence TTL
 * is refreshed in the other regions).
 */
export interface DigestEnvelope extends Base {
  kind: 'digest';
  top?: { epoch: string; offset: number; mid: string };
  members: Member[];
}

/** A member entered or left the room in `origin` (kept in the other regions' presence). */
export interface PresenceEnvelope extends Base {
  kind: 'presence';
  op: 'add' | 'remove';
  member: Member;
}

/** A join/leave push the origin announced to its own subscribers. */
export interface EventEnvelope extends Base {
  kind: 'event';
  event: RoomEvent;
}

/**
 * "The origin is alive and can publish": sent by every pod every relay.heartbeatMs, about no
 * room. Receivers only note when they last heard from the origin and the lag (liveness.ts).
 */
export interface HeartbeatEnvelope {
  v: typeof envelopeVersion;
  kind: 'heartbeat';
  origin: string;
  /** Milliseconds since the Unix epoch when the pod handed it to the bus. */
  ts: number;
}

export type RoomEnvelope = MessageEnvelope | RepairRequest | RepairMarker | DigestEnvelope | PresenceEnvelope | EventEnvelope;
export type RelayEnvelope = RoomEnvelope | HeartbeatEnvelope;

/** Region names travel in every envelope and key the receivers' per-peer state: bounded like a DNS label. */
export const maxRegionLength = 63;

export interface EncodedEnvelope {
  data: Buffer;
  attributes: Record<string, string>;
}

export function encodeEnvelope(envelope: RelayEnvelope): EncodedEnvelope {
  const attributes: Record<string, string> = { origin: envelope.origin, kind: envelope.kind };
  if (envelope.kind !== 'heartbeat') attributes.room = envelope.room;
  if (envelope.kind === 'repair-request' || envelope.kind === 'repair') attributes.target = envelope.target;
  return { data: Buffer.from(JSON.stringify(envelope)), attributes };
}

export interface Malformed {
  malformed: string;
}

export function isMalformed(value: unknown): value is Malformed {
  return typeof value === 'object' && value !== null && 'malformed' in value;
}

const isString = (v: unknown): v is string => typeof v === 'string' && v.length > 0;
const isOffset = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;

function isMember(value: unknown): value is Member {
  const m = value as Member;
  return typeof m === 'object' && m !== null && isString(m.user) && isString(m.client) && isString(m.region) && (m.name === undefined || typeof m.name === 'string');
}

function member(m: Member): Member {
  const out: Member = { user: m.user, client: m.client, region: m.region };
  if (m.name !== undefined) out.name = m.name;
  return out;
}

/** Checks every field a receiver relies on; only known fields are kept. */
export function decodeEnvelope(data: Buffer | string): RelayEnvelope | Malformed {
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(typeof data === 'string' ? data : data.toString('utf8')) as Record<string, unknown>;
  } catch {
    // The parser's message may quote the body, which is never logged.
    return { malformed: 'not JSON' };
  }
  if (typeof raw !== 'object' || raw === null) return { malformed: 'not an object' };
  if (raw.v !== envelopeVersion) return { malformed: `unknown version ${String(raw.v)}` };
  if (!isString(raw.origin)) return { malformed: 'origin missing' };
  if (raw.origin.length > maxRegionLength) return { malformed: `origin longer than ${maxRegionLength} characters` };
  if (raw.kind === 'heartbeat') {
    if (typeof raw.ts !== 'number' || !Number.isFinite(raw.ts) || raw.ts < 0) return { malformed: 'heartbeat lacks ts' };
    return { v: envelopeVersion, kind: 'heartbeat', origin: raw.origin, ts: raw.ts };
  }
  if (!isString(raw.room)) return { malformed: 'origin or room missing' };
  const base = { v: envelopeVersion, origin: raw.origin, room: raw.room } as const;
  switch (raw.kind) {
    case 'msg': {
      const { mid, ts, epoch, offset, prev, prevMid, from } = raw;
      if (!isString(mid) || !Number.isFinite(ts) || !isString(epoch) || !isOffset(offset) || offset === 0 || !isOffset(prev) || prev >= offset) {
        return { malformed: 'msg lacks mid, ts, epoch, offset or prev' };
      }
      if (!('data' in raw)) return { malformed: 'msg lacks data' };
      if (prevMid !== undefined && !isString(prevMid)) return { malformed: 'msg prevMid is not a string' };
      const sender = from as Sender | undefined;
      if (sender !== undefined && (typeof sender !== 'object' || sender === null || !isString(sender.user) || !isString(sender.client))) {
        return { malformed: 'msg from is invalid' };
      }
      const envelope: MessageEnvelope = { ...base, kind: 'msg', mid, data: raw.data, ts: ts as number, epoch, offset, prev };
      if (prevMid !== undefined) envelope.prevMid = prevMid;
      if (sender) envelope.from = { user: sender.user, client: sender.client };
      return envelope;
    }
    case 'repair-request':
    case 'repair': {
      const { target, epoch, after } = raw;
      const end = raw.kind === 'repair' ? raw.lostUntil : raw.until;
      if (!isString(target) || !isString(epoch) || !isOffset(after) || !isOffset(end) || end < after) return { malformed: `${raw.kind} lacks target, epoch or range` };
      return raw.kind === 'repair'
        ? { ...base, kind: 'repair', target, epoch, after, lostUntil: end }
        : { ...base, kind: 'repair-request', target, epoch, after, until: end };
    }
    case 'digest': {
      const top = raw.top as { epoch?: unknown; offset?: unknown; mid?: unknown } | undefined;
      if (top !== undefined && (typeof top !== 'object' || top === null || !isString(top.epoch) || !isOffset(top.offset) || !isString(top.mid))) {
        return { malformed: 'digest top is invalid' };
      }
      if (!Array.isArray(raw.members) || !raw.members.every(isMember)) return { malformed: 'digest members are invalid' };
      const envelope: DigestEnvelope = { ...base, kind: 'digest', members: raw.members.map(member) };
      if (top) envelope.top = { epoch: top.epoch as string, offset: top.offset as number, mid: top.mid as string };
      return envelope;
    }
    case 'presence': {
      if ((raw.op !== 'add' && raw.op !== 'remove') || !isMember(raw.member)) return { malformed: 'presence lacks op or member' };
      return { ...base, kind: 'presence', op: raw.op, member: member(raw.member) };
    }
    case 'event': {
      const event = raw.event as { type?: unknown; member?: unknown } | undefined;
      if (typeof event !== 'object' || event === null || (event.type !== 'join' && event.type !== 'leave') || !isMember(event.member)) {
        return { malformed: 'event lacks type or member' };
      }
      return { ...base, kind: 'event', event: { type: event.type, member: member(event.member) } };
    }
    default:
      return { malformed: `unknown kind ${String(raw.kind)}` };
  }
}
