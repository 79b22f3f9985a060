/**
 * The operator's Prometheus metrics, in a Registry of its own (never prom-client's global one,
 * so tests and several operators in one process do not collide).
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export interface OperatorMetrics {
  readonly registry: Registry;
  readonly reconcileTotal: Counter<'outcome'>;
  readonly reconcileErrors: Counter<'kind'>;
  readonly reconcileDuration: Histogram;
  readonly queueDepth: Gauge;
  readonly queueRetries: Counter;
  readonly regionReachable: Gauge<'region' | 'source'>;
  readonly leader: Gauge;
  readonly informerLists: Counter<'informer' | 'reason'>;
  readonly informerErrors: Counter<'informer'>;
  readonly objectsWritten: Counter<'region'>;
  readonly statusWrites: Counter;
  readonly scalingDecisions: Counter<'region' | 'direction' | 'reason'>;
  readonly loadReads: Counter<'outcome'>;
}

export interface MetricsOptions {
  /** Also export Node's process metrics (memory, event loop lag, …). */
  processMetrics?: boolean;
}

export function createOperatorMetrics(options: MetricsOptions = {}): OperatorMetrics {
  const registry = new Registry();
  if (options.processMetrics ?? true) collectDefaultMetrics({ register: registry, prefix: 'meridian_operator_' });
  const registers = [registry];
  return {
    registry,
    reconcileTotal: new Counter({ name: 'meridian_operator_reconcile_total', help: 'Reconciles by outcome: success, requeue, error, terminal.', labelNames: ['outcome'], registers }),
    reconcileErrors: new Counter({ name: 'meridian_operator_reconcile_errors_total', help: 'Failed reconciles: retryable or terminal.', labelNames: ['kind'], registers }),
    reconcileDuration: new Histogram({
      name: 'meridian_operator_reconcile_duration_seconds',
      help: 'Time spent in one reconcile.',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    }),
    queueDepth: new Gauge({ name: 'meridian_operator_queue_depth', help: 'Keys waiting in the work queue (not in flight, not delayed).', registers }),
    queueRetries: new Counter({ name: 'meridian_operator_queue_retries_total', help: 'Keys queued again with backoff after a failed reconcile.', registers }),
    regionReachable: new Gauge({ name: 'meridian_operator_region_reachable', help: '1 when the region is Reachable, 0 when Unknown.', labelNames: ['region', 'source'], registers }),
    leader: new Gauge({ name: 'meridian_operator_leader', help: '1 while this replica holds the leader Lease.', registers }),
    informerLists: new Counter({ name: 'meridian_operator_informer_lists_total', help: 'Informer lists by reason: initial, expired (410), silent (watchdog), error.', labelNames: ['informer', 'reason'], registers }),
    informerErrors: new Counter({ name: 'meridian_operator_informer_errors_total', help: 'Failed informer lists and watches.', labelNames: ['informer'], registers }),
    objectsWritten: new Counter({ name: 'meridian_operator_objects_written_total', help: 'Regional objects applied because they differed from the desired state.', labelNames: ['region'], registers }),
    statusWrites: new Counter({ name: 'meridian_operator_status_writes_total', help: 'RealtimeCluster status writes.', registers }),
    scalingDecisions: new Counter({
      name: 'meridian_operator_scaling_decisions_total',
      help: 'Autoscaler decisions, one per region per load sample: direction up, down or hold, with the reason.',
      labelNames: ['region', 'direction', 'reason'],
      registers,
    }),
    loadReads: new Counter({ name: 'meridian_operator_load_reads_total', help: 'Gateway /loadz reads through pods/proxy, by outcome: ok or failed.', labelNames: ['outcome'], registers }),
  };
}
