/**
 * The Redis engine's key layout and wire formats, in one place (docs/engines.md describes them).
 *
 * Keys of one room share the hash tag `{room}`, so each script touches one cluster slot:
 *   <prefix>:stream:{room}            STREAM  publications, entry id = offset, field d = body
 *   <prefix>:meta:{room}              HASH    e = epoch, s = top offset
 *   <prefix>:result:{room}:<mid>      STRING  "<epoch>:<offset>" of a publish, for idempotency
 *   <prefix>:presence:{room}          HASH    client -> member JSON
 *   <prefix>:presence-exp:{room}      ZSET    client -> expiry time (ms)
 * Channel: <prefix>:room:{room} (tagged too: on a cluster the publish script sends it with
 * SPUBLISH, which must stay in the slot of the room's keys), carrying
 *   p:<offset>:<epoch>:<body>   a publication (body: JSON of mid, data, from, region, ts)
 *   e:<event JSON>              a join/leave event
 *
 * Decoding never throws: anything malformed comes back as a `Malformed` value with a reason,
 * because what is in Redis may have been written by anyone.
 */
import { EngineInputError } from './common.ts';
import type { Member, Publication, PublishInput, RoomEvent, Sender } from './types.ts';

export class RedisKeys {
  readonly prefix: string;
  readonly channelPrefix: string;

  constructor(prefix: string) {
    // A brace in the prefix would become the hash tag and put every room in one slot.
    if (/[{}]/.test(prefix)) throw new EngineInputError('redis keyPrefix must not contain { or }');
    this.prefix = prefix;
    this.channelPrefix = `${prefix}:room:`;
  }

  stream(room: string): string {
    return `${this.prefix}:stream:{${room}}`;
  }

  meta(room: string): string {
    return `${this.prefix}:meta:{${room}}`;
  }

  result(room: string, mid: string): string {
    return `${this.prefix}:result:{${room}}:${mid}`;
  }

  presence(room: string): string {
    return `${this.prefix}:presence:{${room}}`;
  }

  presenceExpiry(room: string): string {
    return `${this.prefix}:presence-exp:{${room}}`;
  }

  channel(room: string): string {
    return `${this.channelPrefix}{${room}}`;
  }

  /** The room of a channel name, or undefined for a channel that is not ours. */
  roomOf(channel: string): string | undefined {
    if (!channel.startsWith(this.channelPrefix) || !channel.endsWith('}') || channel[this.channelPrefix.length] !== '{') return undefined;
    return channel.slice(this.channelPrefix.length + 1, -1);
  }
}

export interface Malformed {
  malformed: string;
}

export function isMalformed(value: unknown): value is Malformed {
  return typeof value === 'object' && value !== null && 'malformed' in value;
}

/** What is stored and sent for a publication, minus what the script assigns (epoch, offset). */
interface Body {
  mid: string;
  data: unknown;
  from?: Sender;
  region: string;
  ts: number;
}

export function encodeBody(input: PublishInput): string {
  const body: Body = { mid: input.mid, data: input.data, region: input.region, ts: input.ts };
  if (input.from) body.from = { user: input.from.user, client: input.from.client };
  return JSON.stringify(body);
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    // The caller reports the reason; the exception itself carries nothing more useful.
    return undefined;
  }
}

function isSender(value: unknown): value is Sender {
  const v = value as Sender;
  return typeof v === 'object' && v !== null && typeof v.user === 'string' && typeof v.client === 'string';
}

export function decodeBody(room: string, epoch: string, offset: number, text: string): Publication | Malformed {
  const body = parseJson(text) as Partial<Body> | undefined;
  if (typeof body !== 'object' || body === null) return { malformed: 'body is not a JSON object' };
  if (typeof body.mid !== 'string' || typeof body.region !== 'string' || typeof body.ts !== 'number' || !('data' in body)) {
    return { malformed: 'body lacks mid, region, ts or data' };
  }
  if (body.from !== undefined && !isSender(body.from)) return { malformed: 'body has an invalid from' };
  const pub: Publication = { room, epoch, offset, mid: body.mid, data: body.data, region: body.region, ts: body.ts };
  if (body.from) pub.from = { user: body.from.user, client: body.from.client };
  return pub;
}

/** A stream entry id we wrote is "<offset>-0". */
export function offsetOfEntryId(id: unknown): number | undefined {
  if (typeof id !== 'string') return undefined;
  const match = /^(\d+)-0$/.exec(id);
  const offset = match ? Number(match[1]) : NaN;
  return Number.isSafeInteger(offset) && offset > 0 ? offset : undefined;
}

/** A stream entry as XRANGE returns it: [id, [field, value, ...]]. */
export function decodeEntry(room: string, epoch: string, entry: unknown, maxBytes: number): Publication | Malformed {
  if (!Array.isArray(entry) || entry.length !== 2 || !Array.isArray(entry[1])) return { malformed: 'stream entry has an unexpected shape' };
  const offset = offsetOfEntryId(entry[0]);
  if (offset === undefined) return { malformed: 'stream entry id is not an offset' };
  const fields = entry[1] as unknown[];
  const index = fields.indexOf('d');
  const text = index >= 0 && index % 2 === 0 ? fields[index + 1] : undefined;
  if (typeof text !== 'string') return { malformed: 'stream entry has no body' };
  if (text.length > maxBytes) return { malformed: 'stream entry larger than maxPayloadBytes' };
  return decodeBody(room, epoch, offset, text);
}

export function encodeEvent(event: RoomEvent): string {
  return `e:${JSON.stringify({ type: event.type, member: memberRecord(event.member) })}`;
}

export type ChannelMessage = { kind: 'publication'; pub: Publication } | { kind: 'event'; event: RoomEvent };

/** Decodes a message from a room channel. */
export function decodeChannelMessage(room: string, message: string): ChannelMessage | Malformed {
  if (message.startsWith('p:')) {
    const offsetEnd = message.indexOf(':', 2);
    const epochEnd = offsetEnd < 0 ? -1 : message.indexOf(':', offsetEnd + 1);
    if (epochEnd < 0) return { malformed: 'publication frame lacks offset or epoch' };
    const offset = Number(message.slice(2, offsetEnd));
    const epoch = message.slice(offsetEnd + 1, epochEnd);
    if (!Number.isSafeInteger(offset) || offset <= 0 || epoch.length === 0) return { malformed: 'publication frame has an invalid offset or epoch' };
    const pub = decodeBody(room, epoch, offset, message.slice(epochEnd + 1));
    return isMalformed(pub) ? pub : { kind: 'publication', pub };
  }
  if (message.startsWith('e:')) {
    const event = parseJson(message.slice(2)) as Partial<RoomEvent> | undefined;
    if (typeof event !== 'object' || event === null || (event.type !== 'join' && event.type !== 'leave')) return { malformed: 'event frame has no valid type' };
    const member = decodeMember(event.member);
    if (isMalformed(member)) return member;
    return { kind: 'event', event: { type: event.type, member } };
  }
  return { malformed: 'unknown frame kind' };
}

/** Only the fields a Member has, so nothing else is stored or sent. */
export function memberRecord(member: Member): Member {
  const record: Member = { user: member.user, client: member.client, region: member.region };
  if (member.name !== undefined) record.name = member.name;
  return record;
}

export function encodeMember(member: Member): string {
  return JSON.stringify(memberRecord(member));
}

export function decodeMember(value: unknown): Member | Malformed {
  const parsed = (typeof value === 'string' ? parseJson(value) : value) as Partial<Member> | undefined;
  if (typeof parsed !== 'object' || parsed === null) return { malformed: 'member is not a JSON object' };
  if (typeof parsed.user !== 'string' || typeof parsed.client !== 'string' || typeof parsed.region !== 'string') {
    return { malformed: 'member lacks user, client or region' };
  }
  if (parsed.name !== undefined && typeof parsed.name !== 'string') return { malformed: 'member name is not a string' };
  return memberRecord(parsed as Member);
}
