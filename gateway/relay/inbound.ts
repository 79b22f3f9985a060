/**
 * The receiving side of the relay: remote messages appended to this region's history, per
 * origin and room in the origin's order, each once.
 *
 * Per (origin, room) a lane remembers the origin epoch and `last`, the highest origin offset
 * applied. A `msg` is applied when `prev <= last` (nothing of the origin's own can be missing
 * before it), skipped when `offset <= last` (already applied), and otherwise held, unacked:
 * - first this region's history is asked whether another pod already applied up to `prev`
 *   (`prevMid` is there): the region's pods share one subscription, so a lane is only a cache;
 * - then, after `reorderWindowMs` (two pods of the origin publish independently, so a later
 *   message can overtake an earlier one on the bus), a repair request goes to the origin, and
 *   again every `repairTimeoutMs`, at most `repairAttempts` times;
 * - the origin's answer says which offsets its history no longer has: those are recorded as an
 *   unrecoverable gap and passed over; an origin that never answers is passed over the same way
 *   after the last attempt. A room never stalls for longer than that.
 * A digest's `top` (the origin's newest own message) is a gap check without a message, so a
 * lost last message is found too.
 *
 * Append = the engine's publish, idempotent by `mid`; the bus message is acked only after it,
 * and a failed append nacks every held message of the lane, so the bus delivers them again.
 */
import type { Logger } from 'pino';
import type { Engine } from '../engine/types.ts';
import { BoundedMap } from './bounded-map.ts';
import { envelopeVersion, type MessageEnvelope, type RepairMarker, type RepairRequest } from './envelope.ts';
import type { BusDelivery } from './types.ts';

export interface InboundOptions {
  region: string;
  /** The region's engine itself (never the relayed one: an applied message must not go out again). */
  engine: Engine;
  maxRead: number;
  maxRooms: number;
  reorderWindowMs: number;
  repairTimeoutMs: number;
  repairAttempts: number;
  logger: Logger;
  sendRepairRequest(request: RepairRequest): void;
  onApplied(envelope: MessageEnvelope, duplicate: boolean): void;
  onUnrecoverable(origin: string, room: string, after: number, until: number, certain: boolean): void;
  onApplyFailed(): void;
}

interface Held {
  envelope: MessageEnvelope;
  delivery: BusDelivery;
}

interface Lane {
  readonly origin: string;
  readonly room: string;
  epoch?: string;
  last: number;
  /** Epochs of the origin this lane moved past; their stragglers are applied without ordering. */
  retired: string[];
  /** Sorted by origin offset. */
  held: Held[];
  /** From a digest: the origin's newest own message. */
  want?: { epoch: string; offset: number; mid: string };
  /** Started without knowing what was applied: up to here, nothing is reported lost, and mids in `knownMids` are not appended again. */
  uncertainUntil?: number;
  knownMids?: Set<string>;
  /** Repair answers not yet looked at (handled inside the lane's loop, like everything else). */
  markers: RepairMarker[];
  gapUntil?: number;
  gapDue: boolean;
  repair?: { until: number; attempts: number };
  timer?: NodeJS.Timeout;
  busy: boolean;
  dirty: boolean;
}

export class Inbound {
  private readonly options: InboundOptions;
  private readonly lanes: BoundedMap<string, Lane>;
  private closed = false;

  constructor(options: InboundOptions) {
    this.options = options;
    this.lanes = new BoundedMap(options.maxRooms);
  }

  get laneCount(): number {
    return this.lanes.size;
  }

  message(envelope: MessageEnvelope, delivery: BusDelivery): void {
    const lane = this.lane(envelope.origin, envelope.room);
    if (lane.held.some((h) => h.envelope.epoch === envelope.epoch && h.envelope.offset === envelope.offset)) {
      delivery.ack(); // the bus delivered it again while the first copy waits
      return;
    }
    const index = lane.held.findIndex((h) => h.envelope.offset > envelope.offset);
    lane.held.splice(index < 0 ? lane.held.length : index, 0, { envelope, delivery });
    this.process(lane);
  }

  /**
   * An origin's answer to a repair request of this region. It may reach any pod of the region,
   * not only the one that asked; `after` is what the asking pod had applied, which holds for
   * the whole region (its history is shared), so any pod can take the answer as it is.
   */
  marker(marker: RepairMarker): void {
    const lane = this.lane(marker.origin, marker.room);
    lane.markers.push(marker);
    this.process(lane);
  }

  digestTop(origin: string, room: string, top: { epoch: string; offset: number; mid: string }): void {
    const existing = this.lanes.get(key(origin, room));
    if (existing && existing.epoch === top.epoch && top.offset <= existing.last) return;
    const lane = existing ?? this.lane(origin, room);
    lane.want = top;
    this.process(lane);
  }

  close(): void {
    this.closed = true;
    for (const [, lane] of this.lanes.entries()) {
      clearTimeout(lane.timer);
      for (const held of lane.held.splice(0)) held.delivery.nack();
    }
  }

  private lane(origin: string, room: string): Lane {
    const k = key(origin, room);
    let lane = this.lanes.get(k);
    if (!lane) {
      lane = { origin, room, last: 0, retired: [], held: [], markers: [], gapDue: false, busy: false, dirty: false };
      this.lanes.set(k, lane, (old) => old.held.length === 0 && old.markers.length === 0 && !old.busy && old.want === undefined);
    }
    return lane;
  }

  private process(lane: Lane): void {
    lane.dirty = true;
    if (lane.busy || this.closed) return;
    lane.busy = true;
    const loop = async () => {
      while (lane.dirty && !this.closed) {
        lane.dirty = false;
        await this.run(lane);
      }
    };
    loop()
      .catch((error: unknown) => {
        this.options.logger.warn({ relay: 'inbound', origin: lane.origin, room: lane.room, err: error }, 'relay lane failed; its held messages come back from the bus');
        this.nackAll(lane);
      })
      .finally(() => {
        lane.busy = false;
        if (lane.dirty) this.process(lane);
      });
  }

  /** Applies what can be applied; leaves a timer when waiting for a gap to fill. */
  private async run(lane: Lane): Promise<void> {
    for (;;) {
      for (const marker of lane.markers.splice(0)) {
        if (lane.retired.includes(marker.epoch)) continue;
        if (lane.epoch !== marker.epoch) {
          // This pod knew nothing of the room (or an older epoch): the asking pod's view is better.
          if (lane.epoch !== undefined) this.newEpoch(lane);
          lane.epoch = marker.epoch;
          lane.last = marker.after;
        }
        if (lane.uncertainUntil !== undefined && lane.last < marker.after) lane.last = marker.after;
        if (marker.after > lane.last) continue; // an answer to an older question
        lane.repair = undefined;
        if (marker.lostUntil > lane.last) this.passOver(lane, marker.lostUntil, 'gone from the origin history');
      }
      if (lane.epoch === undefined && !(await this.start(lane))) return;
      const stranger = lane.held.find((h) => h.envelope.epoch !== lane.epoch);
      if (stranger) {
        if (lane.retired.includes(stranger.envelope.epoch)) {
          lane.held.splice(lane.held.indexOf(stranger), 1);
          if (!(await this.apply(lane, stranger, false))) return;
        } else {
          this.newEpoch(lane);
        }
        continue;
      }
      if (lane.want && lane.want.epoch !== lane.epoch) {
        if (lane.retired.includes(lane.want.epoch)) lane.want = undefined;
        else this.newEpoch(lane);
        continue;
      }
      if (lane.uncertainUntil !== undefined && lane.last >= lane.uncertainUntil) {
        lane.uncertainUntil = undefined;
        lane.knownMids = undefined;
      }
      const head = lane.held[0];
      if (head && head.envelope.offset <= lane.last) {
        lane.held.shift();
        head.delivery.ack();
        this.options.onApplied(head.envelope, true);
        continue;
      }
      if (head && head.envelope.prev <= lane.last) {
        lane.held.shift();
        if (!(await this.apply(lane, head, true))) return;
        continue;
      }
      if (lane.want && lane.want.offset <= lane.last) lane.want = undefined;
      const gap = head ? { until: head.envelope.prev, mid: head.envelope.prevMid } : lane.want ? { until: lane.want.offset, mid: lane.want.mid as string | undefined } : undefined;
      if (!gap) {
        this.clearGap(lane);
        return;
      }
      if (lane.gapUntil !== gap.until) {
        // A new gap: maybe another pod of this region applied up to it already.
        this.clearGap(lane);
        lane.gapUntil = gap.until;
        if (gap.mid && (await this.ownMids(lane)).has(gap.mid)) {
          lane.last = gap.until;
          continue;
        }
        this.armTimer(lane, this.options.reorderWindowMs);
        return;
      }
      if (!lane.gapDue) {
        this.armTimer(lane, lane.repair ? this.options.repairTimeoutMs : this.options.reorderWindowMs);
        return;
      }
      lane.gapDue = false;
      await this.resolveGap(lane, gap.until, gap.mid);
    }
  }

  /** Picks the lane's epoch and `last` from its first message (or digest); false when there is none. */
  private async start(lane: Lane): Promise<boolean> {
    const head = lane.held[0]?.envelope;
    const first = head ? { epoch: head.epoch, prev: head.prev, mid: head.prevMid } : lane.want ? { epoch: lane.want.epoch, prev: lane.want.offset, mid: lane.want.mid as string | undefined } : undefined;
    if (!first) return false;
    if (first.prev === 0) {
      lane.epoch = first.epoch;
      lane.last = 0;
      return true;
    }
    const mids = await this.ownMids(lane);
    lane.epoch = first.epoch;
    if (first.mid !== undefined && mids.has(first.mid)) {
      lane.last = first.prev;
      return true;
    }
    // Unknown: go back as far as a repair can reach, and skip what this region already has.
    lane.last = Math.max(0, first.prev - this.options.maxRead);
    lane.uncertainUntil = first.prev;
    lane.knownMids = mids;
    return true;
  }

  private newEpoch(lane: Lane): void {
    if (lane.epoch !== undefined) lane.retired = [...lane.retired.slice(-3), lane.epoch];
    lane.epoch = undefined;
    lane.last = 0;
    lane.uncertainUntil = undefined;
    lane.knownMids = undefined;
    lane.repair = undefined;
    this.clearGap(lane);
  }

  private async resolveGap(lane: Lane, until: number, mid: string | undefined): Promise<void> {
    if (mid && (await this.ownMids(lane)).has(mid)) {
      lane.last = until;
      lane.repair = undefined;
      return;
    }
    const attempts = lane.repair?.until === until ? lane.repair.attempts : 0;
    if (attempts < this.options.repairAttempts) {
      lane.repair = { until, attempts: attempts + 1 };
      this.options.sendRepairRequest({ v: envelopeVersion, kind: 'repair-request', origin: this.options.region, room: lane.room, target: lane.origin, epoch: lane.epoch!, after: lane.last, until });
      return;
    }
    lane.repair = undefined;
    this.passOver(lane, until, `no answer from the origin after ${attempts} repair requests`);
  }

  /**
   * Gives up on (last, until]: counted and logged. A lane that started without knowing what this
   * region had applied (`uncertain`) cannot tell whether it lacked anything in the range.
   */
  private passOver(lane: Lane, until: number, why: string): void {
    const after = lane.last;
    const certain = lane.uncertainUntil === undefined || after >= lane.uncertainUntil;
    lane.last = until;
    this.clearGap(lane);
    this.options.onUnrecoverable(lane.origin, lane.room, after, until, certain);
    this.options.logger.warn({ relay: 'inbound', origin: lane.origin, room: lane.room, epoch: lane.epoch, after, until, certain, why }, 'unrecoverable relay gap: origin messages in this range may be missing here');
  }

  private async apply(lane: Lane, held: Held, advance: boolean): Promise<boolean> {
    const { envelope, delivery } = held;
    if (lane.knownMids?.has(envelope.mid)) {
      delivery.ack();
      if (advance) lane.last = envelope.offset;
      this.options.onApplied(envelope, true);
      return true;
    }
    try {
      const input = { room: envelope.room, mid: envelope.mid, data: envelope.data, region: envelope.origin, ts: envelope.ts };
      const result = await this.options.engine.broker.publish(envelope.from ? { ...input, from: envelope.from } : input);
      delivery.ack();
      if (advance) lane.last = envelope.offset;
      this.options.onApplied(envelope, result.duplicate);
      return true;
    } catch (error) {
      this.options.onApplyFailed();
      this.options.logger.warn({ relay: 'inbound', origin: lane.origin, room: lane.room, err: error }, 'appending a relayed message failed; the bus will deliver it again');
      delivery.nack();
      this.nackAll(lane);
      return false;
    }
  }

  private nackAll(lane: Lane): void {
    for (const held of lane.held.splice(0)) held.delivery.nack();
    this.clearGap(lane);
  }

  /** Mids of the origin's messages among this region's newest `maxRead` publications of the room. */
  private async ownMids(lane: Lane): Promise<Set<string>> {
    const page = await this.options.engine.history.read(lane.room, { limit: this.options.maxRead });
    return new Set(page.publications.filter((p) => p.region === lane.origin).map((p) => p.mid));
  }

  private armTimer(lane: Lane, delayMs: number): void {
    if (lane.timer) return;
    lane.timer = setTimeout(() => {
      lane.timer = undefined;
      lane.gapDue = true;
      this.process(lane);
    }, delayMs);
    lane.timer.unref();
  }

  private clearGap(lane: Lane): void {
    clearTimeout(lane.timer);
    lane.timer = undefined;
    lane.gapUntil = undefined;
    lane.gapDue = false;
  }
}

function key(origin: string, room: string): string {
  return `${origin}\u0000${room}`;
}
