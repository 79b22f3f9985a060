/**
 * The Redis engine when things go wrong: Redis killed and restarted under traffic, Redis
 * unreachable at start, and garbage written into its keys and channels by someone else.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { RedisKeys } from '../gateway/engine/redis-format.ts';
import { RedisEngine } from '../gateway/engine/redis.ts';
import { EngineUnavailableError, type PublishResult } from '../gateway/engine/types.ts';
import { input, Recorder, uniqueRoom } from './engine-contract.ts';
import { freePort, waitFor } from './helpers/net.ts';
import { skipUnless, startRedis, type RedisServer } from './helpers/services.ts';

const skip = skipUnless('redis-server', 'the Redis engine fault tests');
const keys = new RedisKeys('meridian');

describe('redis engine faults', { skip }, () => {
  let redis: RedisServer;
  let raw: Redis;
  const engines: RedisEngine[] = [];

  before(async () => {
    redis = await startRedis();
    raw = new Redis(redis.url, { maxRetriesPerRequest: 1 });
    raw.on('error', (error: Error) => process.stderr.write(`test redis client: ${error.message}\n`));
  });
  after(async () => {
    for (const engine of engines) await engine.close();
    raw?.disconnect();
    await redis?.stop();
  });

  async function pod(): Promise<{ engine: RedisEngine; seen: Recorder }> {
    const engine = new RedisEngine({ url: redis.url, commandTimeoutMs: 500, maxReconnectDelayMs: 200 });
    engines.push(engine);
    const seen = new Recorder();
    await engine.start(seen);
    return { engine, seen };
  }

  test('Redis killed and restarted during traffic: publishes fail fast with UNAVAILABLE, then subscriptions come back and resynced is called', async () => {
    const { engine: publisher } = await pod();
    const { engine: listener, seen } = await pod();
    const room = uniqueRoom('outage');
    // More rooms than one SUBSCRIBE batch, so restoring takes several commands.
    const quiet = Array.from({ length: 1_100 }, (_, i) => `${room}-quiet-${i}`);
    await listener.broker.subscribe([room, ...quiet]);
    const before = await publisher.broker.publish(input(room, 'before'));
    await seen.received(room, 1);

    let stop = false;
    const outcomes: (PublishResult | Error)[] = [];
    const traffic = (async () => {
      for (let i = 0; !stop; i++) {
        try {
          outcomes.push(await publisher.broker.publish(input(room, i)));
        } catch (error) {
          outcomes.push(error as Error);
          // While Redis is down every call fails at once; yield so the test can move on.
          await new Promise((resolve) => setImmediate(resolve));
        }
      }
    })();

    await waitFor(() => outcomes.length > 20, { what: 'traffic before the outage' });
    await redis.kill();
    await waitFor(() => outcomes.slice(-5).every((o) => o instanceof Error) && outcomes.length > 30, { what: 'publishes failing during the outage' });
    assert.equal(publisher.healthy(), false);
    assert.equal(listener.healthy(), false);
    await assert.rejects(listener.broker.subscribe([uniqueRoom('during')]), (error: unknown) => error instanceof EngineUnavailableError && error.code === 'UNAVAILABLE');
    const failedSoFar = outcomes.length;
    await redis.restart();
    await waitFor(() => outcomes.slice(failedSoFar).some((o) => !(o instanceof Error)), { what: 'a publish after the restart', timeoutMs: 20_000 });
    stop = true;
    await traffic;
    for (const outcome of outcomes) {
      if (outcome instanceof Error) assert.ok(outcome instanceof EngineUnavailableError, `every failure is UNAVAILABLE, got ${String(outcome)}`);
    }
    await waitFor(() => publisher.healthy() && listener.healthy(), { what: 'both engines healthy again', timeoutMs: 20_000 });
    await waitFor(() => seen.resyncs.length >= 1, { what: 'resynced', timeoutMs: 20_000 });
    const resynced = new Set(seen.resyncs.at(-1));
    assert.ok(resynced.has(room) && quiet.every((r) => resynced.has(r)), 'every subscribed room is resynced');
    assert.equal(resynced.size, quiet.length + 1, 'a room whose subscribe failed during the outage is not subscribed');
    const channels = (await raw.pubsub('NUMSUB', keys.channel(room), keys.channel(quiet.at(-1)!))) as unknown[];
    assert.deepEqual([channels[1], channels[3]], [1, 1], 'the listener is subscribed again');
    assert.equal(await raw.pubsub('NUMPAT'), 0, 'no pattern subscriptions');

    const last = outcomes.at(-1);
    assert.ok(last && !(last instanceof Error));
    assert.notEqual(last.epoch, before.epoch, 'Redis lost everything, so the room has a new epoch');
    const marker = await publisher.broker.publish(input(room, 'marker'));
    const delivered = await waitFor(() => seen.inRoom(room).find((p) => p.data === 'marker'), { what: 'the marker after the restart' });
    assert.equal(delivered.offset, marker.offset);
    // Pub/sub is at most once: what was published before the listener re-subscribed is missed
    // live, and `resynced` is the hub's cue to take it from history.
    const live = seen.inRoom(room).filter((p) => p.epoch === marker.epoch).map((p) => p.offset);
    assert.deepEqual(live, [...live].sort((a, b) => a - b), 'live deliveries stay in offset order');
    assert.equal(new Set(live).size, live.length, 'no live duplicates');
    const stored = await listener.history.read(room, { since: 0, limit: marker.offset });
    assert.equal(stored.epoch, marker.epoch);
    const recovered = new Set([...live, ...stored.publications.map((p) => p.offset)]);
    assert.deepEqual(
      [...recovered].sort((a, b) => a - b),
      Array.from({ length: marker.offset }, (_, i) => i + 1),
      'live deliveries plus history cover every publication of the new epoch',
    );
  });

  test('a killed subscriber connection is restored and resynced while publishing goes on; the gap is in history', async () => {
    const { engine: publisher } = await pod();
    const { engine: listener, seen } = await pod();
    const room = uniqueRoom('sub-killed');
    await listener.broker.subscribe([room]);
    await publisher.broker.publish(input(room, 'live'));
    await seen.received(room, 1);
    const resyncsBefore = seen.resyncs.length;
    await raw.call('CLIENT', 'KILL', 'TYPE', 'pubsub');
    // Published while the listener's feed is down (or just back): may be missed live.
    const during = await publisher.broker.publish(input(room, 'during'));
    await waitFor(() => seen.resyncs.length > resyncsBefore && listener.healthy(), { what: 'resynced after the subscriber reconnected' });
    assert.ok(seen.resyncs.at(-1)!.includes(room));
    const after = await publisher.broker.publish(input(room, 'after'));
    await waitFor(() => seen.inRoom(room).some((p) => p.offset === after.offset), { what: 'live delivery after the resync' });
    const page = await listener.history.read(room, { since: 1, limit: 10 });
    assert.deepEqual(
      page.publications.map((p) => p.offset),
      [during.offset, after.offset],
      'what the feed may have missed is in history for the hub to fill in',
    );
  });

  test('a Redis that stops answering fails calls with UNAVAILABLE after commandTimeoutMs', async () => {
    const { engine } = await pod();
    const room = uniqueRoom('paused');
    await raw.call('CLIENT', 'PAUSE', '1500', 'ALL');
    await assert.rejects(engine.broker.publish(input(room, 'stuck')), (error: unknown) => error instanceof EngineUnavailableError && /timed out/i.test(error.message));
    await waitFor(async () => (await engine.broker.publish(input(room, 'later'))).offset > 0, { what: 'Redis answering again', timeoutMs: 5_000, intervalMs: 100 });
  });

  test('an engine started while Redis is unreachable fails with UNAVAILABLE', async () => {
    const port = await freePort();
    const engine = new RedisEngine({ url: `redis://:secret@127.0.0.1:${port}`, connectTimeoutMs: 500 });
    await assert.rejects(engine.start(new Recorder()), (error: unknown) => {
      assert.ok(error instanceof EngineUnavailableError);
      assert.ok(!error.message.includes('secret'), 'the password never appears in errors');
      return true;
    });
    assert.equal(engine.healthy(), false);
    await engine.close();
  });

  test('garbage on a room channel is counted and skipped; valid messages still arrive', async () => {
    const { engine, seen } = await pod();
    const room = uniqueRoom('garbage-channel');
    await engine.broker.subscribe([room]);
    const channel = keys.channel(room);
    const garbage = [
      'hello',
      'p:not-a-number:e:{}',
      'p:1:epoch:{not json',
      'p:1:epoch:{"mid":1}',
      'e:{"type":"join","member":{"user":1}}',
      `p:1:epoch:${JSON.stringify({ mid: 'm', data: 'x'.repeat(2 * 1024 * 1024), region: 'r', ts: 1 })}`,
    ];
    for (const message of garbage) await raw.publish(channel, message);
    await engine.broker.publish(input(room, 'valid'));
    const [pub] = await seen.received(room, 1);
    assert.equal(pub!.data, 'valid');
    assert.equal(seen.publications.length, 1);
    assert.equal(seen.events.length, 0);
    assert.equal(engine.counters.malformedMessages, garbage.length);
    assert.equal(engine.healthy(), true);
  });

  test('garbage in a room stream is skipped on read, and a stream or meta of the wrong type is replaced on publish', async () => {
    const { engine } = await pod();
    const room = uniqueRoom('garbage-stream');
    await engine.broker.publish(input(room, 1));
    await raw.xadd(keys.stream(room), '2-0', 'other', 'field');
    await raw.xadd(keys.stream(room), '3-0', 'd', '{broken');
    const huge = JSON.stringify({ mid: 'm-huge', data: 'x'.repeat(2 * 1024 * 1024), region: 'r', ts: 1 });
    await raw.xadd(keys.stream(room), '4-0', 'd', huge);
    await raw.hset(keys.meta(room), 's', '4');
    await engine.broker.publish(input(room, 5));
    const page = await engine.history.read(room, { since: 0, limit: 10 });
    assert.deepEqual(
      page.publications.map((p) => [p.offset, p.data]),
      [
        [1, 1],
        [5, 5],
      ],
    );
    assert.equal(engine.counters.malformedHistoryEntries, 3, 'a foreign field, broken JSON and an oversized entry');

    await raw.set(keys.stream(room), 'not a stream');
    const repaired = await engine.broker.publish(input(room, 6));
    assert.equal(repaired.offset, 6);
    assert.deepEqual(
      (await engine.history.read(room, { limit: 10 })).publications.map((p) => p.data),
      [6],
    );

    await raw.set(keys.meta(room), 'not a hash');
    const renewed = await engine.broker.publish(input(room, 'fresh'));
    assert.notEqual(renewed.epoch, repaired.epoch, 'lost meta means a new epoch');
    assert.equal(renewed.offset, 1);
    assert.equal(engine.healthy(), true);
  });

  test('offsets near and past 2^53 stay integers end to end; a room at the largest offset continues in a new epoch', async () => {
    const { engine: publisher } = await pod();
    const { engine: listener, seen } = await pod();
    const room = uniqueRoom('big-offset');
    const first = await publisher.broker.publish(input(room, 'first'));
    // 1e14 is where Lua's tostring switches to "1e+14", which is not a stream id.
    await raw.hset(keys.meta(room), 's', '99999999999999');
    await listener.broker.subscribe([room]);
    const big = await publisher.broker.publish(input(room, 'at 1e14'));
    assert.deepEqual([big.epoch, big.offset], [first.epoch, 100_000_000_000_000]);
    assert.equal(await raw.get(keys.result(room, 'none')), null);
    const [delivered] = await seen.received(room, 1);
    assert.equal(delivered.offset, 100_000_000_000_000, 'the live frame carries the integer offset');
    const entries = (await raw.xrevrange(keys.stream(room), '+', '-', 'COUNT', 1)) as [string, string[]][];
    assert.equal(entries[0][0], '100000000000000-0');
    const page = await listener.history.read(room, { since: 99_999_999_999_999, limit: 10 });
    assert.deepEqual([page.offset, page.publications.map((p) => p.offset)], [100_000_000_000_000, [100_000_000_000_000]]);

    await raw.hset(keys.meta(room), 's', String(Number.MAX_SAFE_INTEGER - 1));
    const last = await publisher.broker.publish(input(room, 'last'));
    assert.deepEqual([last.epoch, last.offset], [first.epoch, Number.MAX_SAFE_INTEGER]);
    const renewed = await publisher.broker.publish(input(room, 'renewed'));
    assert.notEqual(renewed.epoch, first.epoch, 'past 2^53 - 1 the room needs a new epoch');
    assert.equal(renewed.offset, 1);
    assert.deepEqual((await listener.history.read(room, { since: 0, limit: 10 })).publications.map((p) => p.data), ['renewed']);

    const forged = uniqueRoom('forged-offset');
    await publisher.broker.publish(input(forged, 'before'));
    await raw.hset(keys.meta(forged), 's', '1000000000000000000');
    const read = await listener.history.position(forged);
    assert.ok(Number.isSafeInteger(read.offset) && read.offset === 0, `an out-of-range offset never reaches a reader, got ${read.offset}`);
    const after = await publisher.broker.publish(input(forged, 'after'));
    assert.equal(after.offset, 1);
  });

  test('garbage in presence is skipped and counted; keys of the wrong type are replaced', async () => {
    const { engine } = await pod();
    const room = uniqueRoom('garbage-presence');
    await engine.presence.add(room, { user: 'u1', client: 'c1', region: 'r' });
    await raw.hset(keys.presence(room), 'bogus', 'not json');
    await raw.zadd(keys.presenceExpiry(room), String(Date.now() + 60_000), 'bogus');
    assert.deepEqual(await engine.presence.list(room), [{ user: 'u1', client: 'c1', region: 'r' }]);
    assert.equal(engine.counters.malformedPresenceEntries, 1);

    const other = uniqueRoom('garbage-presence-type');
    await raw.set(keys.presence(other), 'not a hash');
    assert.deepEqual(await engine.presence.list(other), []);
    await engine.presence.add(other, { user: 'u2', client: 'c2', region: 'r' });
    assert.deepEqual(await engine.presence.list(other), [{ user: 'u2', client: 'c2', region: 'r' }]);
  });

  test('rooms are subscribed one channel each, in batches, and unsubscribed when no longer wanted', async () => {
    const { engine } = await pod();
    const base = uniqueRoom('batched');
    const rooms = Array.from({ length: 1_300 }, (_, i) => `${base}-${i}`);
    const subscribeCalls = async () => Number(/cmdstat_subscribe:calls=(\d+)/.exec(await raw.info('commandstats'))?.[1] ?? 0);
    const callsBefore = await subscribeCalls();
    // Two requests in one tick, and a room asked for and dropped in the same tick.
    await Promise.all([engine.broker.subscribe(rooms.slice(0, 700)), engine.broker.subscribe([...rooms.slice(700), `${base}-dropped`]), engine.broker.unsubscribe([`${base}-dropped`])]);
    assert.equal((await subscribeCalls()) - callsBefore, Math.ceil(rooms.length / 512), 'one SUBSCRIBE per 512 rooms');
    const count = async () => ((await raw.pubsub('CHANNELS', `${keys.channelPrefix}{${base}-*`)) as string[]).length;
    assert.equal(await count(), rooms.length);
    await engine.broker.unsubscribe(rooms.slice(100));
    assert.equal(await count(), 100);
    await engine.broker.unsubscribe(rooms);
    assert.equal(await count(), 0);
  });
});
