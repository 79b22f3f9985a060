/**
 * A Redis at maxmemory (noeviction) refuses writes. The engine must never read that refusal as
 * corruption: rooms keep their epoch and messages, presence keeps its members, the publish
 * fails with the retryable STORAGE_FULL, the gateway reports itself not ready, and everything
 * works again, in the same epoch, once memory is freed.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { RedisKeys } from '../gateway/engine/redis-format.ts';
import { RedisEngine } from '../gateway/engine/redis.ts';
import { EngineFullError } from '../gateway/engine/types.ts';
import { input, Recorder, uniqueRoom } from './engine-contract.ts';
import { startGateway, type TestGateway } from './helpers/gateway.ts';
import { waitFor } from './helpers/net.ts';
import { skipUnless, startRedis, type RedisServer } from './helpers/services.ts';

const skip = skipUnless('redis-server', 'the Redis out-of-memory scenarios');
const keys = new RedisKeys('meridian');

function metricValue(text: string, name: string): number {
  const match = new RegExp(`^${name} ([0-9.e+-]+)$`, 'm').exec(text);
  return match ? Number(match[1]) : NaN;
}

describe('redis at maxmemory with noeviction', { skip }, () => {
  let redis: RedisServer;
  let raw: Redis;
  let engine: RedisEngine;
  let gw: TestGateway;

  before(async () => {
    redis = await startRedis(['--maxmemory', '4mb', '--maxmemory-policy', 'noeviction']);
    raw = new Redis(redis.url, { maxRetriesPerRequest: 1 });
    raw.on('error', (error: Error) => process.stderr.write(`test redis client: ${error.message}\n`));
    engine = new RedisEngine({ url: redis.url, healthCheckMs: 100 });
    await engine.start(new Recorder());
    gw = await startGateway({ redisUrl: redis.url, redis: { healthCheckMs: 100 } });
  });
  after(async () => {
    await gw?.close();
    await engine?.close();
    raw?.disconnect();
    await redis?.stop();
  });

  /**
   * Fills Redis past maxmemory and returns the keys written. One plain SET can only reach the
   * limit (its own argument counts), so the filler is a script without a shebang: once such a
   * script has written, Redis lets it write on past maxmemory, as the wiping script did.
   */
  async function fill(): Promise<string[]> {
    const count = 6_000;
    await raw.eval("for i = 1, tonumber(ARGV[1]) do redis.call('set', 'filler:' .. i, string.rep('f', 1024)) end return 1", 0, count);
    await assert.rejects(raw.set('probe', 'x'), /^ReplyError: OOM|OOM/, 'Redis refuses writes now');
    return Array.from({ length: count }, (_, i) => `filler:${i + 1}`);
  }

  test('a full Redis keeps every room and member, fails writes with STORAGE_FULL, reports out-of-memory, and recovers in the same epoch', async () => {
    const room = uniqueRoom('full');
    const first = await engine.broker.publish(input(room, 'one'));
    const second = await engine.broker.publish(input(room, 'two'));
    const members = [
      { user: 'u1', client: 'c1', region: 'r' },
      { user: 'u2', client: 'c2', region: 'r' },
    ];
    for (const member of members) await engine.presence.add(room, member);
    const ada = await gw.client('ada');
    await ada.request({ op: 'subscribe', room });
    const clientsBefore = (await engine.presence.list(room)).map((m) => m.client).sort();
    assert.equal(clientsBefore.length, 3, 'two members and the subscribed client');

    const filler = await fill();
    for (let attempt = 0; attempt < 3; attempt++) {
      await assert.rejects(engine.broker.publish(input(room, `refused ${attempt}`)), (error: unknown) => error instanceof EngineFullError && error.code === 'STORAGE_FULL');
    }
    await assert.rejects(engine.presence.add(room, { user: 'u3', client: 'c3', region: 'r' }), EngineFullError);
    assert.deepEqual(engine.health(), { healthy: false, reason: 'out-of-memory' });
    assert.ok(engine.counters.outOfMemory >= 4);

    // Nothing was deleted or restarted: same epoch, same messages, same members.
    assert.equal(await raw.hget(keys.meta(room), 'e'), first.epoch);
    assert.equal(await raw.hget(keys.meta(room), 's'), '2');
    const page = await engine.history.read(room, { since: 0, limit: 10 });
    assert.equal(page.epoch, first.epoch);
    assert.deepEqual(page.publications.map((p) => p.data), ['one', 'two']);
    assert.deepEqual((await engine.presence.list(room)).map((m) => m.client).sort(), clientsBefore);

    // The gateway: the publish fails retryably, readiness and the metric say why.
    const refused = await ada.request({ op: 'publish', room, data: 'refused', mid: 'retry-me' });
    assert.equal(refused.code, 'STORAGE_FULL');
    const ready = await waitFor(async () => {
      const res = await gw.apiJson('/readyz', { apiKey: null });
      return res.status === 503 ? res : undefined;
    }, { what: '/readyz 503' });
    assert.equal(ready.body.engine, 'out-of-memory');
    assert.equal(metricValue(await gw.gateway.metrics.registry.metrics(), 'meridian_engine_healthy'), 0);

    // Memory is freed: the health probe sees it without any traffic, and publishing continues.
    await raw.del(...filler);
    await waitFor(async () => (await gw.apiJson('/readyz', { apiKey: null })).status === 200, { what: '/readyz 200 after memory was freed' });
    await waitFor(() => engine.healthy(), { what: 'the engine healthy again' });
    assert.equal(metricValue(await gw.gateway.metrics.registry.metrics(), 'meridian_engine_healthy'), 1);
    const retried = await ada.request({ op: 'publish', room, data: 'refused', mid: 'retry-me' });
    assert.equal(retried.op, 'published');
    assert.equal(retried.epoch, first.epoch);
    assert.equal(retried.offset, second.offset + 1, 'the refused publishes stored nothing');
    const next = await engine.broker.publish(input(room, 'three'));
    assert.deepEqual([next.epoch, next.offset], [first.epoch, second.offset + 2]);
    assert.deepEqual((await engine.history.read(room, { since: 0, limit: 10 })).publications.map((p) => p.data), ['one', 'two', 'refused', 'three']);
  });

  test('raising maxmemory (CONFIG SET) also brings a full Redis back', async () => {
    const room = uniqueRoom('raised');
    const first = await engine.broker.publish(input(room, 'before'));
    const filler = await fill();
    await assert.rejects(engine.broker.publish(input(room, 'refused')), EngineFullError);
    await raw.config('SET', 'maxmemory', '64mb');
    try {
      await waitFor(() => engine.healthy(), { what: 'the engine healthy after maxmemory was raised' });
      const next = await engine.broker.publish(input(room, 'after'));
      assert.deepEqual([next.epoch, next.offset], [first.epoch, 2]);
    } finally {
      await raw.del(...filler);
      await raw.config('SET', 'maxmemory', '4mb');
    }
  });
});
