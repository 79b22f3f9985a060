/**
 * Relay liveness without traffic: is this pod still hearing the bus, and from which regions?
 *
 * A Pub/Sub client retries a broken streaming pull silently, so "a subscription object exists"
 * says nothing about a region that only listens. Instead:
 * - Every pod publishes a heartbeat (its region, the publish time) every `heartbeatMs`, one at a
 *   time, straight to the bus without an ordering key (so no room's order is involved and the
 *   bus spreads them over the receiving region's pods). A refused heartbeat is a refused publish:
 *   the bus's health says so, as for any envelope. Per pod rather than one per region: no
 *   election, every pod's publishing path is checked, and a region of k pods receives k times
 *   more heartbeats to spread over its own pods (docs/relay.md, Liveness, gives the cost).
 * - Every envelope that arrives (heartbeat or not, own region included: it proves this pod's
 *   stream delivers) counts as "heard"; those of other regions also note "last heard from R",
 *   and a heartbeat the lag from its publish.
 * - `silent`: nothing at all arrived for `silenceMs` while the pod remembers a peer region. A
 *   pod that remembers none (a cluster of one region, or a pod that never heard a peer) is not
 *   silent. Peers not heard for `peerForgetMs` are forgotten; at most `maxPeers` are kept, the
 *   least recently heard forgotten first, so a peer that invents region names cannot grow
 *   /loadz or the metric labels.
 */
import type { Logger } from 'pino';
import { BoundedMap } from './bounded-map.ts';
import { envelopeVersion, type HeartbeatEnvelope, type RelayEnvelope } from './envelope.ts';

export interface LivenessOptions {
  region: string;
  /** 0: no heartbeats are sent. */
  heartbeatMs: number;
  /** 0: silence never marks the pod as not receiving. */
  silenceMs: number;
  peerForgetMs: number;
  maxPeers: number;
  now: () => number;
  /** Hands a heartbeat to the bus (no ordering key); rejects when the bus refused it. */
  publish: (heartbeat: HeartbeatEnvelope) => Promise<void>;
  onSent: () => void;
  logger: Logger;
}

/** One peer region as /loadz and the metrics show it. */
export interface PeerLoad {
  region: string;
  /** Since anything of the region last arrived at this pod. */
  silenceMs: number;
  /** Publish → arrival of the region's last heartbeat here (clocks of both sides). */
  heartbeatLagMs?: number;
}

interface Peer {
  heardAt: number;
  heartbeatLagMs?: number;
}

export class RelayLiveness {
  private readonly options: LivenessOptions;
  private readonly peers: BoundedMap<string, Peer>;
  private lastArrival: number;
  private timer: NodeJS.Timeout | undefined;
  private sending = false;

  constructor(options: LivenessOptions) {
    this.options = options;
    this.peers = new BoundedMap(options.maxPeers);
    // A new pod gets one silence period before it can be judged.
    this.lastArrival = options.now();
  }

  start(): void {
    this.lastArrival = this.options.now();
    if (this.options.heartbeatMs <= 0) return;
    void this.beat();
    this.timer = setInterval(() => void this.beat(), this.options.heartbeatMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Something arrived from the bus. */
  heard(envelope: RelayEnvelope): void {
    const now = this.options.now();
    this.lastArrival = now;
    if (envelope.origin === this.options.region) return;
    // Called for every relayed envelope: the known peer is updated in place (get() marks it
    // most recently heard); a new one is added.
    const peer = this.peers.get(envelope.origin);
    const heartbeatLagMs = envelope.kind === 'heartbeat' ? Math.max(0, now - envelope.ts) : undefined;
    if (peer) {
      peer.heardAt = now;
      if (heartbeatLagMs !== undefined) peer.heartbeatLagMs = heartbeatLagMs;
    } else {
      this.peers.set(envelope.origin, heartbeatLagMs === undefined ? { heardAt: now } : { heardAt: now, heartbeatLagMs });
    }
  }

  /** Nothing arrived for `silenceMs` while a peer region is remembered. */
  get silent(): boolean {
    const { silenceMs, now } = this.options;
    return silenceMs > 0 && now() - this.lastArrival > silenceMs && this.peerLoads().length > 0;
  }

  /** Remembered peers, by region name; forgets those not heard for `peerForgetMs`. */
  peerLoads(): PeerLoad[] {
    const now = this.options.now();
    const loads: PeerLoad[] = [];
    const forgotten: string[] = [];
    for (const [region, peer] of this.peers.entries()) {
      const silenceMs = now - peer.heardAt;
      if (silenceMs > this.options.peerForgetMs) forgotten.push(region);
      else loads.push({ region, silenceMs, ...(peer.heartbeatLagMs !== undefined ? { heartbeatLagMs: peer.heartbeatLagMs } : {}) });
    }
    for (const region of forgotten) this.peers.delete(region);
    return loads.sort((x, y) => (x.region < y.region ? -1 : x.region > y.region ? 1 : 0));
  }

  /** One heartbeat at a time: while one is in flight (a slow bus), the next is skipped. */
  private async beat(): Promise<void> {
    if (this.sending) return;
    this.sending = true;
    try {
      await this.options.publish({ v: envelopeVersion, kind: 'heartbeat', origin: this.options.region, ts: this.options.now() });
      this.options.onSent();
    } catch (error) {
      // The bus's health records the refusal (and logs a new problem once).
      this.options.logger.debug({ relay: 'heartbeat', err: error }, 'a relay heartbeat was refused');
    } finally {
      this.sending = false;
    }
  }
}
