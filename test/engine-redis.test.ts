/**
 * The Redis engine against the engine contract, on a redis-server this file starts.
 */
import { after, before, describe } from 'node:test';
import { RedisEngine } from '../gateway/engine/redis.ts';
import { engineContract } from './engine-contract.ts';
import { skipUnless, startRedis, type RedisServer } from './helpers/services.ts';

const skip = skipUnless('redis-server', 'the Redis engine contract');

describe('redis engine', { skip }, () => {
  let redis: RedisServer;
  before(async () => {
    redis = await startRedis();
  });
  after(async () => {
    await redis?.stop();
  });

  engineContract('redis', async () => {
    let clock = Date.now();
    return {
      createEngine: (engine) => new RedisEngine({ url: redis.url, engine, now: () => clock }),
      advance(ms) {
        clock += ms;
      },
      async close() {},
    };
  });
});
