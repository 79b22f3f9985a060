/**
 * The connections benchmark in a tiny configuration: one process per system with 100 then 200
 * connections in rooms of 50 (from two generators with loopback source addresses of their
 * own), two Meridian pods on one redis-server holding 100 each, and a storm cutting 60 of them.
 * Asserts that every message reached every subscriber once and in order — across the storm
 * too, where the cut clients came back with recover — and that the record is complete. No
 * timing claims.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '../bench/connections.ts';
import type { SystemResult } from '../bench/connections.ts';
import type { ClusterResult } from '../bench/connections-cluster.ts';
import { skipUnless } from './helpers/services.ts';

test('connections bench: every system holds its steps, the cluster delivers everything, the storm loses nothing', { skip: skipUnless('redis-server', 'the connections benchmark') }, async () => {
  const dir = await mkdtemp(join(tmpdir(), 'bench-connections-'));
  try {
    const args = [
      '--quiet', '--steps', '100,200', '--step-ms', '1500', '--rate', '100', '--pods', '2', '--per-pod', '100',
      '--duration-ms', '3000', '--warmup-ms', '1000', '--sample-ms', '1000', '--storm-clients', '60', '--storm-jitter-ms', '500', '--storm-ms', '7000',
      '--out', join(dir, 'connections.json'),
    ];
    const record = (await run(args)) as { single: SystemResult[]; cluster: ClusterResult };
    assert.deepEqual(record.single.map((r) => r.system), ['meridian', 'socketio', 'rawws']);
    for (const system of record.single) {
      assert.deepEqual(system.steps.map((s) => s.connections), [100, 200]);
      for (const step of system.steps) {
        assert.equal(step.open.opened, 100, `${system.system}: 100 more connections per step`);
        assert.ok(step.delivery.published > 0);
        assert.ok(step.delivery.lossless, `${system.system} at ${step.connections}: ${JSON.stringify(step.delivery)}`);
        assert.ok(step.sample.rss > 0 && step.lag.samples > 0);
      }
    }
    const { cluster } = record;
    assert.equal(cluster.connections, 200);
    assert.ok(cluster.hold.delivery.lossless, JSON.stringify(cluster.hold.delivery));
    assert.ok(cluster.warmup?.delivery.lossless && cluster.warmup.delivery.expected > 0, JSON.stringify(cluster.warmup?.delivery));
    assert.equal(cluster.perPod.length, 2);
    for (const pod of cluster.perPod) assert.ok(cluster.hold.samples.filter((s) => s.pod === pod.pod).length >= 3, 'a sample at the start and every second');
    const storm = cluster.storm!;
    assert.equal(storm.clients, 60);
    assert.equal(storm.generators.reduce((n, g) => n + g.back, 0), 60, 'every cut client came back');
    assert.equal(storm.notRecovered, 0);
    assert.ok(storm.delivery.lossless, `recover filled every gap: ${JSON.stringify(storm.delivery)}`);
    // The storm sampler read Redis and both pods: commands ran, the pods' counters were scraped.
    assert.ok(storm.samples.redisCommands.total > 0, 'Redis commands were counted during the storm');
    assert.equal(storm.samples.pods.length, 2);
    assert.equal(storm.samples.podCpuPercent.length, 2);
    assert.ok(storm.samples.intervals.length > 0);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('connections bench refuses more connections than one process can open here', async () => {
  await assert.rejects(run(['--steps', '19600']), { code: 'BENCH_BAD_ARGUMENT' });
  await assert.rejects(run(['--steps', '125']), { code: 'BENCH_BAD_ARGUMENT' });
  await assert.rejects(run(['--phases', 'storm']), { code: 'BENCH_BAD_ARGUMENT' });
});
