/**
 * Two gateway processes on one Redis behave as one server: messages across pods in order,
 * presence as the union of both, a killed pod's clients recovering on the other with nothing
 * lost or repeated, and Redis restarted under traffic.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { signToken, spawnGateway, TestClient, type Frame, type SpawnedGateway } from './helpers/gateway.ts';
import { waitFor } from './helpers/net.ts';
import { skipUnless, startRedis, type RedisServer } from './helpers/services.ts';

const skip = skipUnless('redis-server', 'the two-gateway Redis scenarios');

function room(label: string): string {
  return `${label}-${randomUUID().slice(0, 8)}`;
}

/** The offsets a client saw in a room: live messages plus those returned by subscribe. */
function offsetsSeen(frames: readonly Frame[], roomName: string, epoch: string): number[] {
  const offsets: number[] = [];
  for (const frame of frames) {
    if (frame.op === 'message' && frame.room === roomName && frame.epoch === epoch) offsets.push(frame.offset);
    if (frame.op === 'subscribed' && frame.room === roomName) {
      for (const m of frame.messages as Frame[]) if (m.epoch === epoch) offsets.push(m.offset);
    }
  }
  return offsets;
}

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}

describe('two gateways on one Redis', { skip }, () => {
  let redis: RedisServer;
  const gateways: SpawnedGateway[] = [];
  const clients: TestClient[] = [];

  async function gateway(node: string): Promise<SpawnedGateway> {
    const gw = await spawnGateway({
      redisUrl: redis.url,
      region: 'test-region',
      node,
      logLevel: 'warn',
      limits: { publishRatePerSec: 10_000, publishBurst: 10_000 },
    });
    gateways.push(gw);
    return gw;
  }

  async function client(gw: SpawnedGateway, user: string): Promise<TestClient> {
    const c = await TestClient.connected(gw.wsUrl, await signToken(user));
    clients.push(c);
    return c;
  }

  before(async () => {
    redis = await startRedis();
  });

  after(async () => {
    for (const c of clients) c.ws.terminate();
    for (const gw of gateways) await gw.stop();
    await redis?.stop();
  });

  test('clients on different pods exchange messages in order', async () => {
    const [a, b] = await Promise.all([gateway('pod-a'), gateway('pod-b')]);
    const ada = await client(a, 'ada');
    const bob = await client(b, 'bob');
    const chat = room('cross-pod');
    const subA = await ada.request({ op: 'subscribe', room: chat });
    const subB = await bob.request({ op: 'subscribe', room: chat });
    assert.equal(subA.epoch, subB.epoch, 'one room, one epoch, whichever pod answers');
    const count = 60;
    const acks = await Promise.all(
      Array.from({ length: count }, (_, i) => (i % 2 === 0 ? ada : bob).request({ op: 'publish', room: chat, data: { i } })),
    );
    assert.deepEqual(
      acks.map((ack) => ack.offset).sort((x, y) => x - y),
      range(1, count),
    );
    const byOffset = new Map(acks.map((ack, i) => [ack.offset as number, i]));
    for (const c of [ada, bob]) {
      const messages = await c.waitCount((f) => f.op === 'message' && f.room === chat, count);
      assert.deepEqual(
        messages.map((m) => m.offset),
        range(1, count),
      );
      for (const m of messages) assert.equal(m.data.i, byOffset.get(m.offset), 'each offset carries the message acked with it');
    }
  });

  test('presence is the union across pods, and join/leave cross pods', async () => {
    const [a, b] = [gateways[0]!, gateways[1]!];
    const study = room('presence');
    const ada = await client(a, 'ada');
    const bob = await client(b, 'bob');
    await ada.request({ op: 'subscribe', room: study });
    await bob.request({ op: 'subscribe', room: study });
    const joined = await ada.waitFrame((f) => f.op === 'join' && f.room === study && f.member.user === 'bob', { what: "bob's join on pod a" });
    assert.equal(joined.member.region, 'test-region');
    for (const c of [ada, bob]) {
      const reply = await c.request({ op: 'presence', room: study });
      assert.deepEqual(reply.members.map((m: Frame) => m.user).sort(), ['ada', 'bob']);
    }
    await bob.request({ op: 'unsubscribe', room: study });
    await ada.waitFrame((f) => f.op === 'leave' && f.room === study && f.member.user === 'bob', { what: "bob's leave on pod a" });
    const after = await ada.request({ op: 'presence', room: study });
    assert.deepEqual(
      after.members.map((m: Frame) => m.user),
      ['ada'],
    );
  });

  test('a pod killed mid-traffic: its clients recover on the other pod with nothing lost or repeated', async () => {
    const survivor = gateways[1]!;
    const victim = await gateway('pod-victim');
    const lesson = room('failover');
    const publisher = await client(survivor, 'teacher');
    const watchers = await Promise.all(['s1', 's2', 's3'].map((user) => client(victim, user)));
    const subscribed = await Promise.all(watchers.map((w) => w.request({ op: 'subscribe', room: lesson })));
    const epoch = subscribed[0]!.epoch as string;

    const total = 200;
    let published = 0;
    let victimDead: () => void = () => undefined;
    const killed = new Promise<void>((resolve) => (victimDead = resolve));
    const traffic = (async () => {
      for (; published < total; published++) {
        // Half of the traffic is published while the watchers are cut off.
        if (published === total / 2) await killed;
        const ack = await publisher.request({ op: 'publish', room: lesson, data: { n: published + 1 } });
        assert.equal(ack.op, 'published', JSON.stringify(ack));
      }
    })();
    await waitFor(() => watchers.every((w) => w.messages(lesson).length >= 20), { what: 'traffic reaching the victim pod' });
    victim.signal('SIGKILL');
    await victim.exited;
    victimDead();
    await Promise.all(watchers.map((w) => w.closed));

    // Each watcher reconnects to the survivor and resubscribes from the last offset it saw.
    const resumed = await Promise.all(
      watchers.map(async (old, i) => {
        const seen = offsetsSeen(old.frames, lesson, epoch);
        const last = seen.at(-1) ?? 0;
        const fresh = await client(survivor, `s${i + 1}`);
        const reply = await fresh.request({ op: 'subscribe', room: lesson, recover: { epoch, offset: last } });
        assert.equal(reply.recovered, true, JSON.stringify(reply).slice(0, 300));
        return { before: seen, fresh };
      }),
    );
    await traffic;
    for (const { before, fresh } of resumed) {
      await waitFor(() => offsetsSeen(fresh.frames, lesson, epoch).at(-1) === total, { what: 'the last message after recovery' });
      const all = [...before, ...offsetsSeen(fresh.frames, lesson, epoch)];
      assert.deepEqual(all, range(1, total), 'every offset exactly once, in order');
    }
  });

  test('pub/sub messages lost by a pod (its subscriber connection killed) are filled in from history, in order', async () => {
    const [a, b] = [gateways[0]!, gateways[1]!];
    const feed = room('lost-feed');
    const publisher = await client(a, 'teacher');
    const watcher = await client(b, 'student');
    const { epoch } = await watcher.request({ op: 'subscribe', room: feed });
    const total = 120;
    const admin = new Redis(redis.url, { maxRetriesPerRequest: 1 });
    admin.on('error', (error: Error) => process.stderr.write(`test redis client: ${error.message}\n`));
    try {
      for (let n = 1; n <= total; n++) {
        // Cut every pod's live feed twice while publishing: the hubs must notice and repair.
        if (n === 40 || n === 80) await admin.call('CLIENT', 'KILL', 'TYPE', 'pubsub');
        const ack = await publisher.request({ op: 'publish', room: feed, data: { n } });
        assert.equal(ack.op, 'published', JSON.stringify(ack));
      }
    } finally {
      admin.disconnect();
    }
    await waitFor(() => offsetsSeen(watcher.frames, feed, epoch).at(-1) === total, { what: 'the last message on the watcher', timeoutMs: 20_000 });
    assert.deepEqual(offsetsSeen(watcher.frames, feed, epoch), range(1, total), 'every offset exactly once, in order');
    assert.deepEqual(
      watcher.messages(feed).map((m) => m.data.n),
      range(1, total),
    );
    const metrics = await (await fetch(b.metricsUrl)).text();
    const lost = Number(/meridian_gap_repairs_total\{outcome="lost"\} (\d+)/.exec(metrics)?.[1] ?? 0);
    assert.equal(lost, 0, 'no gap was beyond repair');
  });

  test('Redis restarted during traffic: publishes fail with UNAVAILABLE, readiness follows Redis, clients resubscribe and continue', async () => {
    const [a, b] = [gateways[0]!, gateways[1]!];
    const lab = room('redis-restart');
    const publisher = await client(a, 'teacher');
    const watcher = await client(b, 'student');
    const first = await watcher.request({ op: 'subscribe', room: lab });
    await publisher.request({ op: 'publish', room: lab, data: 'before' });
    await watcher.waitFrame((f) => f.op === 'message' && f.room === lab);

    await redis.kill();
    const failed = await publisher.request({ op: 'publish', room: lab, data: 'during' });
    assert.equal(failed.op, 'error');
    assert.equal(failed.code, 'UNAVAILABLE');
    for (const gw of [a, b]) {
      await waitFor(async () => (await fetch(`${gw.httpUrl}/readyz`)).status === 503, { what: `${gw.httpUrl} not ready` });
    }

    await redis.restart();
    for (const gw of [a, b]) {
      await waitFor(async () => (await fetch(`${gw.httpUrl}/readyz`)).status === 200, { what: `${gw.httpUrl} ready again`, timeoutMs: 20_000 });
    }
    // Redis came back empty: the room's history (and epoch) is gone, so the watcher is told to
    // resubscribe (4010) and learns that recovery is impossible (recovered:false).
    const { code } = await watcher.closed;
    assert.equal(code, 4010);
    const again = await client(b, 'student');
    const reply = await again.request({ op: 'subscribe', room: lab, recover: { epoch: first.epoch, offset: 1 } });
    assert.equal(reply.recovered, false);
    assert.notEqual(reply.epoch, first.epoch);
    const ack = await publisher.request({ op: 'publish', room: lab, data: 'after' });
    assert.equal(ack.op, 'published');
    const delivered = await again.waitFrame((f) => f.op === 'message' && f.room === lab && f.data === 'after');
    assert.equal(delivered.offset, ack.offset);
    assert.equal(again.messages(lab).length, 1, 'nothing delivered twice');
  });
});
