/**
 * The relay's metrics (`meridian_relay_*`). The relay exists before the gateway's registry
 * does, so they are made unregistered and added to it by `register`, to be served with the
 * others on /metrics. Gauges read the live state when scraped.
 */
import { Counter, Gauge, Histogram, type Metric, type Registry } from 'prom-client';
import type { PeerLoad } from './liveness.ts';

export interface RelayState {
  publishing: boolean;
  receiving: boolean;
  degraded: boolean;
  outboxMessages: number;
  outboxBytes: number;
  lanes: number;
}

export class RelayMetrics {
  readonly sent: Counter;
  readonly outboxDropped: Counter;
  readonly received: Counter<'kind'>;
  readonly ownDropped: Counter;
  readonly malformed: Counter;
  readonly applied: Counter<'outcome'>;
  readonly applyFailures: Counter;
  readonly repairRequests: Counter<'direction'>;
  readonly unrecoverableGaps: Counter<'certain'>;
  readonly unrecoverableOffsets: Counter;
  readonly deliverLatency: Histogram;

  private readonly all: Metric[] = [];

  constructor(state: () => RelayState, peers: () => PeerLoad[]) {
    const registers: Registry[] = [];
    const gauge = (name: string, help: string, read: (s: RelayState) => number) =>
      this.all.push(new Gauge({
        name,
        help,
        registers,
        collect() {
          this.set(read(state()));
        },
      }));
    gauge('meridian_relay_degraded', '1 while the relay cannot publish to or receive from the bus (local delivery is unaffected)', (s) => (s.degraded ? 1 : 0));
    gauge('meridian_relay_publishing', '1 while publishing to the relay topic works', (s) => (s.publishing ? 1 : 0));
    gauge('meridian_relay_receiving', "1 while the region's relay subscription is open and, while a peer region is remembered, something arrived within relay.silenceMs", (s) => (s.receiving ? 1 : 0));
    gauge('meridian_relay_outbox_messages', 'Envelopes waiting in the outbox for the bus', (s) => s.outboxMessages);
    gauge('meridian_relay_outbox_bytes', 'Bytes waiting in the outbox for the bus', (s) => s.outboxBytes);
    gauge('meridian_relay_lanes', '(origin, room) pairs this pod tracks for ordered apply', (s) => s.lanes);
    // One series per remembered peer region (at most relay.maxPeerRegions); forgotten ones disappear.
    const perPeer = (name: string, help: string, read: (p: PeerLoad) => number | undefined) =>
      this.all.push(new Gauge({
        name,
        help,
        labelNames: ['region'],
        registers,
        collect() {
          this.reset();
          for (const peer of peers()) {
            const value = read(peer);
            if (value !== undefined) this.set({ region: peer.region }, value);
          }
        },
      }));
    perPeer('meridian_relay_peer_silence_seconds', 'Seconds since anything of the peer region (heartbeat or message) last arrived at this pod', (p) => p.silenceMs / 1000);
    perPeer('meridian_relay_peer_heartbeat_lag_seconds', "Publish → arrival of the peer region's last heartbeat at this pod", (p) => (p.heartbeatLagMs === undefined ? undefined : p.heartbeatLagMs / 1000));
    this.sent = new Counter({ name: 'meridian_relay_sent_total', help: 'Envelopes the bus accepted', registers });
    this.outboxDropped = new Counter({ name: 'meridian_relay_outbox_dropped_total', help: 'Envelopes dropped because the outbox was full (repaired from history while it keeps them)', registers });
    this.received = new Counter({ name: 'meridian_relay_received_total', help: 'Envelopes received from other regions, by kind', labelNames: ['kind'], registers });
    this.ownDropped = new Counter({ name: 'meridian_relay_own_dropped_total', help: "Envelopes of this pod's own region received and dropped", registers });
    this.malformed = new Counter({ name: 'meridian_relay_malformed_total', help: 'Envelopes that could not be decoded (acked and skipped)', registers });
    this.applied = new Counter({ name: 'meridian_relay_applied_total', help: 'Remote messages appended to this region (stored) or found already there (duplicate)', labelNames: ['outcome'], registers });
    this.applyFailures = new Counter({ name: 'meridian_relay_apply_failures_total', help: 'Appends of remote messages that failed (nacked, delivered again)', registers });
    this.repairRequests = new Counter({ name: 'meridian_relay_repair_requests_total', help: 'Repair requests sent to origins and answered for other regions', labelNames: ['direction'], registers });
    this.unrecoverableGaps = new Counter({ name: 'meridian_relay_unrecoverable_gaps_total', help: 'Gaps passed over because the origin no longer had the range or did not answer; certain="false" when the pod started without knowing what the region had (some of the range may be here)', labelNames: ['certain'], registers });
    this.unrecoverableOffsets = new Counter({ name: 'meridian_relay_unrecoverable_offsets_total', help: 'Origin offsets in unrecoverable gaps (an upper bound of the messages lost: some may have been foreign)', registers });
    this.deliverLatency = new Histogram({
      name: 'meridian_relay_deliver_seconds',
      help: 'Time from the first publish in the origin (message ts) to the append in this region',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    this.all.push(this.sent, this.outboxDropped, this.received, this.ownDropped, this.malformed, this.applied, this.applyFailures, this.repairRequests, this.unrecoverableGaps, this.unrecoverableOffsets, this.deliverLatency);
  }

  register(registry: Registry): void {
    for (const metric of this.all) registry.registerMetric(metric);
  }
}
