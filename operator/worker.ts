/**
 * A worker: takes keys from the work queue and hands them to the reconciler, one at a time,
 * turning each outcome into the queue's next step:
 *
 * - success: forget the key's failures (and look again after `requeueAfterMs` if asked);
 * - TerminalError: log and count, forget, never retry;
 * - any other error (a 409 on a stale write, a 429, a region not answering): retry after the
 *   queue's per-key backoff and global token bucket, and not before the server's Retry-After.
 */
import type { Logger } from 'pino';
import { errorSummary } from './errors.ts';
import { KubeApiError } from './kube/errors.ts';
import type { OperatorMetrics } from './metrics.ts';
import type { WorkQueue } from './queue.ts';
import { TerminalError, type Reconciler } from './types.ts';

export type WorkerMetrics = Pick<OperatorMetrics, 'reconcileTotal' | 'reconcileErrors' | 'reconcileDuration' | 'queueDepth' | 'queueRetries'>;

let reconcileSeq = 0;

/** A 429/503's Retry-After in ms (seconds form only), 0 when absent. */
export function retryAfterMs(error: unknown): number {
  if (!(error instanceof KubeApiError)) return 0;
  const value = Number(error.headers['retry-after']);
  return Number.isFinite(value) && value > 0 ? value * 1000 : 0;
}

/** Processes keys until the queue shuts down. */
export async function runWorker(queue: WorkQueue, reconciler: Reconciler, metrics: WorkerMetrics, logger: Logger): Promise<void> {
  while (await processNext(queue, reconciler, metrics, logger));
}

/** Processes one key; false once the queue has shut down. */
export async function processNext(queue: WorkQueue, reconciler: Reconciler, metrics: WorkerMetrics, logger: Logger): Promise<boolean> {
  const key = await queue.get();
  metrics.queueDepth.set(queue.length);
  if (key === undefined) return false;
  const log = logger.child({ key, reconcileId: ++reconcileSeq });
  const endTimer = metrics.reconcileDuration.startTimer();
  try {
    const result = await reconciler.reconcile(key);
    queue.forget(key);
    if (result.requeueAfterMs !== undefined && result.requeueAfterMs > 0) {
      queue.addAfter(key, result.requeueAfterMs);
      metrics.reconcileTotal.inc({ outcome: 'requeue' });
    } else {
      metrics.reconcileTotal.inc({ outcome: 'success' });
    }
  } catch (error) {
    if (error instanceof TerminalError) {
      queue.forget(key);
      metrics.reconcileTotal.inc({ outcome: 'terminal' });
      metrics.reconcileErrors.inc({ kind: 'terminal' });
      log.error({ reason: error.reason, err: errorSummary(error) }, 'reconcile failed for good; not retried');
    } else {
      const delayMs = queue.addRateLimited(key, retryAfterMs(error));
      metrics.reconcileTotal.inc({ outcome: 'error' });
      metrics.reconcileErrors.inc({ kind: 'retryable' });
      metrics.queueRetries.inc();
      log.warn({ err: errorSummary(error), retries: queue.retries(key), delayMs }, 'reconcile failed; retrying with backoff');
    }
  } finally {
    endTimer();
    queue.done(key);
    metrics.queueDepth.set(queue.length);
  }
  return true;
}
