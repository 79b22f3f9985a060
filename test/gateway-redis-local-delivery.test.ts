/**
 * A gateway delivers its own clients' publications to its own subscribers as soon as Redis
 * accepted them, and recognises the broadcast that comes back as a duplicate. These scenarios
 * check what must still hold with Redis and two pods: every subscriber on either pod sees every
 * offset once and in order under concurrent publishers on both pods, a lost broadcast is still
 * repaired from history, and a publish with a mid the gateway made costs Redis no idempotency work.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { parseCommandStats } from '../bench/lib/redis-stats.ts';
import { createConfiguredEngine } from '../gateway/main.ts';
import { resolveConfig } from '../gateway/config.ts';
import type { Engine, Publication } from '../gateway/engine/types.ts';
import { signToken, spawnGateway, startGateway, TestClient, type SpawnedGateway, type TestGateway } from './helpers/gateway.ts';
import { skipUnless, startRedis, type RedisServer } from './helpers/services.ts';
import { pino } from 'pino';

const skip = skipUnless('redis-server', 'the Redis local-delivery scenarios');

function room(label: string): string {
  return `${label}-${randomUUID().slice(0, 8)}`;
}

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}

/** The engine of `config`, with the live broadcast of chosen offsets lost on this pod. */
function losingBroadcasts(config: Parameters<typeof resolveConfig>[0], lose: Set<number>, engines: Engine[]): Engine {
  const inner = createConfiguredEngine(resolveConfig(config, {}), pino({ level: 'silent' }));
  engines.push(inner);
  return {
    name: inner.name,
    counters: inner.counters,
    broker: inner.broker,
    history: inner.history,
    presence: inner.presence,
    tallies: inner.tallies,
    healthy: () => inner.healthy(),
    health: () => inner.health(),
    close: () => inner.close(),
    start: (handlers) =>
      inner.start({
        ...handlers,
        publication(pub: Publication) {
          if (!lose.has(pub.offset)) handlers.publication(pub);
        },
      }),
  };
}

describe('local delivery with Redis', { skip }, () => {
  let redis: RedisServer;
  let admin: Redis;
  const spawned: SpawnedGateway[] = [];
  const inProcess: TestGateway[] = [];
  /** Engines handed to in-process gateways: the helper leaves closing them to the caller. */
  const engines: Engine[] = [];
  const clients: TestClient[] = [];

  async function client(wsUrl: string, user: string): Promise<TestClient> {
    const c = await TestClient.connected(wsUrl, await signToken(user));
    clients.push(c);
    return c;
  }

  before(async () => {
    redis = await startRedis();
    admin = new Redis(redis.url, { maxRetriesPerRequest: 1 });
  });

  after(async () => {
    for (const c of clients) c.ws.terminate();
    for (const gw of inProcess) await gw.close();
    for (const engine of engines) await engine.close();
    for (const gw of spawned) await gw.stop();
    admin?.disconnect();
    await redis?.stop();
  });

  test('concurrent publishers on both pods: every subscriber on both pods sees every offset once, in order', async () => {
    for (const node of ['pod-a', 'pod-b']) {
      spawned.push(await spawnGateway({ redisUrl: redis.url, region: 'test-region', node, logLevel: 'warn', limits: { publishRatePerSec: 10_000, publishBurst: 10_000 } }));
    }
    const [a, b] = spawned;
    const busy = room('busy');
    // Publishers subscribe too: each is a subscriber on the pod its own publications are stored from.
    const publishers = await Promise.all([client(a.wsUrl, 'pa1'), client(a.wsUrl, 'pa2'), client(b.wsUrl, 'pb1'), client(b.wsUrl, 'pb2')]);
    const listeners = await Promise.all([client(a.wsUrl, 'la'), client(b.wsUrl, 'lb')]);
    const everyone = [...publishers, ...listeners];
    const subscribed = await Promise.all(everyone.map((c) => c.request({ op: 'subscribe', room: busy })));
    assert.ok(subscribed.every((s) => s.epoch === subscribed[0].epoch && s.offset === 0));

    const perPublisher = 40;
    // Sent without waiting for replies, so publishes from both pods interleave in Redis; half carry a client mid.
    const acks = await Promise.all(
      publishers.flatMap((p, who) =>
        Array.from({ length: perPublisher }, (_, i) => p.request({ op: 'publish', room: busy, data: { who, i }, ...(i % 2 === 0 ? { mid: `m-${who}-${i}` } : {}) })),
      ),
    );
    const total = publishers.length * perPublisher;
    assert.deepEqual(acks.map((ack) => ack.offset).sort((x, y) => x - y), range(1, total));
    const dataAt = new Map(acks.map((ack, n) => [ack.offset as number, { who: Math.floor(n / perPublisher), i: n % perPublisher }]));

    for (const c of everyone) {
      const messages = await c.waitCount((f) => f.op === 'message' && f.room === busy, total);
      // Anything still on its way (a duplicate from the broadcast) arrives before this pong.
      await c.request({ op: 'ping' });
      const seen = c.messages(busy);
      assert.deepEqual(seen.map((m) => m.offset), range(1, total), 'every offset once, in order, nothing repeated');
      for (const m of messages) assert.deepEqual(m.data, dataAt.get(m.offset), 'each offset carries the message acked with it');
    }
  });

  test('a broadcast lost on the publishing pod is repaired from history before the local publication', async () => {
    const lossy = room('lossy');
    const lose = new Set<number>([1]);
    const config = { redisUrl: redis.url, region: 'test-region', node: 'pod-lossy' };
    const a = await startGateway(config, { engine: losingBroadcasts(config, lose, engines) });
    inProcess.push(a);
    const b = await startGateway({ redisUrl: redis.url, region: 'test-region', node: 'pod-other' });
    inProcess.push(b);
    const reader = await a.client('reader');
    const writerA = await a.client('writer-a');
    const writerB = await b.client('writer-b');
    await reader.request({ op: 'subscribe', room: lossy });
    // Offset 1 comes from pod b and its broadcast never reaches pod a; offset 2 is pod a's own.
    assert.equal((await writerB.request({ op: 'publish', room: lossy, data: 'from b' })).offset, 1);
    assert.equal((await writerA.request({ op: 'publish', room: lossy, data: 'from a' })).offset, 2);
    const got = await reader.waitCount((f) => f.op === 'message', 2);
    assert.deepEqual(got.map((m) => [m.offset, m.data]), [[1, 'from b'], [2, 'from a']]);
    const metrics = await (await fetch(a.metricsUrl)).text();
    assert.match(metrics, /meridian_gap_repairs_total\{outcome="repaired"\} 1/);
  });

  test('a lost broadcast of its own publication does not keep it from the publishing pod’s subscribers', async () => {
    const own = room('own');
    const lose = new Set<number>([1, 2]);
    const config = { redisUrl: redis.url, region: 'test-region', node: 'pod-own', history: { positionCheckMs: 0 } };
    const a = await startGateway(config, { engine: losingBroadcasts(config, lose, engines) });
    inProcess.push(a);
    const reader = await a.client('reader');
    const writer = await a.client('writer');
    await reader.request({ op: 'subscribe', room: own });
    for (const text of ['one', 'two']) await writer.request({ op: 'publish', room: own, data: text });
    const got = await reader.waitCount((f) => f.op === 'message', 2);
    assert.deepEqual(got.map((m) => [m.offset, m.data]), [[1, 'one'], [2, 'two']]);
  });

  test('a publish with a mid the gateway made skips the idempotency lookup and record; a client mid keeps them', async () => {
    // INFO commandstats counts the whole server: the earlier scenarios' gateways and engines are
    // closed first, so their health probes (an EVAL a second) cannot land in the counted window.
    for (const c of clients.splice(0)) c.ws.terminate();
    for (const gw of inProcess.splice(0)) await gw.close();
    for (const engine of engines.splice(0)) await engine.close();
    for (const gw of spawned.splice(0)) await gw.stop();
    const config = { redisUrl: redis.url, region: 'test-region', node: 'pod-count', redis: { healthCheckMs: 600_000 } };
    const gw = await startGateway(config);
    inProcess.push(gw);
    const publisher = await gw.client('counter');
    const count = 20;
    const commandsFor = async (withMid: boolean): Promise<Record<string, number>> => {
      const target = room(withMid ? 'client-mid' : 'gateway-mid');
      // The room's first publish starts its epoch and sets its expiry (and loads the script): not counted.
      await publisher.request({ op: 'publish', room: target, data: 'first' });
      const before = parseCommandStats(await admin.info('commandstats'));
      for (let i = 0; i < count; i++) {
        const reply = await publisher.request({ op: 'publish', room: target, data: i, ...(withMid ? { mid: `mid-${i}` } : {}) });
        assert.equal(reply.op, 'published');
      }
      const afterStats = parseCommandStats(await admin.info('commandstats'));
      const delta: Record<string, number> = {};
      for (const [name, calls] of Object.entries(afterStats)) if (calls > (before[name] ?? 0)) delta[name] = calls - (before[name] ?? 0);
      return delta;
    };
    // Every publish: the script call, the epoch, the offset, the append, the expiry check, the
    // broadcast. The expiry itself was set by the first publish and is renewed only once per
    // tenth of historyTtlMs (10 min here), so never in this burst.
    const common = { evalsha: count, hget: count, hincrby: count, xadd: count, pttl: count, publish: count };
    assert.deepEqual(await commandsFor(false), common);
    assert.deepEqual(await commandsFor(true), { ...common, get: count, set: count });
  });
});
