/**
 * Presence across regions. This pod tells the other regions about the members it adds and
 * removes (and the join/leave pushes it announces); they keep those members in their own
 * presence, with their region, under the engine's presence TTL. The periodic digest re-sends
 * this pod's members of each room (at most `digestMaxMembers` per room), which refreshes that
 * TTL, so a region that disappears drops out of every other region's presence within the TTL,
 * while a live one keeps its members there.
 *
 * The members this pod added are remembered here (room → client → member): that is what the
 * digest re-sends, and what a removal by client id needs to say who left.
 */
import type { Logger } from 'pino';
import type { Engine, Member, RoomEvent } from '../engine/types.ts';
import { envelopeVersion, type DigestEnvelope, type EventEnvelope, type PresenceEnvelope, type RelayEnvelope } from './envelope.ts';

export interface PresenceRelayOptions {
  region: string;
  /** The region's engine itself (remote members go straight into it). */
  engine: Engine;
  digestMaxMembers: number;
  logger: Logger;
  send(envelope: RelayEnvelope): void;
}

export class PresenceRelay {
  private readonly options: PresenceRelayOptions;
  private readonly local = new Map<string, Map<string, Member>>();

  constructor(options: PresenceRelayOptions) {
    this.options = options;
  }

  /** Rooms where this pod has members. */
  rooms(): IterableIterator<string> {
    return this.local.keys();
  }

  /** This pod's members of the room, bounded for a digest. */
  digestMembers(room: string): Member[] {
    const members = this.local.get(room);
    if (!members) return [];
    const out: Member[] = [];
    for (const member of members.values()) {
      if (out.length >= this.options.digestMaxMembers) break;
      out.push(member);
    }
    return out;
  }

  /** After a local presence add (a join or a refresh): only a new entry is announced. */
  memberAdded(room: string, member: Member): void {
    if (member.region !== this.options.region) return;
    let members = this.local.get(room);
    if (!members) this.local.set(room, (members = new Map()));
    if (members.has(member.client)) return;
    members.set(member.client, { ...member });
    this.options.send(this.presence(room, 'add', member));
  }

  memberRemoved(room: string, client: string): void {
    const members = this.local.get(room);
    const member = members?.get(client);
    if (!members || !member) return;
    members.delete(client);
    if (members.size === 0) this.local.delete(room);
    this.options.send(this.presence(room, 'remove', member));
  }

  eventAnnounced(room: string, event: RoomEvent): void {
    if (event.member.region !== this.options.region) return;
    const envelope: EventEnvelope = { v: envelopeVersion, kind: 'event', origin: this.options.region, room, event };
    this.options.send(envelope);
  }

  // ---- from other regions ----------------------------------------------------------------

  /** Rejects when the engine failed (the caller nacks, and the bus delivers it again). */
  async applyPresence(envelope: PresenceEnvelope): Promise<void> {
    const member = { ...envelope.member, region: envelope.origin };
    if (envelope.op === 'add') await this.options.engine.presence.add(envelope.room, member);
    else await this.options.engine.presence.remove(envelope.room, member.client);
  }

  async applyEvent(envelope: EventEnvelope): Promise<void> {
    await this.options.engine.broker.publishEvent(envelope.room, { type: envelope.event.type, member: { ...envelope.event.member, region: envelope.origin } });
  }

  async applyDigest(envelope: DigestEnvelope): Promise<void> {
    const members = envelope.members.slice(0, this.options.digestMaxMembers);
    await Promise.all(members.map((m) => this.options.engine.presence.add(envelope.room, { ...m, region: envelope.origin })));
  }

  private presence(room: string, op: 'add' | 'remove', member: Member): PresenceEnvelope {
    return { v: envelopeVersion, kind: 'presence', origin: this.options.region, room, op, member: { ...member } };
  }
}
