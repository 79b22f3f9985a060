/**
 * One pod's relay: what this region accepted goes out through the outbox; what other regions
 * sent comes in through the bus and is applied to this region's engine. See types.ts for the
 * guarantees and docs/relay.md for the whole picture.
 *
 * Outbound: `accepted` (after the local publish succeeded), presence changes, repair answers and
 * the periodic digest all go through one bounded outbox, so nothing the relay does delays local
 * delivery, and an outage of the bus only makes the outbox wait.
 * Inbound: own-region envelopes are dropped (a subscription filter may not be applied); messages
 * go to the ordered apply (inbound.ts); repair requests addressed to this region are answered
 * from its history; presence and digests go to presence-relay.ts. Liveness (liveness.ts):
 * every pod sends heartbeats, and whatever arrives counts as heard; heartbeats stop there.
 */
import type { Registry } from 'prom-client';
import type { Logger } from 'pino';
import type { Engine, Member, Publication, RoomEvent } from '../engine/types.ts';
import { envelopeVersion, type DigestEnvelope, type RelayEnvelope } from './envelope.ts';
import { Inbound } from './inbound.ts';
import { RelayLiveness, type PeerLoad } from './liveness.ts';
import { RelayMetrics, type RelayState } from './metrics.ts';
import { Origin, repairKey } from './origin.ts';
import { Outbox, type OutboxMode } from './outbox.ts';
import { PresenceRelay } from './presence-relay.ts';
import { RollingWindow } from '../rolling-window.ts';
import type { BusDelivery, RelayBus } from './types.ts';

export interface RelaySettings {
  region: string;
  /** Most publications read from history at once (history.maxRecover). */
  maxRead: number;
  /** A room is digested while its last relayed message is younger than this (history.ttlMs: after that the origin cannot repair it anyway). */
  recentMs: number;
  outboxMaxMessages: number;
  outboxMaxBytes: number;
  outboxMaxInFlight: number;
  outboxMode: OutboxMode;
  retryInitialMs: number;
  retryMaxMs: number;
  reorderWindowMs: number;
  repairTimeoutMs: number;
  repairAttempts: number;
  digestIntervalMs: number;
  digestMaxRooms: number;
  digestMaxMembers: number;
  maxTrackedRooms: number;
  /** /loadz's relay lag is the p99 of the last `lagSamples` applies within `lagWindowMs`. */
  lagWindowMs: number;
  lagSamples: number;
  /** Liveness without traffic (liveness.ts). */
  heartbeatMs: number;
  silenceMs: number;
  peerForgetMs: number;
  maxPeerRegions: number;
}

/** What /loadz says of the relay (the operator's status and dashboard read it). */
export interface RelayLoad {
  /** `degraded` while the bus cannot be published to or received from (local delivery goes on). */
  state: 'ok' | 'degraded';
  publishing: boolean;
  /** The subscription is open and, while a peer region is remembered, something arrived within relay.silenceMs. */
  receiving: boolean;
  /** Peer regions this pod heard from recently, by name (at most relay.maxPeerRegions). */
  peers: PeerLoad[];
  /** p99 of origin publish → append here over the recent applies; absent when none arrived in the window. */
  lagP99Ms?: number;
  /** Applies the lag is measured over. */
  lagSamples: number;
  /** Gaps passed over as unrecoverable since the pod started. */
  gaps: number;
  outboxMessages: number;
}

export interface RelayOptions extends RelaySettings {
  bus: RelayBus;
  /** The region's engine itself, not the relayed wrapper. */
  engine: Engine;
  logger: Logger;
  now: () => number;
}

/** Envelope overhead beyond the message data, for the outbox byte bound. */
const envelopeOverheadBytes = 512;

export class Relay {
  readonly region: string;
  private readonly options: RelayOptions;
  private readonly outbox: Outbox;
  private readonly origin: Origin;
  private readonly inbound: Inbound;
  private readonly presence: PresenceRelay;
  private readonly liveness: RelayLiveness;
  readonly metrics: RelayMetrics;
  private digestTimer: NodeJS.Timeout | undefined;
  private digesting = false;
  private readonly lag: RollingWindow;
  private gaps = 0;

  constructor(options: RelayOptions) {
    this.options = options;
    this.region = options.region;
    const { logger } = options;
    this.metrics = new RelayMetrics(() => this.state(), () => this.liveness.peerLoads());
    this.liveness = new RelayLiveness({
      region: options.region,
      heartbeatMs: options.heartbeatMs,
      silenceMs: options.silenceMs,
      peerForgetMs: options.peerForgetMs,
      maxPeers: options.maxPeerRegions,
      now: options.now,
      publish: (heartbeat) => options.bus.publish(heartbeat, undefined),
      onSent: () => this.metrics.sent.inc(),
      logger,
    });
    this.lag = new RollingWindow(options.lagSamples, options.lagWindowMs, options.now);
    this.outbox = new Outbox({
      bus: options.bus,
      mode: options.outboxMode,
      maxMessages: options.outboxMaxMessages,
      maxBytes: options.outboxMaxBytes,
      maxInFlight: options.outboxMaxInFlight,
      retryInitialMs: options.retryInitialMs,
      retryMaxMs: options.retryMaxMs,
      logger,
      onDegraded: () => undefined,
      onDropped: () => this.metrics.outboxDropped.inc(),
      onSent: () => this.metrics.sent.inc(),
    });
    this.origin = new Origin({ region: options.region, history: options.engine.history, maxRead: options.maxRead, maxRooms: options.maxTrackedRooms, now: options.now });
    this.inbound = new Inbound({
      region: options.region,
      engine: options.engine,
      maxRead: options.maxRead,
      maxRooms: options.maxTrackedRooms,
      reorderWindowMs: options.reorderWindowMs,
      repairTimeoutMs: options.repairTimeoutMs,
      repairAttempts: options.repairAttempts,
      logger,
      sendRepairRequest: (request) => {
        this.metrics.repairRequests.inc({ direction: 'sent' });
        logger.debug({ relay: 'repair', room: request.room, to: request.target, after: request.after, until: request.until }, 'sent a repair request');
        this.send(request, undefined);
      },
      onApplied: (envelope, duplicate) => {
        this.metrics.applied.inc({ outcome: duplicate ? 'duplicate' : 'stored' });
        if (duplicate) return;
        const lagMs = Math.max(0, options.now() - envelope.ts);
        this.metrics.deliverLatency.observe(lagMs / 1000);
        this.lag.add(lagMs);
      },
      onUnrecoverable: (_origin, _room, after, until, certain) => {
        this.metrics.unrecoverableGaps.inc({ certain: String(certain) });
        this.gaps += 1;
        this.metrics.unrecoverableOffsets.inc(until - after);
      },
      onApplyFailed: () => this.metrics.applyFailures.inc(),
    });
    this.presence = new PresenceRelay({ region: options.region, engine: options.engine, digestMaxMembers: options.digestMaxMembers, logger, send: (envelope) => this.send(envelope, roomOf(envelope)) });
  }

  /** Adds the relay's metrics to the gateway's registry. */
  registerMetrics(registry: Registry): void {
    this.metrics.register(registry);
  }

  async start(): Promise<void> {
    await this.options.bus.start((delivery) => this.receive(delivery));
    this.liveness.start();
    this.digestTimer = setInterval(() => void this.sendDigests(), this.options.digestIntervalMs);
    this.digestTimer.unref();
  }

  async close(): Promise<void> {
    clearInterval(this.digestTimer);
    this.liveness.stop();
    this.inbound.close();
    this.outbox.close();
    await this.options.bus.close();
  }

  state(): RelayState {
    const health = this.options.bus.health();
    const receiving = health.receiving && !this.liveness.silent;
    return {
      publishing: health.publishing && !this.outbox.isDegraded,
      receiving,
      degraded: !health.publishing || !receiving || this.outbox.isDegraded,
      outboxMessages: this.outbox.size,
      outboxBytes: this.outbox.sizeBytes,
      lanes: this.inbound.laneCount,
    };
  }

  load(): RelayLoad {
    const state = this.state();
    const p99 = this.lag.quantile(0.99);
    return {
      state: state.degraded ? 'degraded' : 'ok',
      publishing: state.publishing,
      receiving: state.receiving,
      peers: this.liveness.peerLoads(),
      ...(p99 !== undefined ? { lagP99Ms: Math.round(p99) } : {}),
      lagSamples: this.lag.size,
      gaps: this.gaps,
      outboxMessages: state.outboxMessages,
    };
  }

  // ---- from this region ------------------------------------------------------------------

  /** A message this region accepted and stored (never a relayed one): hand it to the outbox. */
  accepted(pub: Publication): void {
    if (pub.region !== this.region) return;
    const bytes = envelopeOverheadBytes + approximateBytes(pub.data);
    this.outbox.push({ key: pub.room, bytes, build: this.origin.messageEnvelope(pub) });
  }

  memberAdded(room: string, member: Member): void {
    this.presence.memberAdded(room, member);
  }

  memberRemoved(room: string, client: string): void {
    this.presence.memberRemoved(room, client);
  }

  eventAnnounced(room: string, event: RoomEvent): void {
    this.presence.eventAnnounced(room, event);
  }

  private send(envelope: RelayEnvelope, key: string | undefined): void {
    this.outbox.push({ key, bytes: envelopeOverheadBytes + (envelope.kind === 'msg' ? approximateBytes(envelope.data) : 0), build: async () => envelope });
  }

  /** One digest per recently active room (bounded): its newest own message and this pod's members. */
  private async sendDigests(): Promise<void> {
    if (this.digesting) return;
    this.digesting = true;
    try {
      const { now, recentMs, digestMaxRooms } = this.options;
      const recent = this.origin.recentRooms(now() - recentMs);
      const rooms = [...new Set([...recent, ...this.presence.rooms()])].slice(0, digestMaxRooms);
      const withMessages = new Set(recent);
      for (const room of rooms) {
        const top = withMessages.has(room) ? await this.origin.newestOwn(room).catch(() => undefined) : undefined;
        const members = this.presence.digestMembers(room);
        if (!top && members.length === 0) continue;
        const digest: DigestEnvelope = { v: envelopeVersion, kind: 'digest', origin: this.region, room, members };
        if (top) digest.top = { epoch: top.epoch, offset: top.offset, mid: top.mid };
        this.send(digest, room);
      }
    } finally {
      this.digesting = false;
    }
  }

  // ---- from other regions ----------------------------------------------------------------

  private receive(delivery: BusDelivery): void {
    const { envelope } = delivery;
    this.liveness.heard(envelope);
    if (envelope.origin === this.region) {
      this.metrics.ownDropped.inc();
      delivery.ack();
      return;
    }
    this.metrics.received.inc({ kind: envelope.kind });
    switch (envelope.kind) {
      case 'heartbeat':
        // Liveness only (noted above): never applied to a room.
        delivery.ack();
        return;
      case 'msg':
        this.inbound.message(envelope, delivery);
        return;
      case 'repair':
        if (envelope.target === this.region) {
          this.options.logger.debug({ relay: 'repair', room: envelope.room, from: envelope.origin, after: envelope.after, lostUntil: envelope.lostUntil }, 'received a repair answer');
          this.inbound.marker(envelope);
        }
        delivery.ack();
        return;
      case 'repair-request':
        if (envelope.target !== this.region) return delivery.ack();
        return this.settle(delivery, async () => {
          const answer = await this.origin.answerRepair(envelope);
          this.metrics.repairRequests.inc({ direction: 'answered' });
          this.options.logger.debug({ relay: 'repair', room: envelope.room, to: envelope.origin, after: envelope.after, until: envelope.until, resent: answer.length - 1 }, 'answered a repair request');
          for (const out of answer) this.send(out, repairKey(envelope.room));
        });
      case 'digest':
        if (envelope.top) this.inbound.digestTop(envelope.origin, envelope.room, envelope.top);
        return this.settle(delivery, () => this.presence.applyDigest(envelope));
      case 'presence':
        return this.settle(delivery, () => this.presence.applyPresence(envelope));
      case 'event':
        return this.settle(delivery, () => this.presence.applyEvent(envelope));
    }
  }

  /** Acks after `work`; a failure nacks, so the bus delivers it again. */
  private settle(delivery: BusDelivery, work: () => Promise<void>): void {
    work().then(
      () => delivery.ack(),
      (error: unknown) => {
        this.options.logger.warn({ relay: 'inbound', kind: delivery.envelope.kind, room: roomOf(delivery.envelope), err: error }, 'applying a relay envelope failed; the bus will deliver it again');
        delivery.nack();
      },
    );
  }
}

function roomOf(envelope: RelayEnvelope): string | undefined {
  return envelope.kind === 'heartbeat' ? undefined : envelope.room;
}

/** Size of the data as JSON, for the byte bound (the data came in as JSON, so it serialises). */
function approximateBytes(data: unknown): number {
  try {
    return Buffer.byteLength(JSON.stringify(data) ?? '');
  } catch {
    return 0;
  }
}
