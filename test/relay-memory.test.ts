/**
 * Relay scenarios in one process: two regions, each a shared memory backend with two engine
 * pods, joined by the in-memory bus, which loses, repeats or refuses envelopes on purpose.
 * The same relay code runs against Pub/Sub and real processes in relay-pubsub.test.ts; here the
 * faults are exact, so each repair path is exercised on its own.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { afterEach, describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { silentLogger } from '../gateway/engine/common.ts';
import { MemoryBackend, MemoryEngine } from '../gateway/engine/index.ts';
import type { Engine, Publication } from '../gateway/engine/types.ts';
import { MemoryBus, MemoryBusNetwork, withRelay, type Relay, type RelaySettings } from '../gateway/relay/index.ts';
import { decodeEnvelope, isMalformed } from '../gateway/relay/envelope.ts';
import { Recorder, uniqueRoom } from './engine-fixtures.ts';
import { waitFor } from './helpers/net.ts';

interface Pod {
  engine: Engine;
  relay: Relay;
}

interface Region {
  name: string;
  backend: MemoryBackend;
  pods: Pod[];
}

const settings = (region: string, overrides: Partial<RelaySettings>): RelaySettings => ({
  region,
  maxRead: 300,
  recentMs: 60_000,
  outboxMaxMessages: 1000,
  outboxMaxBytes: 1 << 24,
  outboxMaxInFlight: 256,
  outboxMode: 'pipelined',
  retryInitialMs: 20,
  retryMaxMs: 100,
  reorderWindowMs: 20,
  repairTimeoutMs: 300,
  repairAttempts: 2,
  digestIntervalMs: 60_000,
  digestMaxRooms: 100,
  digestMaxMembers: 50,
  maxTrackedRooms: 1000,
  lagWindowMs: 60_000,
  lagSamples: 512,
  // Off unless a scenario is about liveness: the fault predicates below look at room envelopes.
  heartbeatMs: 0,
  silenceMs: 0,
  peerForgetMs: 60_000,
  maxPeerRegions: 8,
  ...overrides,
});

const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

async function region(network: MemoryBusNetwork, name: string, options: { historySize?: number; presenceTtlMs?: number; relay?: Partial<RelaySettings>; now?: () => number } = {}): Promise<Region> {
  const backend = new MemoryBackend();
  const pods: Pod[] = [];
  for (let i = 0; i < 2; i += 1) {
    const inner = new MemoryEngine({ backend, engine: { historySize: options.historySize ?? 300, presenceTtlMs: options.presenceTtlMs ?? 60_000 } });
    const { engine, relay } = withRelay(inner, new MemoryBus(network, name), settings(name, options.relay ?? {}), silentLogger, options.now);
    await engine.start(new Recorder());
    closers.push(() => engine.close());
    pods.push({ engine, relay });
  }
  return { name, backend, pods };
}

function publish(pod: Pod, regionName: string, room: string, data: unknown): Promise<unknown> {
  return pod.engine.broker.publish({ room, mid: randomUUID(), data, region: regionName, ts: Date.now() });
}

async function history(r: Region, room: string): Promise<Publication[]> {
  return (await r.pods[0].engine.history.read(room, { since: 0, limit: 1000 })).publications;
}

async function historyHas(r: Region, room: string, count: number): Promise<Publication[]> {
  return waitFor(async () => {
    const pubs = await history(r, room);
    return pubs.length >= count ? pubs : undefined;
  }, { what: `${count} publications in ${r.name}/${room}`, timeoutMs: 10_000 });
}

/** Data values of one origin, in the order the region stored them. */
const fromOrigin = (pubs: Publication[], origin: string) => pubs.filter((p) => p.region === origin).map((p) => p.data);

describe('relay between two regions over the memory bus', () => {
  it('concurrent publishers in both regions: each region stores every message once, in each origin order', async () => {
    const network = new MemoryBusNetwork();
    const a = await region(network, 'a');
    const b = await region(network, 'b');
    const room = uniqueRoom('exchange');
    const sent: Record<string, unknown[]> = { a: [], b: [] };
    const writes: Promise<unknown>[] = [];
    for (let i = 0; i < 40; i += 1) {
      for (const r of [a, b]) {
        // Both pods of a region publish, sequentially per region, so the origin order is known.
        const data = `${r.name}-${i}`;
        sent[r.name].push(data);
        writes.push(publish(r.pods[i % 2], r.name, room, data));
      }
      if (i % 5 === 0) await Promise.all(writes.splice(0));
    }
    await Promise.all(writes);
    for (const r of [a, b]) {
      const pubs = await historyHas(r, room, 80);
      assert.equal(pubs.length, 80, `${r.name} stores each message once`);
      const offsets = (await r.pods[0].engine.history.read(room, { since: 0, limit: 1000 })).publications.map((p) => p.offset);
      assert.deepEqual(offsets, Array.from({ length: 80 }, (_, i) => i + 1));
    }
    // Per origin, every region has the origin's own order (the origin's history order).
    for (const origin of ['a', 'b']) {
      const originOrder = fromOrigin(await history(origin === 'a' ? a : b, room), origin);
      assert.deepEqual(fromOrigin(await history(a, room), origin), originOrder);
      assert.deepEqual(fromOrigin(await history(b, room), origin), originOrder);
    }
    // What /loadz reports: each region measured the lag of the 40 messages it stored from the other, no gaps.
    for (const r of [a, b]) {
      const loads = r.pods.map((p) => p.relay.load());
      assert.equal(loads.reduce((total, l) => total + l.lagSamples, 0), 40, `${r.name} measured one lag per message stored`);
      assert.ok(loads.some((l) => typeof l.lagP99Ms === 'number' && l.lagP99Ms >= 0), JSON.stringify(loads));
      assert.ok(loads.every((l) => l.state === 'ok' && l.gaps === 0), JSON.stringify(loads));
    }
  });

  it('a message the bus delivers twice is stored once', async () => {
    const network = new MemoryBusNetwork();
    network.repeat = (e) => e.kind === 'msg';
    const a = await region(network, 'a');
    const b = await region(network, 'b');
    const room = uniqueRoom('twice');
    for (let i = 0; i < 5; i += 1) await publish(a.pods[0], 'a', room, i);
    await historyHas(b, room, 5);
    // Give the second copies time to arrive; they must change nothing.
    await waitFor(async () => (await counter(b, 'received', 'kind:msg')) >= 10, { what: 'both copies received' });
    assert.deepEqual(fromOrigin(await history(b, room), 'a'), [0, 1, 2, 3, 4]);
    assert.equal(await counter(b, 'applied', 'outcome:stored'), 5);
  });

  it('a message the bus lost is repaired from the origin when the next one reveals the gap', async () => {
    const network = new MemoryBusNetwork();
    const a = await region(network, 'a');
    const b = await region(network, 'b');
    const room = uniqueRoom('lost');
    const dropped = new Set<number>();
    // Lost once each: the origin's re-sends get through.
    network.drop = (e) => e.kind === 'msg' && (e.offset === 3 || e.offset === 4) && !dropped.has(e.offset) && Boolean(dropped.add(e.offset));
    for (let i = 1; i <= 6; i += 1) await publish(a.pods[0], 'a', room, i);
    const pubs = await historyHas(b, room, 6);
    assert.deepEqual(fromOrigin(pubs, 'a'), [1, 2, 3, 4, 5, 6]);
    assert.equal(dropped.size, 2);
    const requests = await counter(b, 'repairRequests', 'direction:sent');
    assert.ok(requests >= 1, 'region b asked the origin');
  });

  it('a lost last message is found by the periodic digest', async () => {
    const network = new MemoryBusNetwork();
    const a = await region(network, 'a', { relay: { digestIntervalMs: 100 } });
    const b = await region(network, 'b', { relay: { digestIntervalMs: 100 } });
    const room = uniqueRoom('last');
    let lost = false;
    network.drop = (e) => e.kind === 'msg' && e.offset === 3 && !lost && (lost = true);
    for (let i = 1; i <= 3; i += 1) await publish(a.pods[0], 'a', room, i);
    const pubs = await historyHas(b, room, 3);
    assert.deepEqual(fromOrigin(pubs, 'a'), [1, 2, 3]);
    assert.ok(lost, 'the last message was lost on the bus');
  });

  it('past the origin history, the gap is reported as unrecoverable and the room moves on', async () => {
    const network = new MemoryBusNetwork();
    const a = await region(network, 'a', { historySize: 3 });
    const b = await region(network, 'b');
    const room = uniqueRoom('gone');
    await publish(a.pods[0], 'a', room, 1);
    await historyHas(b, room, 1);
    network.drop = (e) => e.kind === 'msg' && e.offset >= 2 && e.offset <= 6;
    for (let i = 2; i <= 7; i += 1) await publish(a.pods[0], 'a', room, i);
    network.drop = undefined;
    await publish(a.pods[0], 'a', room, 8);
    // a's history keeps 6, 7, 8: 2..5 are gone; b gets 6 and 7 repaired, then 8.
    const pubs = await historyHas(b, room, 4);
    assert.deepEqual(fromOrigin(pubs, 'a'), [1, 6, 7, 8]);
    assert.equal(await counter(b, 'unrecoverableGaps', 'certain:true'), 1);
    assert.equal(b.pods.reduce((total, p) => total + p.relay.load().gaps, 0), 1, '/loadz counts the gap too');
    assert.equal(await counter(b, 'unrecoverableOffsets'), 4);
  });

  it('while the bus refuses publishes, the outbox keeps them and sends them in order when it returns', async () => {
    const network = new MemoryBusNetwork();
    const a = await region(network, 'a');
    const b = await region(network, 'b');
    const room = uniqueRoom('outage');
    await publish(a.pods[0], 'a', room, 0);
    await historyHas(b, room, 1);
    network.available = false;
    for (let i = 1; i <= 10; i += 1) await publish(a.pods[i % 2], 'a', room, i);
    // Local delivery did not wait: a has everything already.
    assert.equal((await history(a, room)).length, 11);
    await waitFor(() => a.pods.some((p) => p.relay.state().degraded), { what: 'a degraded' });
    assert.ok(a.pods.some((p) => p.relay.load().state === 'degraded'), '/loadz says degraded too');
    network.available = true;
    const pubs = await historyHas(b, room, 11);
    assert.deepEqual(fromOrigin(pubs, 'a'), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    await waitFor(() => a.pods.every((p) => !p.relay.state().degraded), { what: 'a healthy again' });
  });

  for (const mode of ['pipelined', 'window'] as const) {
    it(`${mode} outbox: the bus refuses one room's publishes mid-stream; the other room flows, and the refused room arrives in order, once`, async () => {
      // Publishes settle 5 ms after they are handed over, so several of a room are in flight when
      // one is refused; the bus then refuses the rest of that room until the outbox resumes it.
      const network = new MemoryBusNetwork({ publishLatencyMs: 5 });
      const a = await region(network, 'a', { relay: { outboxMode: mode } });
      const b = await region(network, 'b', { relay: { outboxMode: mode } });
      const held = uniqueRoom('held');
      const flowing = uniqueRoom('flowing');
      let holding = true;
      let refusals = 0;
      network.refuse = (e) => {
        const refused = holding && e.kind === 'msg' && e.room === held && (e.data as number) >= 5;
        if (refused) refusals += 1;
        return refused;
      };
      // Counts what the bus accepted (and delivers nothing twice).
      const accepted = new Map<string, number>();
      network.repeat = (e) => {
        if (e.kind === 'msg') accepted.set(e.mid, (accepted.get(e.mid) ?? 0) + 1);
        return false;
      };
      const writes: Promise<unknown>[] = [];
      for (let i = 0; i < 30; i += 1) {
        writes.push(publish(a.pods[0], 'a', held, i));
        writes.push(publish(a.pods[0], 'a', flowing, i));
      }
      await Promise.all(writes);
      // The other room is not held back by the refused one.
      const flowed = await historyHas(b, flowing, 30);
      assert.deepEqual(fromOrigin(flowed, 'a'), fromOrigin(await history(a, flowing), 'a'));
      await waitFor(() => refusals >= 2, { what: 'the refused room retried (a probe refused again)' });
      assert.ok(a.pods[0].relay.state().degraded, 'a reports the relay degraded while a room is refused');
      // Nothing of the refused room overtook its first refused message.
      const before = fromOrigin(await history(b, held), 'a');
      const originOrder = fromOrigin(await history(a, held), 'a');
      assert.deepEqual(before, originOrder.slice(0, before.length), 'b has a prefix of the origin order');
      assert.ok(!before.includes(5), `the refused message is not in b yet: ${JSON.stringify(before)}`);
      holding = false;
      const pubs = await historyHas(b, held, 30);
      assert.deepEqual(fromOrigin(pubs, 'a'), originOrder, 'the refused room arrives complete, in the origin order');
      assert.equal(pubs.length, 30, 'each message stored once');
      for (const [mid, times] of accepted) assert.equal(times, 1, `the bus accepted ${mid} once`);
      assert.equal(accepted.size, 60, 'every message went on the bus');
      assert.equal(await counter(b, 'applied', 'outcome:duplicate'), 0);
      assert.equal(await counter(b, 'repairRequests'), 0, 'the order held on the bus: nothing needed a repair');
      await waitFor(() => a.pods.every((p) => !p.relay.state().degraded && p.relay.state().outboxMessages === 0), { what: 'a healthy, outbox empty' });
    });
  }

  it('presence: a member of region a is listed in region b with its region, and leaves there too', async () => {
    const network = new MemoryBusNetwork();
    const a = await region(network, 'a');
    const b = await region(network, 'b');
    const room = uniqueRoom('presence');
    await a.pods[0].engine.presence.add(room, { user: 'ann', client: 'c-ann', region: 'a' });
    await waitFor(async () => (await b.pods[1].engine.presence.list(room)).some((m) => m.client === 'c-ann' && m.region === 'a'), { what: 'ann in b' });
    await a.pods[0].engine.presence.remove(room, 'c-ann');
    await waitFor(async () => (await b.pods[1].engine.presence.list(room)).length === 0, { what: 'ann gone from b' });
  });
});

describe('relay liveness over the memory bus, with no traffic', () => {
  /** Heartbeats every 20 ms of real time; silence and forgetting are judged on a clock the scenario moves. */
  const liveness = { heartbeatMs: 20, silenceMs: 1000, peerForgetMs: 60_000, maxPeerRegions: 3 };

  function clock() {
    let offset = 0;
    return { now: () => Date.now() + offset, advance: (ms: number) => (offset += ms) };
  }

  const heardFrom = (r: Region, peer: string) => r.pods.every((p) => p.relay.load().peers.some((x) => x.region === peer));

  it('a bus that delivers nothing makes every pod not receiving and degraded; heartbeats bring them back, and never reach a room', async () => {
    const network = new MemoryBusNetwork();
    const time = clock();
    const a = await region(network, 'a', { relay: liveness, now: time.now });
    const b = await region(network, 'b', { relay: liveness, now: time.now });
    // Heartbeats alone (no message published): every pod hears the other region.
    await waitFor(() => heardFrom(a, 'b') && heardFrom(b, 'a'), { what: 'every pod heard the other region' });
    for (const pod of [...a.pods, ...b.pods]) {
      const load = pod.relay.load();
      assert.equal(load.state, 'ok', JSON.stringify(load));
      assert.equal(load.receiving, true);
      assert.equal(load.peers.length, 1, 'only the other region is a peer');
      assert.ok(load.peers[0].silenceMs >= 0 && typeof load.peers[0].heartbeatLagMs === 'number', JSON.stringify(load.peers));
    }
    assert.ok((await counter(b, 'received', 'kind:heartbeat')) > 0, 'heartbeats counted as received');

    // The bus still accepts publishes but delivers nothing (a broken subscription): only silence tells.
    network.drop = () => true;
    time.advance(liveness.silenceMs + 1);
    for (const pod of [...a.pods, ...b.pods]) {
      const load = pod.relay.load();
      assert.equal(load.publishing, true, 'publishing still works');
      assert.equal(load.receiving, false, JSON.stringify(load));
      assert.equal(load.state, 'degraded');
      assert.ok(load.peers[0].silenceMs > liveness.silenceMs, JSON.stringify(load.peers));
    }
    assert.equal(await gauge(a, 'receiving'), 0, 'meridian_relay_receiving is 0 on both pods');
    const silences = await peerSilence(a);
    assert.equal(silences.length, 2, 'one series per pod of a, for its one peer');
    assert.ok(silences.every(([region, seconds]) => region === 'b' && seconds > liveness.silenceMs / 1000), `meridian_relay_peer_silence_seconds{region="b"}: ${JSON.stringify(silences)}`);

    network.drop = undefined;
    await waitFor(() => [...a.pods, ...b.pods].every((p) => p.relay.load().state === 'ok'), { what: 'every pod ok again' });
    assert.equal(await gauge(a, 'receiving'), 2);
    // Heartbeats are never applied to a room: no history, no lanes.
    for (const r of [a, b]) {
      assert.equal(await counter(r, 'applied'), 0);
      for (const pod of r.pods) assert.equal(pod.relay.state().lanes, 0);
    }
    assert.equal((await a.pods[0].engine.history.read(uniqueRoom('any'), { since: 0, limit: 10 })).publications.length, 0);
  });

  it('a region with no peer is not degraded by silence; peers not heard for relay.peerForgetMs are forgotten', async () => {
    const network = new MemoryBusNetwork();
    const time = clock();
    const solo = await region(network, 'solo', { relay: liveness, now: time.now });
    // Its own heartbeats arrive (no filter on the memory bus) but make no peer.
    await waitFor(async () => (await ownDropped(solo)) > 0, { what: 'own heartbeats arrived' });
    network.drop = () => true;
    time.advance(liveness.silenceMs * 10);
    for (const pod of solo.pods) assert.deepEqual([pod.relay.load().state, pod.relay.load().peers], ['ok', []]);

    network.drop = undefined;
    await region(network, 'other', { relay: liveness, now: time.now });
    await waitFor(() => heardFrom(solo, 'other'), { what: 'solo heard other' });
    network.drop = () => true;
    time.advance(liveness.silenceMs + 1);
    assert.ok(solo.pods.every((p) => p.relay.load().state === 'degraded'), 'silent with a peer: degraded');
    time.advance(liveness.peerForgetMs);
    for (const pod of solo.pods) assert.deepEqual([pod.relay.load().state, pod.relay.load().peers], ['ok', []], 'the peer is forgotten');
  });

  it('heartbeats are validated like any envelope, and invented regions cannot grow the peer list past relay.maxPeerRegions', async () => {
    const hostile = ['{"v":1,"kind":"heartbeat","origin":"x"}', '{"v":1,"kind":"heartbeat","origin":"x","ts":"now"}', '{"v":1,"kind":"heartbeat","ts":1}', `{"v":1,"kind":"heartbeat","origin":"${'r'.repeat(64)}","ts":1}`, '{"v":2,"kind":"heartbeat","origin":"x","ts":1}'];
    for (const raw of hostile) assert.ok(isMalformed(decodeEnvelope(raw)), raw);
    assert.deepEqual(decodeEnvelope('{"v":1,"kind":"heartbeat","origin":"x","ts":5,"room":"r","data":1}'), { v: 1, kind: 'heartbeat', origin: 'x', ts: 5 }, 'unknown fields are not kept');

    const network = new MemoryBusNetwork();
    const a = await region(network, 'a', { relay: { ...liveness, heartbeatMs: 0 } });
    for (let i = 0; i < 20; i += 1) network.publish({ v: 1, kind: 'heartbeat', origin: `invented-${i}`, ts: Date.now() }, undefined);
    await waitFor(async () => (await counter(a, 'received', 'kind:heartbeat')) >= 20, { what: 'the 20 invented heartbeats received' });
    for (const pod of a.pods) {
      const peers = pod.relay.load().peers;
      assert.equal(peers.length, liveness.maxPeerRegions, JSON.stringify(peers));
      assert.ok(peers.every((x) => x.region.startsWith('invented-')));
    }
    assert.ok((await peerSilence(a)).length <= liveness.maxPeerRegions * a.pods.length, 'metric labels bounded too');
  });
});

async function gauge(r: Region, name: 'receiving'): Promise<number> {
  let total = 0;
  for (const pod of r.pods) {
    const registry = new Registry();
    pod.relay.registerMetrics(registry);
    total += ((await registry.getSingleMetric(`meridian_relay_${name}`)!.get()).values[0]?.value ?? 0);
  }
  return total;
}

/** [region, seconds] of meridian_relay_peer_silence_seconds over the region's pods. */
async function peerSilence(r: Region): Promise<Array<[string, number]>> {
  const out: Array<[string, number]> = [];
  for (const pod of r.pods) {
    const registry = new Registry();
    pod.relay.registerMetrics(registry);
    for (const value of (await registry.getSingleMetric('meridian_relay_peer_silence_seconds')!.get()).values) out.push([String(value.labels.region), value.value]);
  }
  return out;
}

async function ownDropped(r: Region): Promise<number> {
  let total = 0;
  for (const pod of r.pods) total += (await pod.relay.metrics.ownDropped.get()).values[0]?.value ?? 0;
  return total;
}

async function counter(r: Region, name: 'repairRequests' | 'unrecoverableGaps' | 'unrecoverableOffsets' | 'received' | 'applied', label = ''): Promise<number> {
  let total = 0;
  for (const pod of r.pods) {
    const metric = await (pod.relay.metrics[name] as any).get();
    for (const value of metric.values) {
      const labels = Object.entries(value.labels).map(([k, v]) => `${k}:${v}`).join(',');
      if (label === '' || labels === label) total += value.value;
    }
  }
  return total;
}
