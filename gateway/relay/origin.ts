/**
 * The origin side of the relay: what a region says about its own messages.
 *
 * - `messageEnvelope` turns a message this region accepted into a `msg` envelope, with the
 *   origin position (epoch, offset) and `prev`: the offset of the region's previous own message
 *   in the room. The room's history also holds messages relayed from other regions, so `prev`
 *   is usually not `offset - 1`; it comes from a short memory of the last message this pod
 *   relayed per room, or else from a history read. When history cannot tell, `prev` is a safe
 *   lower bound (a receiver then asks once more than needed, never less).
 * - `answerRepair` answers a repair request from the region's history: a marker saying which
 *   offsets are gone, then the region's own messages in the range, re-sent with their `prev` chain.
 *   They go out under the ordering key `repairKey(room)`, not the room's: the requester holds a
 *   later message of the room unacked, and Pub/Sub may delay a key's later messages while one
 *   of its messages is unacked (and redelivers them with it), so an answer under the room's key
 *   could wait behind the very message that waits for it.
 * - `newestOwn` finds the newest own message of a room, for the periodic digest.
 */
import type { History, Publication } from '../engine/types.ts';
import type { MessageEnvelope, RelayEnvelope, RepairRequest } from './envelope.ts';
import { envelopeVersion } from './envelope.ts';
import { BoundedMap } from './bounded-map.ts';

export interface OriginOptions {
  region: string;
  history: History;
  /** Most publications read from history for one lookup or one repair answer. */
  maxRead: number;
  /** Rooms whose last relayed message is remembered. */
  maxRooms: number;
  now: () => number;
}

interface Position {
  epoch: string;
  offset: number;
  mid: string;
}

interface Handed extends Position {
  /** When it was handed over (for the digest's "recently active"). */
  at: number;
}

/** The ordering key of repair answers for a room (see the file comment). */
export function repairKey(room: string): string {
  return `${room}\u0000repair`;
}

/** A first, small history read finds `prev` in the usual case (few foreign messages in between). */
const firstLookback = 16;

export class Origin {
  private readonly options: OriginOptions;
  /** Per room, the last own message handed to the outbox by this pod. */
  private readonly lastHanded: BoundedMap<string, Handed>;

  constructor(options: OriginOptions) {
    this.options = options;
    this.lastHanded = new BoundedMap(options.maxRooms);
  }

  /**
   * Called in the order the local publishes completed. Returns the envelope builder: `prev` is
   * known now when this pod relayed the message just before; otherwise it is read from history.
   */
  messageEnvelope(pub: Publication): () => Promise<MessageEnvelope> {
    const before = this.lastHanded.get(pub.room);
    this.lastHanded.set(pub.room, { epoch: pub.epoch, offset: pub.offset, mid: pub.mid, at: this.options.now() });
    const envelope = (prev: number, prevMid: string | undefined): MessageEnvelope => {
      const out: MessageEnvelope = {
        v: envelopeVersion,
        kind: 'msg',
        origin: this.options.region,
        room: pub.room,
        mid: pub.mid,
        data: pub.data,
        ts: pub.ts,
        epoch: pub.epoch,
        offset: pub.offset,
        prev,
      };
      if (prevMid !== undefined) out.prevMid = prevMid;
      if (pub.from) out.from = { user: pub.from.user, client: pub.from.client };
      return out;
    };
    if (pub.offset === 1) return async () => envelope(0, undefined);
    if (before && before.epoch === pub.epoch && before.offset === pub.offset - 1) return async () => envelope(before.offset, before.mid);
    return async () => {
      const found = await this.ownBefore(pub.room, pub.epoch, pub.offset).catch(() => ({ prev: pub.offset - 1, prevMid: undefined }));
      return envelope(found.prev, found.prevMid);
    };
  }

  /** Rooms this pod relayed a message to at or after `since`, most recent first. */
  recentRooms(since: number): string[] {
    const rooms: string[] = [];
    for (const [room, handed] of this.lastHanded.entries()) if (handed.at >= since) rooms.push(room);
    return rooms.reverse();
  }

  /** The newest own message of the room among its newest `firstLookback` publications. */
  async newestOwn(room: string): Promise<Position | undefined> {
    const page = await this.options.history.read(room, { limit: firstLookback });
    const own = page.publications.findLast((p) => p.region === this.options.region);
    return own ? { epoch: page.epoch, offset: own.offset, mid: own.mid } : undefined;
  }

  /** The marker, then the own messages in the requested range (at most `maxRead` read). */
  async answerRepair(request: RepairRequest): Promise<RelayEnvelope[]> {
    const { region, history, maxRead } = this.options;
    const { room, epoch, after, until } = request;
    const marker = (lostUntil: number): RelayEnvelope => ({ v: envelopeVersion, kind: 'repair', origin: region, room, target: request.origin, epoch, after, lostUntil });
    const limit = Math.min(maxRead, until - after);
    if (limit <= 0) return [marker(after)];
    // One more before the range: the mid at `after`, when it is our own, lets a pod that did not
    // ask (the answer may reach another pod of the region) check it against its history.
    const page = await history.read(room, { since: Math.max(0, after - 1), limit: limit + 1 });
    const atAfter = page.publications.find((p) => p.offset === after);
    const publications = page.publications.filter((p) => p.offset > after && p.offset <= until);
    if (page.epoch !== epoch || publications.length === 0) return [marker(until)];
    const lostUntil = publications[0].offset - 1;
    const out: RelayEnvelope[] = [marker(lostUntil)];
    let prev = lostUntil;
    let prevMid = lostUntil === after && atAfter?.region === region ? atAfter.mid : undefined;
    for (const pub of publications) {
      if (pub.region !== region) continue;
      const envelope: MessageEnvelope = { v: envelopeVersion, kind: 'msg', origin: region, room, mid: pub.mid, data: pub.data, ts: pub.ts, epoch, offset: pub.offset, prev };
      if (prevMid !== undefined) envelope.prevMid = prevMid;
      if (pub.from) envelope.from = { user: pub.from.user, client: pub.from.client };
      out.push(envelope);
      prev = pub.offset;
      prevMid = pub.mid;
    }
    return out;
  }

  /**
   * Searches the publications before `offset` for the last own one: a small window first, then
   * `maxRead`. Only a contiguous run of publications ending at `offset - 1` proves there is no own
   * message in it, so a trimmed or changed history yields a lower bound.
   */
  private async ownBefore(room: string, epoch: string, offset: number): Promise<{ prev: number; prevMid?: string }> {
    let bound = offset - 1;
    for (const window of [firstLookback, this.options.maxRead]) {
      const size = Math.min(window, offset - 1);
      const since = offset - 1 - size;
      const page = await this.options.history.read(room, { since, limit: size });
      if (page.epoch !== epoch) return { prev: bound };
      const before = page.publications.filter((p) => p.offset < offset);
      // Walk back from offset - 1 while the offsets are contiguous.
      let expected = offset - 1;
      for (let i = before.length - 1; i >= 0 && before[i].offset === expected; i -= 1, expected -= 1) {
        if (before[i].region === this.options.region) return { prev: before[i].offset, prevMid: before[i].mid };
      }
      bound = expected;
      if (expected > since || since === 0) return { prev: bound };
    }
    return { prev: bound };
  }
}
