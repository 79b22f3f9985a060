/**
 * A reconnect storm against a gateway on Redis: subscribes read the engine at most
 * `limits.subscribesInFlight` at a time, `limits.subscribeQueueLength` more wait their turn, and
 * one more is refused at once with OVERLOADED and a `retryAfterMs` hint. Whoever waited or was
 * refused still recovers every message, once and in order.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startGateway, TestClient, type TestGateway } from './helpers/gateway.ts';
import { skipUnless, startRedis, type RedisServer } from './helpers/services.ts';

const ROOM = 'storm-room';

describe('subscribes during a reconnect storm', { skip: skipUnless('redis-server', 'the subscribe gate on the Redis engine') }, () => {
  let redis: RedisServer;
  let gw: TestGateway;
  const clients: TestClient[] = [];

  before(async () => {
    redis = await startRedis();
    // A command timeout far past the pause below: the subscribes wait at Redis instead of failing.
    gw = await startGateway({
      redisUrl: redis.url,
      redis: { commandTimeoutMs: 60_000 },
      limits: { subscribesInFlight: 1, subscribeQueueLength: 1, subscribeRetryAfterMs: 500 },
    });
  });
  after(async () => {
    for (const client of clients) client.ws.terminate();
    await gw.close();
    redis.resume();
    await redis.stop();
  });

  const connected = async (user: string) => {
    const client = await TestClient.connected(gw.wsUrl, await gw.token(user, { rooms: [ROOM] }));
    clients.push(client);
    return client;
  };

  it('one subscribe reads Redis, one waits, the third is refused OVERLOADED with retryAfterMs; all three recover every message in order', async () => {
    const publisher = await connected('publisher');
    const first = await publisher.request({ op: 'publish', room: ROOM, data: { n: 1 } });
    assert.equal(first.op, 'published');
    for (const n of [2, 3]) assert.equal((await publisher.request({ op: 'publish', room: ROOM, data: { n } })).op, 'published');
    const from = { epoch: first.epoch, offset: first.offset };

    const comebacks = await Promise.all(['a', 'b', 'c'].map((user) => connected(user)));
    // Redis answers nothing: the first subscribe holds the one turn, the second waits for it.
    redis.pause();
    const replies = comebacks.map((client) => client.request({ op: 'subscribe', room: ROOM, recover: from }, 30_000));
    const refused = await Promise.race(replies.map((reply, i) => reply.then((frame) => ({ frame, i }))));
    assert.equal(refused.frame.op, 'error');
    assert.equal(refused.frame.code, 'OVERLOADED');
    const hint = refused.frame.retryAfterMs as number;
    assert.ok(hint >= 500 && hint < 1000, `retryAfterMs ${hint} is within [subscribeRetryAfterMs, 2 × subscribeRetryAfterMs)`);
    redis.resume();

    const settled = await Promise.all(replies);
    assert.deepEqual(
      settled.map((frame) => frame.op).sort(),
      ['error', 'subscribed', 'subscribed'],
      'only the subscribe past the queue was refused; the waiting one was served once Redis answered',
    );
    const retry = await comebacks[refused.i].request({ op: 'subscribe', room: ROOM, recover: from }, 30_000);
    for (const reply of [...settled.filter((frame) => frame.op === 'subscribed'), retry]) {
      assert.equal(reply.op, 'subscribed');
      assert.equal(reply.recovered, true);
      assert.deepEqual((reply.messages as { data: { n: number } }[]).map((m) => m.data.n), [2, 3]);
    }
    const metrics = await (await fetch(gw.metricsUrl)).text();
    assert.match(metrics, /meridian_errors_total\{code="OVERLOADED"\} 1\b/);
  });
});
