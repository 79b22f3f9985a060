/**
 * Tallies (shared, expiring numbers) against both engines: atomic adds from two "pods", a
 * reader that sees the total, expiry fixed by the first add, and UNAVAILABLE when closed.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { MemoryEngine } from '../gateway/engine/memory.ts';
import { RedisEngine } from '../gateway/engine/redis.ts';
import type { Engine } from '../gateway/engine/types.ts';
import { Recorder, uniqueRoom } from './engine-contract.ts';
import { waitFor } from './helpers/net.ts';
import { skipUnless, startRedis, type RedisServer } from './helpers/services.ts';

function tallyContract(name: string, pods: () => Promise<[Engine, Engine]>): void {
  describe(`tallies contract: ${name}`, () => {
    let a: Engine;
    let b: Engine;
    before(async () => {
      [a, b] = await pods();
      await a.start(new Recorder());
      if (b !== a) await b.start(new Recorder());
    });
    after(async () => {
      await a.close();
      await b.close();
    });

    test('concurrent adds are never lost and every pod reads the total', async () => {
      const key = uniqueRoom('spend');
      await Promise.all(Array.from({ length: 50 }, (_, i) => (i % 2 === 0 ? a : b).tallies.add(key, 0.01, 60_000)));
      const [total] = await b.tallies.read([key]);
      assert.ok(Math.abs(total - 0.5) < 1e-9, `total ${total}`);
      assert.ok(Math.abs((await a.tallies.add(key, 0.25, 60_000)) - 0.75) < 1e-9);
      assert.deepEqual(await a.tallies.read([uniqueRoom('missing')]), [0]);
    });

    test('a key expires ttlMs after the add that created it, not after later adds', async () => {
      const key = uniqueRoom('short');
      await a.tallies.add(key, 1, 300);
      await new Promise((resolve) => setTimeout(resolve, 150));
      await a.tallies.add(key, 1, 10_000);
      await waitFor(async () => (await b.tallies.read([key]))[0] === 0, { timeoutMs: 2000, what: 'the tally to expire' });
    });
  });
}

tallyContract('memory', async () => {
  const engine = new MemoryEngine();
  return [engine, engine];
});

const skip = skipUnless('redis-server', 'the Redis tallies');
describe('redis tallies', { skip }, () => {
  let redis: RedisServer;
  before(async () => {
    redis = await startRedis();
  });
  after(async () => {
    await redis?.stop();
  });
  tallyContract('redis', async () => [new RedisEngine({ url: redis.url }), new RedisEngine({ url: redis.url })]);

  test('a closed engine refuses with UNAVAILABLE', async () => {
    const engine = new RedisEngine({ url: redis.url });
    await engine.start(new Recorder());
    await engine.close();
    await assert.rejects(engine.tallies.add('k', 1, 1000), (error: Error & { code?: string }) => error.code === 'UNAVAILABLE');
  });
});
