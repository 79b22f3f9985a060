/**
 * The Redis engine's settings come from the gateway config (file or MERIDIAN_* environment) and
 * take effect: gateways with different key prefixes share one redis-server without seeing each
 * other's rooms, and subscribes reach Redis in commands of `redis.subscribeBatchSize` channels.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { signToken, spawnGateway, startGateway, TestClient, type SpawnedGateway, type TestGateway } from './helpers/gateway.ts';
import { waitFor } from './helpers/net.ts';
import { skipUnless, startRedis, type RedisServer } from './helpers/services.ts';

const skip = skipUnless('redis-server', 'the Redis settings scenarios');

describe('redis settings from the gateway config', { skip }, () => {
  let redis: RedisServer;
  let raw: Redis;

  before(async () => {
    redis = await startRedis();
    raw = new Redis(redis.url, { maxRetriesPerRequest: 1 });
    raw.on('error', (error: Error) => process.stderr.write(`test redis client: ${error.message}\n`));
  });
  after(async () => {
    raw?.disconnect();
    await redis?.stop();
  });

  test('two gateways with different key prefixes share one Redis without seeing each other’s rooms', async () => {
    let alpha: TestGateway | undefined;
    let beta: SpawnedGateway | undefined;
    const clients: TestClient[] = [];
    try {
      alpha = await startGateway({ redisUrl: redis.url, redis: { keyPrefix: 'alpha' } });
      // The other one is a real process configured through the environment.
      beta = await spawnGateway({}, { env: { MERIDIAN_REDIS_URL: redis.url, MERIDIAN_REDIS_KEY_PREFIX: 'beta' } });
      const ada = await alpha.client('ada');
      const bob = await TestClient.connected(beta.wsUrl, await signToken('bob'));
      clients.push(ada, bob);
      await ada.request({ op: 'subscribe', room: 'lobby' });
      await bob.request({ op: 'subscribe', room: 'lobby' });

      const fromAlpha = await ada.request({ op: 'publish', room: 'lobby', data: 'for alpha' });
      const fromBeta = await bob.request({ op: 'publish', room: 'lobby', data: 'for beta' });
      assert.equal(fromAlpha.offset, 1);
      assert.equal(fromBeta.offset, 1, 'each deployment has its own offsets for the same room name');
      assert.notEqual(fromAlpha.epoch, fromBeta.epoch);
      await ada.waitFrame((f) => f.op === 'message' && f.data === 'for alpha');
      await bob.waitFrame((f) => f.op === 'message' && f.data === 'for beta');
      // A marker published after both proves the other's message would have arrived by now.
      await ada.request({ op: 'publish', room: 'lobby', data: 'alpha marker' });
      await bob.request({ op: 'publish', room: 'lobby', data: 'beta marker' });
      await ada.waitFrame((f) => f.op === 'message' && f.data === 'alpha marker');
      await bob.waitFrame((f) => f.op === 'message' && f.data === 'beta marker');
      assert.deepEqual(ada.messages().map((m) => m.data), ['for alpha', 'alpha marker']);
      assert.deepEqual(bob.messages().map((m) => m.data), ['for beta', 'beta marker']);

      const history = await bob.request({ op: 'history', room: 'lobby', limit: 10 });
      assert.deepEqual(history.messages.map((m: { data: unknown }) => m.data), ['for beta', 'beta marker']);
      const presence = await ada.request({ op: 'presence', room: 'lobby' });
      assert.deepEqual(presence.members.map((m: { user: string }) => m.user), ['ada']);

      assert.equal(await raw.exists('alpha:meta:{lobby}', 'beta:meta:{lobby}'), 2);
      assert.deepEqual(await raw.keys('meridian:*'), [], 'nothing is written under the default prefix');
      const channels = (await raw.pubsub('CHANNELS', '*:room:{lobby}')) as string[];
      assert.deepEqual(channels.sort(), ['alpha:room:{lobby}', 'beta:room:{lobby}']);
    } finally {
      for (const client of clients) client.ws.terminate();
      await alpha?.close();
      await beta?.stop();
    }
  });

  test('a burst of subscribes reaches Redis in SUBSCRIBE commands of at most redis.subscribeBatchSize channels', async () => {
    const gw = await startGateway({ redisUrl: redis.url, redis: { keyPrefix: 'batched', subscribeBatchSize: 50 }, limits: { roomsPerConnection: 200 } });
    const monitor = await raw.monitor();
    const subscribes: string[][] = [];
    monitor.on('monitor', (_time: string, args: string[]) => {
      if (args[0]?.toLowerCase() === 'subscribe') subscribes.push(args.slice(1));
    });
    try {
      const client = await gw.client('storm');
      for (let i = 0; i < 200; i += 1) client.send({ id: 10_000 + i, op: 'subscribe', room: `storm-${i}` });
      const replies = await client.waitCount((f) => f.op === 'subscribed', 200);
      assert.equal(replies.length, 200);
      await waitFor(() => subscribes.flat().length >= 200, { what: 'every SUBSCRIBE seen by MONITOR' });
      const channels = subscribes.flat();
      assert.equal(new Set(channels).size, 200);
      assert.ok(channels.every((c) => c.startsWith('batched:room:{storm-')));
      assert.ok(subscribes.every((batch) => batch.length <= 50), `batches ${subscribes.map((b) => b.length)}`);
      assert.ok(subscribes.length < 200 / 2, `subscribes were coalesced: ${subscribes.length} commands`);

      // Rooms of a departed subscriber leave Redis.
      client.ws.terminate();
      await waitFor(async () => ((await raw.pubsub('CHANNELS', 'batched:room:*')) as string[]).length === 0, { what: 'every channel unsubscribed' });
    } finally {
      monitor.disconnect();
      await gw.close();
    }
  });
});
