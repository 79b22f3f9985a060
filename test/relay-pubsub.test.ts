/**
 * Two regions sharing rooms through the real Pub/Sub emulator: each region has its own
 * redis-server and two gateway processes (`meridian gateway`), all four gateways use one
 * emulator. Scenarios run in order on one setup (the later ones break things on purpose):
 * exchange and order, redelivery, recovery on another pod, a lost and repaired message, a gap
 * past the origin's history, the emulator killed with no traffic (heartbeats alone tell), the
 * emulator killed mid-traffic, presence, and a region killed.
 * Along the way each pod's /loadz (what the operator's status and dashboard read) is checked
 * against what happened: relay ok with a measured lag after an exchange, the gap counted, and
 * degraded while the emulator is down, ok again once it is back.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { PubSub } from '@google-cloud/pubsub';
import { spawnGateway, signToken, testApiKey, TestClient, type Frame, type SpawnedGateway } from './helpers/gateway.ts';
import { waitFor } from './helpers/net.ts';
import { skipUnless, skipUnlessPubsubEmulator, startPubsubEmulator, startRedis, type PubsubEmulator, type RedisServer } from './helpers/services.ts';

const skip = skipUnless('redis-server', 'the relay scenarios') || skipUnlessPubsubEmulator('the relay scenarios');
const project = 'meridian-local';
const topic = `relay-${randomUUID().slice(0, 8)}`;
/** Region a keeps a short history, so a long enough outage outruns it. */
const historySizeA = 40;

interface Region {
  name: string;
  redis: RedisServer;
  pods: SpawnedGateway[];
}

let emulator: PubsubEmulator;
let a: Region;
let b: Region;
const clients: TestClient[] = [];

function gatewayConfig(region: string, redisUrl: string): Record<string, unknown> {
  return {
    region,
    redisUrl,
    logLevel: process.env.MERIDIAN_TEST_LOG ?? 'warn',
    history: { size: region === 'a' ? historySizeA : 300 },
    presence: { ttlMs: 3000, refreshMs: 1000 },
    relay: {
      pubsub: { projectId: project, topic, reopenMs: 1000 },
      reorderWindowMs: 200,
      repairTimeoutMs: 1500,
      repairAttempts: 10,
      retryInitialMs: 50,
      retryMaxMs: 500,
      digestIntervalMs: 1000,
      // Liveness without traffic: silence is noticed within seconds.
      heartbeatMs: 250,
      silenceMs: 3000,
    },
  };
}

async function startRegion(name: string): Promise<Region> {
  const redis = await startRedis();
  const env = { PUBSUB_EMULATOR_HOST: emulator.host, METADATA_SERVER_DETECTION: 'none', MERIDIAN_PUBSUB_CREATE: 'true' };
  const pods = await Promise.all([0, 1].map(() => spawnGateway(gatewayConfig(name, redis.url), { env })));
  return { name, redis, pods };
}

async function client(pod: SpawnedGateway, user: string): Promise<TestClient> {
  const c = await TestClient.connected(pod.wsUrl, await signToken(user));
  clients.push(c);
  return c;
}

async function apiPublish(pod: SpawnedGateway, room: string, data: unknown): Promise<Frame> {
  const res = await fetch(`${pod.httpUrl}/v1/publish`, { method: 'POST', headers: { authorization: `Bearer ${testApiKey}`, 'content-type': 'application/json' }, body: JSON.stringify({ room, data }) });
  assert.equal(res.status, 200, `publish in ${room}`);
  return (await res.json()) as Frame;
}

async function history(pod: SpawnedGateway, room: string): Promise<Frame[]> {
  const res = await fetch(`${pod.httpUrl}/v1/rooms/${encodeURIComponent(room)}/history?since=0&limit=300`, { headers: { authorization: `Bearer ${testApiKey}` } });
  return ((await res.json()) as Frame).messages as Frame[];
}

/** Waits until the region's history holds `count` messages of `origin` in the room; returns their data. */
async function originData(r: Region, room: string, origin: string, count: number, timeoutMs = 30_000): Promise<unknown[]> {
  return waitFor(async () => {
    const data = (await history(r.pods[0], room)).filter((m) => m.region === origin).map((m) => m.data);
    return data.length >= count ? data : undefined;
  }, { what: `${count} messages of ${origin} in ${r.name}/${room}`, timeoutMs, intervalMs: 100 });
}

async function metric(pod: SpawnedGateway, name: string): Promise<number> {
  const res = await fetch(pod.metricsUrl);
  assert.equal(res.status, 200, `metrics of ${pod.httpUrl}`);
  const text = await res.text();
  return text
    .split('\n')
    .filter((line) => line.startsWith(name) && !line.startsWith('#'))
    .reduce((sum, line) => sum + Number(line.split(' ').at(-1)), 0);
}

/** The relay part of a pod's /loadz (unauthenticated, as the operator reads it). */
async function relayLoad(pod: SpawnedGateway): Promise<Frame> {
  const res = await fetch(`${pod.httpUrl}/loadz`);
  assert.equal(res.status, 200, `/loadz of ${pod.httpUrl}`);
  const body = (await res.json()) as Frame;
  assert.ok(body.relay, `/loadz of ${pod.httpUrl} reports the relay: ${JSON.stringify(body)}`);
  return body.relay as Frame;
}

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe('relay between two regions over the Pub/Sub emulator', { skip, concurrency: false }, () => {
  before(async () => {
    emulator = await startPubsubEmulator();
    // For this process's own client (raw redeliveries, subscription checks).
    process.env.PUBSUB_EMULATOR_HOST = emulator.host;
    process.env.METADATA_SERVER_DETECTION = 'none';
    [a, b] = await Promise.all([startRegion('a'), startRegion('b')]);
  });

  after(async () => {
    for (const c of clients) c.ws.terminate();
    // MERIDIAN_TEST_LOG=debug keeps every gateway's log for a failed run.
    if (process.env.MERIDIAN_TEST_LOG) {
      for (const r of [a, b]) r?.pods.forEach((p, i) => writeFileSync(join(tmpdir(), `relay-${r.name}${i}.log`), p.output().stdout + p.output().stderr));
    }
    for (const r of [a, b]) {
      if (!r) continue;
      await Promise.all(r.pods.map((p) => p.stop()));
      await r.redis.kill();
    }
    await emulator?.kill();
  });

  it('clients in both regions exchange messages: each region stores the whole stream, in each origin order', async () => {
    const room = `exchange-${randomUUID().slice(0, 6)}`;
    const watchers = [await client(a.pods[0], 'wa'), await client(b.pods[1], 'wb')];
    for (const w of watchers) assert.equal((await w.request({ op: 'subscribe', room })).op, 'subscribed');
    const publishers = [await client(a.pods[0], 'pa0'), await client(a.pods[1], 'pa1'), await client(b.pods[0], 'pb0'), await client(b.pods[1], 'pb1')];
    // Every publisher sends concurrently; the origin order is the origin's own history order.
    await Promise.all(
      publishers.map(async (p, index) => {
        for (let i = 0; i < 8; i += 1) assert.equal((await p.request({ op: 'publish', room, data: { p: index, i } })).op, 'published');
      }),
    );
    for (const origin of ['a', 'b']) {
      const own = origin === 'a' ? a : b;
      const originOrder = await originData(own, room, origin, 16);
      assert.equal(originOrder.length, 16);
      for (const r of [a, b]) {
        const data = await originData(r, room, origin, 16);
        assert.deepEqual(data, originOrder, `${r.name} holds ${origin}'s messages once each, in ${origin}'s order`);
      }
    }
    for (const r of [a, b]) assert.equal((await history(r.pods[1], room)).length, 32);
    // Live subscribers of both regions saw all 32 (their region's own and the relayed ones).
    for (const w of watchers) await w.waitCount((f) => f.op === 'message' && f.room === room, 32);

    // /loadz: every pod publishes and receives; each region measured the lag of what it stored
    // from the other (16 messages, spread over its two pods by the shared subscription).
    for (const r of [a, b]) {
      const loads = await Promise.all(r.pods.map(relayLoad));
      for (const load of loads) {
        assert.equal(load.state, 'ok', `${r.name}: ${JSON.stringify(load)}`);
        assert.equal(load.publishing, true);
        assert.equal(load.receiving, true);
        assert.equal(load.gaps, 0);
        if (load.lagSamples > 0) assert.ok(Number.isInteger(load.lagP99Ms) && load.lagP99Ms >= 0, `${r.name}: a lag measured over ${load.lagSamples} applies: ${load.lagP99Ms}`);
      }
      assert.ok(loads.reduce((total, l) => total + l.lagSamples, 0) >= 16, `${r.name} measured a lag per stored message: ${JSON.stringify(loads)}`);
    }
  });

  it('a message the bus delivers again (nack while the append fails, and a repeated copy) is stored once', async () => {
    const room = `redelivery-${randomUUID().slice(0, 6)}`;
    await apiPublish(a.pods[0], room, 'first');
    await originData(b, room, 'a', 1);
    // Region b's Redis refuses writes for 2.5 s: the appends fail, are nacked and come back.
    const failuresBefore = (await metric(b.pods[0], 'meridian_relay_apply_failures_total')) + (await metric(b.pods[1], 'meridian_relay_apply_failures_total'));
    await redisCommand(b.redis, ['CLIENT', 'PAUSE', '2500', 'WRITE']);
    const published = await apiPublish(a.pods[1], room, 'second');
    await waitFor(async () => (await metric(b.pods[0], 'meridian_relay_apply_failures_total')) + (await metric(b.pods[1], 'meridian_relay_apply_failures_total')) > failuresBefore, { what: 'a failed append in b', timeoutMs: 10_000 });
    assert.deepEqual(await originData(b, room, 'a', 2), ['first', 'second']);
    // The same envelope once more, as a redelivery after an expired ack deadline would bring it.
    const raw = new PubSub({ projectId: project });
    const copy = { v: 1, kind: 'msg', origin: 'a', room, mid: published.mid, data: 'second', ts: Date.now(), epoch: published.epoch, offset: published.offset, prev: 1 };
    await raw.topic(topic).publishMessage({ json: copy, attributes: { origin: 'a', room, kind: 'msg' }, orderingKey: room });
    await apiPublish(a.pods[0], room, 'third');
    assert.deepEqual(await originData(b, room, 'a', 3), ['first', 'second', 'third']);
    await new Promise((r) => setTimeout(r, 500));
    assert.deepEqual(
      (await history(b.pods[0], room)).map((m) => m.data),
      ['first', 'second', 'third'],
    );
    await raw.close();
  });

  it('a client of region b that reconnects to the other pod with recover gets the messages of a it missed', async () => {
    const room = `recover-${randomUUID().slice(0, 6)}`;
    const first = await client(b.pods[0], 'learner');
    const reply = await first.request({ op: 'subscribe', room });
    await apiPublish(a.pods[0], room, 'm1');
    const m1 = await first.waitFrame((f) => f.op === 'message' && f.room === room && f.data === 'm1', { timeoutMs: 20_000 });
    await first.close();
    for (const data of ['m2', 'm3', 'm4']) await apiPublish(a.pods[1], room, data);
    await originData(b, room, 'a', 4);
    const second = await client(b.pods[1], 'learner');
    const recovered = await second.request({ op: 'subscribe', room, recover: { epoch: reply.epoch, offset: m1.offset } });
    assert.equal(recovered.recovered, true);
    assert.deepEqual(recovered.messages.map((m: Frame) => [m.data, m.region]), [['m2', 'a'], ['m3', 'a'], ['m4', 'a']]);
  });

  it("messages the bus lost for region b (its subscription deleted and recreated) are repaired from a's history", async () => {
    const room = `lost-${randomUUID().slice(0, 6)}`;
    await apiPublish(a.pods[0], room, 0);
    await originData(b, room, 'a', 1);
    await deleteSubscription('b');
    for (let i = 1; i <= 5; i += 1) await apiPublish(a.pods[i % 2], room, i);
    // b's pods recreate their subscription; the next message reveals the gap.
    await waitFor(() => subscriptionExists('b'), { what: 'b subscription recreated', timeoutMs: 20_000 });
    await apiPublish(a.pods[0], room, 6);
    assert.deepEqual(await originData(b, room, 'a', 7), range(0, 6));
  });

  it("past a's history, region b records an unrecoverable gap and the room moves on", async () => {
    const room = `gone-${randomUUID().slice(0, 6)}`;
    await apiPublish(a.pods[0], room, 0);
    await originData(b, room, 'a', 1);
    const gapsBefore = (await metric(b.pods[0], 'meridian_relay_unrecoverable_gaps_total')) + (await metric(b.pods[1], 'meridian_relay_unrecoverable_gaps_total'));
    const loadGaps = async () => (await Promise.all(b.pods.map(relayLoad))).reduce((total, l) => total + l.gaps, 0);
    const loadGapsBefore = await loadGaps();
    await deleteSubscription('b');
    // One burst, so that it falls inside the time b has no subscription (sequential publishes on a
    // loaded machine outlast it: b's gateways recreate their subscription within relay.pubsub.reopenMs).
    const lost = historySizeA + 10;
    await Promise.all(range(1, lost).map((i) => apiPublish(a.pods[0], room, i)));
    await waitFor(() => subscriptionExists('b'), { what: 'b subscription recreated', timeoutMs: 20_000 });
    await apiPublish(a.pods[0], room, lost + 1);
    // a keeps its newest historySizeA: b gets those (repaired) after 0, in a's order; the rest is a gap.
    const kept = (await history(a.pods[0], room)).map((m) => m.data);
    assert.equal(kept.length, historySizeA);
    assert.equal(kept.at(-1), lost + 1);
    const data = await originData(b, room, 'a', historySizeA + 1);
    assert.deepEqual(data, [0, ...kept]);
    await waitFor(async () => (await metric(b.pods[0], 'meridian_relay_unrecoverable_gaps_total')) + (await metric(b.pods[1], 'meridian_relay_unrecoverable_gaps_total')) > gapsBefore, { what: 'unrecoverable gap counted' });
    assert.ok((await loadGaps()) > loadGapsBefore, "b's /loadz counts the gap");
  });

  it('with no traffic at all, the emulator killed: every pod says not receiving and degraded; restarted: every pod ok again', async () => {
    const pods = [...a.pods, ...b.pods];
    const peerOf = (pod: SpawnedGateway) => (a.pods.includes(pod) ? 'b' : 'a');
    // Heartbeats alone: every pod heard the other region and is ok.
    for (const pod of pods) {
      await waitFor(async () => {
        const load = await relayLoad(pod);
        return load.state === 'ok' && load.peers.some((p: Frame) => p.region === peerOf(pod)) ? true : undefined;
      }, { what: `${pod.httpUrl} heard ${peerOf(pod)}`, timeoutMs: 30_000, intervalMs: 200 });
    }
    const heard = await relayLoad(a.pods[0]);
    assert.deepEqual(heard.peers.map((p: Frame) => p.region), ['b'], 'only the other region is a peer');
    assert.ok(Number.isInteger(heard.peers[0].silenceMs) && heard.peers[0].heartbeatLagMs >= 0, JSON.stringify(heard.peers));
    const sentBefore = await metric(b.pods[1], 'meridian_relay_sent_total');
    assert.ok(sentBefore > 0, 'heartbeats went out without any message published');

    await emulator.kill();
    // Nothing is published: only the silence (and the refused heartbeats) can tell.
    for (const pod of pods) {
      const down = await waitFor(async () => {
        const load = await relayLoad(pod);
        return load.state === 'degraded' && load.receiving === false ? load : undefined;
      }, { what: `${pod.httpUrl} not receiving`, timeoutMs: 30_000, intervalMs: 200 });
      assert.ok(down.peers[0].silenceMs >= 3000, JSON.stringify(down.peers));
      assert.equal(await metric(pod, 'meridian_relay_receiving'), 0);
      assert.ok((await metric(pod, `meridian_relay_peer_silence_seconds{region="${peerOf(pod)}"}`)) >= 3, 'per-peer silence on /metrics');
    }

    await emulator.restart();
    for (const pod of pods) {
      await waitFor(async () => {
        const load = await relayLoad(pod);
        return load.state === 'ok' && load.receiving && load.publishing ? true : undefined;
      }, { what: `${pod.httpUrl} ok again`, timeoutMs: 60_000, intervalMs: 200 });
      assert.equal(await metric(pod, 'meridian_relay_receiving'), 1);
    }
  });

  it('the emulator killed mid-traffic and restarted: local delivery goes on, and every outage message reaches b in order, once', async () => {
    const room = `outage-${randomUUID().slice(0, 6)}`;
    const local = await client(a.pods[1], 'local-watcher');
    await local.request({ op: 'subscribe', room });
    const publisher = await client(a.pods[0], 'speaker');
    let n = 0;
    const publishSome = async (count: number) => {
      for (let i = 0; i < count; i += 1) {
        n += 1;
        assert.equal((await publisher.request({ op: 'publish', room, data: n })).op, 'published');
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    await publishSome(5);
    await originData(b, room, 'a', 5);
    await emulator.kill();
    await publishSome(10);
    // Local delivery did not wait for the bus.
    await local.waitCount((f) => f.op === 'message' && f.room === room, 15, 10_000);
    await waitFor(async () => (await metric(a.pods[0], 'meridian_relay_degraded')) === 1, { what: 'a reports the relay degraded' });
    assert.equal((await fetch(`${a.pods[0].httpUrl}/readyz`)).status, 200, '/readyz stays ready');
    // /loadz answers while the bus is down, and says so (the operator's relayState: Degraded).
    const down = await relayLoad(a.pods[0]);
    assert.equal(down.state, 'degraded', JSON.stringify(down));
    await emulator.restart();
    await publishSome(5);
    assert.deepEqual(await originData(b, room, 'a', 20, 60_000), range(1, 20));
    // Back to ok on every pod once the emulator is back (the operator's relayState: Ok).
    for (const pod of [...a.pods, ...b.pods]) await waitFor(async () => ((await relayLoad(pod)).state === 'ok' ? true : undefined), { what: `${pod.httpUrl} relay ok again`, timeoutMs: 30_000, intervalMs: 200 });
    await new Promise((r) => setTimeout(r, 1000));
    assert.deepEqual((await history(b.pods[1], room)).filter((m) => m.region === 'a').map((m) => m.data), range(1, 20));
  });

  it("presence lists members of both regions with their region; join/leave cross; a region killed whole drops out within the TTL", async () => {
    const room = `presence-${randomUUID().slice(0, 6)}`;
    const ann = await client(a.pods[0], 'ann');
    await ann.request({ op: 'subscribe', room });
    const bob = await client(b.pods[1], 'bob');
    await bob.request({ op: 'subscribe', room });
    const join = await ann.waitFrame((f) => f.op === 'join' && f.room === room && f.member.user === 'bob', { timeoutMs: 20_000 });
    assert.equal(join.member.region, 'b');
    const members = async (pod: SpawnedGateway) => (await presence(pod, room)).map((m) => `${m.user}@${m.region}`).sort();
    await waitFor(async () => (await members(a.pods[1])).join() === 'ann@a,bob@b', { what: 'a lists ann and bob' });
    await waitFor(async () => (await members(b.pods[0])).join() === 'ann@a,bob@b', { what: 'b lists ann and bob' });
    await bob.request({ op: 'unsubscribe', room });
    await ann.waitFrame((f) => f.op === 'leave' && f.room === room && f.member.user === 'bob', { timeoutMs: 20_000 });
    await waitFor(async () => (await members(a.pods[0])).join() === 'ann@a', { what: 'bob left a' });
    // Bob comes back, then region b dies whole: its pods and its Redis.
    const bob2 = await client(b.pods[0], 'bob');
    await bob2.request({ op: 'subscribe', room });
    await waitFor(async () => (await members(a.pods[0])).join() === 'ann@a,bob@b', { what: 'bob back in a' });
    // Digests keep him there past the TTL (3 s) while b lives.
    await new Promise((r) => setTimeout(r, 4000));
    assert.deepEqual(await members(a.pods[1]), ['ann@a', 'bob@b']);
    await Promise.all(b.pods.map((p) => p.stop()));
    await b.redis.kill();
    // Nothing refreshes bob's entry in a any more: it expires with the presence TTL (3 s).
    await waitFor(async () => (await members(a.pods[1])).join() === 'ann@a', { what: 'bob gone from a', timeoutMs: 15_000 });
  });
});

async function presence(pod: SpawnedGateway, room: string): Promise<Frame[]> {
  const res = await fetch(`${pod.httpUrl}/v1/rooms/${encodeURIComponent(room)}/presence`, { headers: { authorization: `Bearer ${testApiKey}` } });
  return ((await res.json()) as Frame).members as Frame[];
}

async function deleteSubscription(region: string): Promise<void> {
  const raw = new PubSub({ projectId: project });
  await raw.subscription(`${topic}-${region}`).delete();
  await raw.close();
}

async function subscriptionExists(region: string): Promise<boolean> {
  const raw = new PubSub({ projectId: project });
  try {
    const [exists] = await raw.subscription(`${topic}-${region}`).exists();
    return exists;
  } finally {
    await raw.close();
  }
}

async function redisCommand(redis: RedisServer, args: string[]): Promise<void> {
  const { Redis } = await import('ioredis');
  const connection = new Redis(redis.url);
  try {
    await connection.call(args[0], ...args.slice(1));
  } finally {
    connection.disconnect();
  }
}
