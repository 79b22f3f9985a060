import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../operator/clock.ts';
import { WorkQueue } from '../operator/queue.ts';

/** The next key if one is ready now; 'empty' when get() would wait (no waiter is left behind). */
async function tryGet(queue: WorkQueue): Promise<string | undefined | 'empty'> {
  return queue.length === 0 ? 'empty' : queue.get();
}

test('a key added many times while waiting is handed out once', async () => {
  const queue = new WorkQueue({ clock: new ManualClock() });
  queue.add('ns/a');
  queue.add('ns/b');
  queue.add('ns/a');
  assert.equal(queue.length, 2);
  assert.equal(await queue.get(), 'ns/a');
  assert.equal(await queue.get(), 'ns/b');
  assert.equal(queue.length, 0);
});

test('a key re-added while in flight is not handed out twice at once, and is processed again after done', async () => {
  const queue = new WorkQueue({ clock: new ManualClock() });
  queue.add('ns/a');
  const key = await queue.get();
  assert.equal(key, 'ns/a');
  queue.add('ns/a');
  queue.add('ns/a');
  assert.equal(await tryGet(queue), 'empty', 'the key is in flight: nobody else may get it');
  queue.done('ns/a');
  assert.equal(await tryGet(queue), 'ns/a', 'processed once more after done');
  queue.done('ns/a');
  assert.equal(await tryGet(queue), 'empty');
});

test('a waiting worker receives a key the moment it is added', async () => {
  const queue = new WorkQueue({ clock: new ManualClock() });
  const pending = queue.get();
  queue.add('ns/late');
  assert.equal(await pending, 'ns/late');
  assert.equal(queue.inFlight, 1);
});

test('retries back off exponentially per key from 5 ms to the 5 min ceiling, and forget resets', () => {
  const queue = new WorkQueue({ clock: new ManualClock(), bucketBurst: 1000, bucketQps: 1000 });
  const delays = Array.from({ length: 20 }, () => queue.addRateLimited('ns/flaky'));
  assert.deepEqual(delays.slice(0, 5), [5, 10, 20, 40, 80]);
  assert.equal(delays.at(-1), 300_000);
  assert.ok(delays.every((d, i) => i === 0 || d >= delays[i - 1]), 'never shrinks');
  assert.equal(queue.retries('ns/flaky'), 20);
  assert.equal(queue.addRateLimited('ns/other'), 5, 'backoff is per key');
  queue.forget('ns/flaky');
  assert.equal(queue.retries('ns/flaky'), 0);
  assert.equal(queue.addRateLimited('ns/flaky'), 5);
});

test('the global token bucket spaces retries once the burst is spent', () => {
  const clock = new ManualClock();
  const queue = new WorkQueue({ clock, bucketQps: 10, bucketBurst: 3 });
  const delays = ['a', 'b', 'c', 'd', 'e'].map((k) => queue.addRateLimited(`ns/${k}`));
  assert.deepEqual(delays, [5, 5, 5, 100, 200], 'burst of 3, then one every 100 ms');
  clock.advance(1_000);
  assert.equal(queue.addRateLimited('ns/f'), 5, 'tokens refill with time');
});

test('a retried key comes back only when its delay has passed', async () => {
  const clock = new ManualClock();
  const queue = new WorkQueue({ clock });
  queue.addRateLimited('ns/a'); // 5 ms
  assert.equal(queue.delayed, 1);
  assert.equal(await tryGet(queue), 'empty');
  clock.advance(4);
  assert.equal(await tryGet(queue), 'empty');
  clock.advance(1);
  assert.equal(await tryGet(queue), 'ns/a');
});

test('addAfter keeps the earliest pending time for a key', async () => {
  const clock = new ManualClock();
  const queue = new WorkQueue({ clock });
  queue.addAfter('ns/a', 1_000);
  queue.addAfter('ns/a', 100);
  queue.addAfter('ns/a', 5_000);
  assert.equal(queue.delayed, 1);
  clock.advance(100);
  assert.equal(await tryGet(queue), 'ns/a');
  queue.done('ns/a');
  clock.advance(10_000);
  assert.equal(await tryGet(queue), 'empty', 'the later timers were replaced, not kept');
});

test('shutdown releases waiting workers and drops queued and delayed keys', async () => {
  const clock = new ManualClock();
  const queue = new WorkQueue({ clock });
  const waiting = queue.get();
  queue.shutdown();
  assert.equal(await waiting, undefined);
  queue.add('ns/a');
  queue.addAfter('ns/b', 10);
  assert.equal(clock.pending, 0);
  assert.equal(await queue.get(), undefined);
});
