/**
 * Two `meridian gateway` processes on a Redis Cluster (3 masters + 3 replicas this file starts):
 * rooms on different shards shared by both pods, a master SIGKILLed mid-traffic (its replica
 * promoted), and a slot migrated with live traffic.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { slotOf } from '../gateway/engine/redis-cluster-slot.ts';
import { RedisKeys } from '../gateway/engine/redis-format.ts';
import { signToken, spawnGateway, TestClient, type Frame, type SpawnedGateway } from './helpers/gateway.ts';
import { waitFor } from './helpers/net.ts';
import { skipUnless, startRedisCluster, type RedisCluster } from './helpers/services.ts';

const skip = skipUnless(['redis-server', 'redis-cli'], 'the two-gateway Redis Cluster scenarios');
const keys = new RedisKeys('meridian');

/** Offsets a client saw in a room (live, and replayed by subscribe), in arrival order. */
function offsetsSeen(frames: readonly Frame[], room: string): number[] {
  const offsets: number[] = [];
  for (const frame of frames) {
    if (frame.op === 'message' && frame.room === room) offsets.push(frame.offset);
    if (frame.op === 'subscribed' && frame.room === room) for (const m of frame.messages as Frame[]) offsets.push(m.offset);
  }
  return offsets;
}

interface Acked {
  offset: number;
  n: number;
}

/**
 * Publishes `total` messages one after another; a failed publish is retried with the same mid
 * (as a client must) until acknowledged. Returns the acknowledgements and the errors seen.
 */
async function publishAll(publisher: TestClient, room: string, total: number, onProgress: (n: number) => Promise<void> = async () => undefined) {
  const acked: Acked[] = [];
  const errors: string[] = [];
  for (let n = 1; n <= total; n++) {
    await onProgress(n);
    const mid = randomUUID();
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (Date.now() > deadline) throw new Error(`message ${n} not acknowledged within 30 s; errors: ${errors.slice(-5).join(', ')}`);
      const reply = await publisher.request({ op: 'publish', room, data: { n }, mid });
      if (reply.op === 'published') {
        acked.push({ offset: reply.offset, n });
        break;
      }
      errors.push(`${reply.code}: ${reply.message}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  return { acked, errors };
}

describe('two gateways on a Redis Cluster', { skip }, () => {
  let cluster: RedisCluster;
  let pods: SpawnedGateway[] = [];
  const clients: TestClient[] = [];

  async function client(gw: SpawnedGateway, user: string): Promise<TestClient> {
    const c = await TestClient.connected(gw.wsUrl, await signToken(user));
    clients.push(c);
    return c;
  }

  /** A fresh room whose slot belongs to the master on `port`. */
  async function roomOn(port: number, label: string): Promise<string> {
    const masters = await cluster.masters();
    const owner = masters.find((m) => m.port === port)!;
    for (;;) {
      const room = `${label}-${randomUUID().slice(0, 8)}`;
      const slot = slotOf(keys.meta(room));
      if (owner.slots.some(([from, to]) => slot >= from && slot <= to)) return room;
    }
  }

  before(async () => {
    cluster = await startRedisCluster({ masters: 3, replicas: 1 });
    const config = (node: string, waitReplicas: number) => ({
      redisUrl: cluster.url,
      region: 'test-region',
      node,
      logLevel: 'warn',
      limits: { publishRatePerSec: 10_000, publishBurst: 10_000 },
      redis: { waitReplicas, waitTimeoutMs: 500, clusterRefreshMs: 1_000 },
    });
    // Pod a acknowledges a publish once a replica has it (WAIT); pod b once the master has it.
    pods = await Promise.all([spawnGateway(config('pod-a', 1)), spawnGateway(config('pod-b', 0))]);
  });

  after(async () => {
    for (const c of clients) c.ws.terminate();
    for (const gw of pods) await gw.stop();
    await cluster?.stop();
  });

  test('rooms on every shard: clients on different pods exchange messages in order', async () => {
    const [a, b] = pods;
    const rooms = await Promise.all((await cluster.masters()).map((master) => roomOn(master.port, 'shard')));
    const ada = await client(a, 'ada');
    const bob = await client(b, 'bob');
    for (const room of rooms) {
      const [subA, subB] = [await ada.request({ op: 'subscribe', room }), await bob.request({ op: 'subscribe', room })];
      assert.equal(subA.epoch, subB.epoch, 'one room, one epoch, whichever pod answers');
    }
    for (const room of rooms) {
      for (let i = 0; i < 10; i++) assert.equal((await (i % 2 ? ada : bob).request({ op: 'publish', room, data: { i } })).op, 'published');
    }
    for (const room of rooms) {
      for (const c of [ada, bob]) {
        const messages = await c.waitCount((f) => f.op === 'message' && f.room === room, 10);
        assert.deepEqual(
          messages.map((m) => m.data.i),
          [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
        );
      }
    }
  });

  test('a master killed mid-traffic: its replica takes over, watchers keep receiving, gaps are filled', async (t) => {
    const [a, b] = pods;
    const victim = (await cluster.masters())[0].port;
    const strictRoom = await roomOn(victim, 'failover-wait');
    const plainRoom = await roomOn(victim, 'failover-async');
    // Publishers on the pod of each mode; watchers on the other pod.
    const strictPublisher = await client(a, 'teacher-a');
    const plainPublisher = await client(b, 'teacher-b');
    const strictWatcher = await client(b, 'student-a');
    const plainWatcher = await client(a, 'student-b');
    await strictWatcher.request({ op: 'subscribe', room: strictRoom });
    await plainWatcher.request({ op: 'subscribe', room: plainRoom });

    const total = 150;
    let killed = false;
    let sawNotReady = false;
    let rejoined: Promise<void> | undefined;
    const killAt = async (n: number) => {
      if (n !== 50 || killed) return;
      killed = true;
      await cluster.kill(victim);
      // As a StatefulSet would, the dead node is started again once its replica took over; it
      // rejoins as the new master's replica, which pod a's WAIT needs to acknowledge anything.
      rejoined = (async () => {
        const slot = slotOf(keys.meta(strictRoom));
        await waitFor(async () => (await cluster.masters()).some((m) => m.port !== victim && m.slots.some(([from, to]) => slot >= from && slot <= to)), {
          what: 'the replica promoted',
          timeoutMs: 30_000,
          intervalMs: 100,
        });
        await cluster.restart(victim);
      })();
    };
    const readiness = (async () => {
      const deadline = Date.now() + 60_000;
      while ((!killed || !sawNotReady) && Date.now() < deadline) {
        if (killed && (await fetch(`${a.httpUrl}/readyz`)).status === 503) sawNotReady = true;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    })();
    const [strict, plain] = await Promise.all([publishAll(strictPublisher, strictRoom, total, killAt), publishAll(plainPublisher, plainRoom, total)]);
    await rejoined;
    await waitFor(() => sawNotReady, { what: '/readyz 503 while the master was down', timeoutMs: 20_000 });
    await readiness;
    for (const gw of pods) await waitFor(async () => (await fetch(`${gw.httpUrl}/readyz`)).status === 200, { what: `${gw.httpUrl} ready after the failover`, timeoutMs: 20_000 });
    assert.notEqual(await cluster.ownerOf(slotOf(keys.meta(strictRoom))), victim, 'the replica was promoted');

    const report = (label: string, acked: Acked[], errors: string[], watcher: TestClient, room: string) => {
      const seen = offsetsSeen(watcher.frames, room);
      const byOffset = new Map<number, number>();
      for (const m of watcher.messages(room)) byOffset.set(m.offset, m.data.n);
      const lost = acked.filter((ack) => byOffset.get(ack.offset) !== ack.n);
      const duplicates = seen.length - new Set(seen).size;
      t.diagnostic(`${label}: ${acked.length} acknowledged, ${errors.length} failed attempts retried (${[...new Set(errors.map((e) => e.split(':')[0]))].join(', ')}), ${lost.length} acknowledged not delivered as acknowledged, ${duplicates} delivered twice`);
      return { lost, duplicates, seen };
    };
    const lastStrict = strict.acked.at(-1)!.offset;
    await waitFor(() => offsetsSeen(strictWatcher.frames, strictRoom).includes(lastStrict), { what: 'the last acknowledged message on the strict watcher', timeoutMs: 20_000 });
    const lastPlain = plain.acked.at(-1)!.offset;
    await waitFor(() => offsetsSeen(plainWatcher.frames, plainRoom).includes(lastPlain), { what: 'the last acknowledged message on the async watcher', timeoutMs: 20_000 });
    const strictOutcome = report('WAIT 1 replica', strict.acked, strict.errors, strictWatcher, strictRoom);
    const plainOutcome = report('no WAIT', plain.acked, plain.errors, plainWatcher, plainRoom);
    assert.ok(strict.errors.length > 0, 'the failover was felt by the publisher (UNAVAILABLE, retried)');
    assert.deepEqual(strictOutcome.lost, [], 'nothing acknowledged after reaching a replica is lost');
    assert.equal(strictOutcome.duplicates, 0, 'nothing delivered twice');
    assert.equal(plainOutcome.duplicates, 0, 'nothing delivered twice');
    assert.deepEqual(strictOutcome.seen, [...strictOutcome.seen].sort((x, y) => x - y), 'in offset order');
    for (const watcher of [strictWatcher, plainWatcher]) assert.equal(watcher.ws.readyState, watcher.ws.OPEN, 'watchers stayed connected');

    // The old master came back as a replica of the new one: the cluster has 3 + 3 again.
    await cluster.waitHealthy();
  });

  test('a slot migrated to another master with live traffic: no error reaches a client, nothing is missed', async () => {
    const [a, b] = pods;
    const masters = await cluster.masters();
    const [source, target] = masters;
    const room = await roomOn(source.port, 'migrate');
    const slot = slotOf(keys.meta(room));
    const publisher = await client(a, 'teacher');
    const watcher = await client(b, 'student');
    await watcher.request({ op: 'subscribe', room });

    const migrate = async () => {
      await cluster.cli(target.port, 'CLUSTER', 'SETSLOT', String(slot), 'IMPORTING', source.id);
      await cluster.cli(source.port, 'CLUSTER', 'SETSLOT', String(slot), 'MIGRATING', target.id);
      for (;;) {
        const moving = (await cluster.cli(source.port, 'CLUSTER', 'GETKEYSINSLOT', String(slot), '100')).split('\n').filter(Boolean);
        if (moving.length === 0) break;
        await cluster.cli(source.port, 'MIGRATE', '127.0.0.1', String(target.port), '', '0', '5000', 'KEYS', ...moving);
      }
      for (const master of [target, source, ...masters.slice(2)]) await cluster.cli(master.port, 'CLUSTER', 'SETSLOT', String(slot), 'NODE', target.id);
    };
    let migration: Promise<void> | undefined;
    const { acked, errors } = await publishAll(publisher, room, 150, async (n) => {
      if (n === 50) migration = migrate();
      if (n === 100) await migration;
    });
    assert.equal(await cluster.ownerOf(slot), target.port, 'the slot moved');
    assert.deepEqual(errors, [], 'no publish failed');
    await waitFor(() => offsetsSeen(watcher.frames, room).includes(acked.at(-1)!.offset), { what: 'the last message after the migration', timeoutMs: 20_000 });
    assert.deepEqual(offsetsSeen(watcher.frames, room), acked.map((ack) => ack.offset), 'every offset once, in order');
    assert.deepEqual(
      watcher.messages(room).map((m) => m.data.n),
      acked.map((ack) => ack.n),
    );
    for (const c of [publisher, watcher]) assert.equal(c.frames.filter((f) => f.op === 'error').length, 0, 'no error frame');
  });
});
