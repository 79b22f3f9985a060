/**
 * The worker between the queue and the reconciler, driven by an in-test reconciler that records
 * what it is asked and answers as told, on a manual clock: no sleeps.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KubeApiError } from '../operator/kube/errors.ts';
import { pino } from 'pino';
import { ManualClock } from '../operator/clock.ts';
import { createOperatorMetrics } from '../operator/metrics.ts';
import { WorkQueue } from '../operator/queue.ts';
import { processNext } from '../operator/worker.ts';
import { TerminalError, type ReconcileResult, type Reconciler } from '../operator/types.ts';

const logger = pino({ level: 'silent' });

/** Answers each call with the next scripted outcome: a result, or an error to throw. */
function scriptedReconciler(outcomes: (ReconcileResult | Error)[]): Reconciler & { calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    async reconcile(key) {
      calls.push(key);
      const next = outcomes.shift() ?? {};
      if (next instanceof Error) throw next;
      return next;
    },
  };
}

function setup(outcomes: (ReconcileResult | Error)[]) {
  const clock = new ManualClock();
  const queue = new WorkQueue({ clock });
  const metrics = createOperatorMetrics({ processMetrics: false });
  const reconciler = scriptedReconciler(outcomes);
  const step = () => processNext(queue, reconciler, metrics, logger);
  const count = async (name: string, labels: Record<string, string>) =>
    (await metrics.registry.getSingleMetric(name)?.get())?.values.find((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l))?.value ?? 0;
  return { clock, queue, reconciler, step, count };
}

test('a reconcile failing with 409 (a stale write) is retried with growing backoff, then forgotten on success', async () => {
  const conflict = new KubeApiError('PUT', '/x', 409, { kind: 'Status', reason: 'Conflict', code: 409 }, {});
  const s = setup([conflict, conflict, conflict, {}]);
  s.queue.add('tenants/a');
  await s.step();
  assert.equal(s.queue.retries('tenants/a'), 1);
  assert.equal(s.queue.length, 0, 'not retried at once');
  s.clock.advance(5);
  await s.step();
  s.clock.advance(9);
  assert.equal(s.queue.length, 0, 'the second retry waits 10 ms');
  s.clock.advance(1);
  await s.step();
  s.clock.advance(20);
  await s.step();
  assert.deepEqual(s.reconciler.calls, ['tenants/a', 'tenants/a', 'tenants/a', 'tenants/a']);
  assert.equal(s.queue.retries('tenants/a'), 0, 'forgotten after the success');
  assert.equal(await s.count('meridian_operator_reconcile_errors_total', { kind: 'retryable' }), 3);
  assert.equal(await s.count('meridian_operator_reconcile_total', { outcome: 'success' }), 1);
});

test('a reconcile throttled with 429 is retried no sooner than the Retry-After the server asked for', async () => {
  const s = setup([new KubeApiError('GET', '/x', 429, { kind: 'Status', reason: 'TooManyRequests', code: 429 }, { 'retry-after': '2' }), {}]);
  s.queue.add('tenants/b');
  await s.step();
  s.clock.advance(1_999);
  assert.equal(s.queue.length, 0, 'the backoff alone (5 ms) would have retried already');
  s.clock.advance(1);
  await s.step();
  assert.deepEqual(s.reconciler.calls, ['tenants/b', 'tenants/b']);
  assert.equal(await s.count('meridian_operator_queue_retries_total', {}), 1);
});

test('a terminal error is counted and never retried', async () => {
  const s = setup([new TerminalError('InvalidKey', 'bad key')]);
  s.queue.add('bad');
  await s.step();
  s.clock.advance(600_000);
  assert.equal(s.queue.length, 0);
  assert.equal(s.queue.delayed, 0);
  assert.equal(await s.count('meridian_operator_reconcile_total', { outcome: 'terminal' }), 1);
});

test('requeueAfter brings the key back after that long, with no backoff recorded', async () => {
  const s = setup([{ requeueAfterMs: 5_000 }, {}]);
  s.queue.add('tenants/c');
  await s.step();
  s.clock.advance(4_999);
  assert.equal(s.queue.length, 0);
  s.clock.advance(1);
  assert.equal(s.queue.length, 1);
  assert.equal(s.queue.retries('tenants/c'), 0);
  await s.step();
  assert.equal(s.reconciler.calls.length, 2);
});

test('processNext reports false once the queue has shut down', async () => {
  const s = setup([]);
  s.queue.shutdown();
  assert.equal(await s.step(), false);
});
