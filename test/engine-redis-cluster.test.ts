/**
 * The Redis engine on a Redis Cluster (3 masters + 3 replicas this file starts): the engine
 * contract unchanged, rooms spread over shards with every key of a room in one slot, sharded
 * pub/sub reaching only the room's shard, and WAIT for replica acknowledgement.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Cluster } from 'ioredis';
import { RedisKeys } from '../gateway/engine/redis-format.ts';
import { slotOf } from '../gateway/engine/redis-cluster-slot.ts';
import { RedisEngine } from '../gateway/engine/redis.ts';
import { engineContract } from './engine-contract.ts';
import { input, Recorder, uniqueRoom } from './engine-fixtures.ts';
import { skipUnless, startRedisCluster, type RedisCluster } from './helpers/services.ts';

const skip = skipUnless(['redis-server', 'redis-cli'], 'the Redis Cluster engine scenarios');

describe('redis engine on a Redis Cluster', { skip }, () => {
  let cluster: RedisCluster;
  const engines: RedisEngine[] = [];
  before(async () => {
    cluster = await startRedisCluster({ masters: 3, replicas: 1 });
  });
  after(async () => {
    await Promise.all(engines.map((engine) => engine.close()));
    await cluster?.stop();
  });

  engineContract('redis cluster', async () => {
    let clock = Date.now();
    return {
      createEngine: (engine) => new RedisEngine({ url: cluster.url, engine, now: () => clock }),
      advance(ms) {
        clock += ms;
      },
      async close() {},
    };
  });

  async function pod(options: Partial<ConstructorParameters<typeof RedisEngine>[0]> = {}): Promise<{ engine: RedisEngine; recorder: Recorder }> {
    const engine = new RedisEngine({ url: cluster.url, ...options });
    const recorder = new Recorder();
    await engine.start(recorder);
    engines.push(engine);
    return { engine, recorder };
  }

  /** Rooms whose slots belong to each of the three masters. */
  async function roomsOnEveryShard(label: string, perShard: number): Promise<Map<number, string[]>> {
    const masters = await cluster.masters();
    const byShard = new Map<number, string[]>(masters.map((master) => [master.port, []]));
    const keys = new RedisKeys('meridian');
    for (let i = 0; [...byShard.values()].some((rooms) => rooms.length < perShard); i++) {
      const room = `${label}-${i}`;
      const slot = slotOf(keys.meta(room));
      const owner = masters.find((master) => master.slots.some(([from, to]) => slot >= from && slot <= to))!;
      const rooms = byShard.get(owner.port)!;
      if (rooms.length < perShard) rooms.push(room);
    }
    return byShard;
  }

  test('every key and the channel of a room hash to one slot; a publish is processed by that shard alone', async () => {
    const keys = new RedisKeys('meridian');
    const room = uniqueRoom('slot');
    const slot = slotOf(keys.meta(room));
    for (const key of [keys.stream(room), keys.result(room, 'm1'), keys.presence(room), keys.presenceExpiry(room), keys.channel(room)]) assert.equal(slotOf(key), slot, key);
    // Redis agrees with our slot function.
    assert.equal(Number((await cluster.cli(cluster.nodes[0].port, 'CLUSTER', 'KEYSLOT', keys.channel(room))).trim()), slot);

    const { engine } = await pod();
    const { recorder } = await pod();
    const listener = engines.at(-1)!;
    await listener.broker.subscribe([room]);
    const masters = await cluster.masters();
    const calls = async () =>
      Promise.all(
        masters.map(async (master) => {
          const stats = await cluster.cli(master.port, 'INFO', 'commandstats');
          return Number(/cmdstat_spublish:calls=(\d+)/.exec(stats)?.[1] ?? 0) + Number(/cmdstat_publish:calls=(\d+)/.exec(stats)?.[1] ?? 0);
        }),
      );
    const before = await calls();
    for (let i = 0; i < 20; i++) await engine.broker.publish(input(room, i));
    await recorder.received(room, 20);
    const after = await calls();
    const owner = await cluster.ownerOf(slot);
    const deltas = masters.map((master, i) => ({ port: master.port, published: after[i] - before[i] }));
    assert.deepEqual(
      deltas.map((d) => d.published),
      masters.map((master) => (master.port === owner ? 20 : 0)),
      'only the owning master ran SPUBLISH',
    );
  });

  test('two pods share rooms on every shard: publications, history and presence cross pods', async () => {
    const byShard = await roomsOnEveryShard(uniqueRoom('spread'), 4);
    const rooms = [...byShard.values()].flat();
    const a = await pod();
    const b = await pod();
    await b.engine.broker.subscribe(rooms);
    for (const room of rooms) {
      await a.engine.broker.publish(input(room, `${room}-1`));
      await a.engine.presence.add(room, { user: 'u1', client: `c-${room}`, region: 'r' });
    }
    for (const room of rooms) {
      const [pub] = await b.recorder.received(room, 1);
      assert.equal(pub.data, `${room}-1`);
      assert.equal((await b.engine.history.read(room, { limit: 10 })).publications.length, 1);
      assert.deepEqual(await b.engine.presence.list(room), [{ user: 'u1', client: `c-${room}`, region: 'r' }]);
    }
    // The subscriptions really are spread: every master has shard channels of this pod.
    for (const master of await cluster.masters()) {
      const channels = (await cluster.cli(master.port, 'PUBSUB', 'SHARDCHANNELS', 'meridian:room:*')).trim().split('\n');
      assert.ok(byShard.get(master.port)!.every((room) => channels.includes(`meridian:room:{${room}}`)), `master ${master.port} holds its rooms' channels`);
    }
  });

  test('tallies whose keys live in different slots are read in one call', async () => {
    const { engine } = await pod();
    const keys = ['tally-a', 'tally-b', 'tally-c', 'tally-d'].map((key) => `${uniqueRoom(key)}`);
    assert.ok(new Set(keys.map((key) => slotOf(`meridian:tally:${key}`))).size > 1);
    for (const [i, key] of keys.entries()) await engine.tallies.add(key, i + 1, 60_000);
    assert.deepEqual(await engine.tallies.read(keys), [1, 2, 3, 4]);
  });

  test('with waitReplicas a publish is acknowledged once a replica confirmed it, and fails when none can', async () => {
    const { engine } = await pod({ waitReplicas: 1, waitTimeoutMs: 500 });
    const room = uniqueRoom('wait');
    const result = await engine.broker.publish(input(room, 'replicated'));
    assert.equal(result.offset, 1);
    // The replica of the room's master holds it already.
    const keys = new RedisKeys('meridian');
    const owner = await cluster.ownerOf(slotOf(keys.meta(room)));
    const raw = new Cluster([{ host: '127.0.0.1', port: owner }], { scaleReads: 'slave' });
    try {
      assert.equal(await raw.xlen(keys.stream(room)), 1);
    } finally {
      raw.disconnect();
    }
    // Asking for more replicas than exist: stored on the master, but not acknowledged.
    const { engine: strict } = await pod({ waitReplicas: 2, waitTimeoutMs: 100 });
    const pending = input(room, 'only on one replica');
    await assert.rejects(strict.broker.publish(pending), (error: Error & { code?: string }) => error.code === 'UNAVAILABLE' && /confirmed by 1 of 2 replicas/.test(error.message));
    // The retry with the same mid finds it stored (and is refused the same way, honestly).
    const plain = engines[0];
    assert.deepEqual(await plain.broker.publish(pending), { epoch: result.epoch, offset: 2, duplicate: true });
  });
});
