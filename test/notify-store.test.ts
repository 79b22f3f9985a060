/**
 * The notification stores against one contract: memory, and Redis on a redis-server this file
 * starts.
 */
import { after, before, describe } from 'node:test';
import { MemoryNotifyStore } from '../gateway/notify/memory-store.ts';
import { RedisNotifyStore } from '../gateway/notify/redis-store.ts';
import { notifyStoreContract } from './notify-store-contract.ts';
import { skipUnless, startRedis, type RedisServer } from './helpers/services.ts';

notifyStoreContract('memory', async () => new MemoryNotifyStore());

describe('redis notify store', { skip: skipUnless('redis-server', 'the Redis notification store contract') }, () => {
  let redis: RedisServer;
  before(async () => {
    redis = await startRedis();
  });
  after(async () => {
    await redis?.stop();
  });
  notifyStoreContract('redis', async () =>
    new RedisNotifyStore({ url: redis.url, keyPrefix: 'meridian', commandTimeoutMs: 1000, connectTimeoutMs: 2000, maxReconnectDelayMs: 1000, digestTtlMs: 60_000 }),
  );
});
