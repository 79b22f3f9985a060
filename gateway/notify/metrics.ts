/**
 * Notification metrics (`meridian_notify_*`), made unregistered and added to the gateway's
 * registry by `register`, like the relay's. The backlog gauge asks the store when scraped.
 */
import { Counter, Gauge, Histogram, type Metric, type Registry } from 'prom-client';

export type DeliveryOutcome = 'delivered' | 'retry' | 'failed' | 'gone' | 'duplicate' | 'expired' | 'collapsed' | 'dead_letter';
export type RouteDecision = 'socket' | 'channels' | 'quiet_hours' | 'rate_limited' | 'digest' | 'no_channel' | 'expired' | 'collapsed' | 'retry';

export class NotifyMetrics {
  readonly accepted: Counter<'source'>;
  readonly routed: Counter<'decision'>;
  readonly deliveries: Counter<'channel' | 'outcome'>;
  readonly deliverSeconds: Histogram<'channel'>;
  readonly workerErrors: Counter;
  readonly claimed: Counter;
  readonly #all: Metric[];

  constructor(backlog: () => Promise<number>) {
    const registers: Registry[] = [];
    this.accepted = new Counter({ name: 'meridian_notify_accepted_total', help: 'Notifications accepted for delivery, per recipient, by source (api, rule)', labelNames: ['source'], registers });
    this.routed = new Counter({ name: 'meridian_notify_routed_total', help: 'Routing decisions per recipient: socket, channels, quiet_hours, rate_limited, digest, no_channel, expired, collapsed, retry', labelNames: ['decision'], registers });
    this.deliveries = new Counter({ name: 'meridian_notify_deliveries_total', help: 'Delivery attempts per channel and outcome', labelNames: ['channel', 'outcome'], registers });
    this.deliverSeconds = new Histogram({
      name: 'meridian_notify_deliver_seconds',
      help: 'Time from send to delivery, per channel',
      labelNames: ['channel'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 15, 60, 300, 3600],
      registers,
    });
    this.workerErrors = new Counter({ name: 'meridian_notify_worker_errors_total', help: 'Queue reads or job steps that failed (store unreachable, unexpected faults)', registers });
    this.claimed = new Counter({ name: 'meridian_notify_claimed_total', help: 'Queue entries taken over from a pod that left them pending longer than notify.claimIdleMs', registers });
    const backlogGauge = new Gauge({
      name: 'meridian_notify_backlog',
      help: 'Notification jobs queued or scheduled in the region (not yet done)',
      registers,
      async collect() {
        this.set(await backlog().catch(() => -1));
      },
    });
    this.#all = [this.accepted, this.routed, this.deliveries, this.deliverSeconds, this.workerErrors, this.claimed, backlogGauge];
  }

  register(registry: Registry): void {
    for (const metric of this.#all) registry.registerMetric(metric);
  }
}
