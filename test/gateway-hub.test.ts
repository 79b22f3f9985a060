/**
 * Delivery repair in the hub: the broker is at most once, so lost, duplicated or interrupted
 * live deliveries are repaired from history (or the client is told with 4010). The engine here
 * is the real memory engine behind a wrapper that loses or repeats chosen deliveries. The gateway
 * delivers what its own clients publish without waiting for the broker, so scenarios about lost
 * broadcasts publish from a second pod on the same backend (`feed.otherPod`), as in production.
 */
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { pino } from 'pino';
import { createEngine, MemoryEngine } from '../gateway/engine/index.ts';
import type { Engine, EngineHandlers, Publication } from '../gateway/engine/types.ts';
import { startGateway, type TestGateway } from './helpers/gateway.ts';
import { waitFor } from './helpers/net.ts';

/**
 * Lets a test freeze a history read: after `arm()`, the next read (or position) runs at once,
 * so its snapshot is taken, but its answer is held until `release()`. Live publications made
 * in between are exactly what a subscribe must neither miss nor repeat.
 */
function gatedHistory(inner: Engine): { engine: Engine; arm(): Promise<void>; release(): void } {
  let pending: { reached: () => void; gate: Promise<void> } | undefined;
  let release = () => {};
  const hold = async <T>(value: Promise<T>): Promise<T> => {
    const snapshot = await value;
    const armed = pending;
    pending = undefined;
    if (armed) {
      armed.reached();
      await armed.gate;
    }
    return snapshot;
  };
  const engine: Engine = {
    name: inner.name,
    broker: inner.broker,
    presence: inner.presence,
    tallies: inner.tallies,
    start: (handlers) => inner.start(handlers),
    healthy: () => inner.healthy(),
    health: () => inner.health(),
    close: () => inner.close(),
    history: {
      read: (room, options) => hold(inner.history.read(room, options)),
      position: (room) => hold(inner.history.position(room)),
    },
  };
  return {
    engine,
    arm() {
      const gate = new Promise<void>((resolve) => (release = resolve));
      return new Promise<void>((reached) => (pending = { reached, gate }));
    },
    release: () => release(),
  };
}

interface FaultyFeed {
  engine: Engine;
  /** Offsets whose live delivery is lost. */
  drop: Set<number>;
  /** Offsets delivered twice. */
  repeat: Set<number>;
  /** While true, live deliveries wait (stored, not yet broadcast to this node) until `flush()`. */
  holding: boolean;
  flush(): void;
  handlers(): EngineHandlers;
  /** Another pod on the same backend: what it publishes reaches the gateway only through the (faulty) broadcast. */
  otherPod: MemoryEngine;
  /** Publishes through `otherPod`, as a client of another gateway would. */
  publishElsewhere(room: string, data: unknown): Promise<{ epoch: string; offset: number }>;
}

function faultyFeed(historySize = 300): FaultyFeed {
  const inner = createEngine({ region: 'test-region', engine: { historySize }, logger: pino({ level: 'silent' }) }) as MemoryEngine;
  const otherPod = new MemoryEngine({ backend: inner.backend, engine: { historySize } });
  let published = 0;
  const drop = new Set<number>();
  const repeat = new Set<number>();
  let handlers: EngineHandlers | undefined;
  const waiting: Publication[] = [];
  const feed = { holding: false } as FaultyFeed;
  const engine: Engine = {
    name: inner.name,
    broker: inner.broker,
    history: inner.history,
    presence: inner.presence,
    tallies: inner.tallies,
    healthy: () => inner.healthy(),
    health: () => inner.health(),
    close: async () => {
      await otherPod.close();
      await inner.close();
    },
    async start(h) {
      handlers = h;
      await otherPod.start({ publication() {}, roomEvent() {}, resynced() {} });
      return inner.start({
        ...h,
        publication(pub: Publication) {
          if (feed.holding) {
            waiting.push(pub);
            return;
          }
          if (drop.has(pub.offset)) return;
          h.publication(pub);
          if (repeat.has(pub.offset)) h.publication(pub);
        },
      });
    },
  };
  return Object.assign(feed, {
    engine,
    drop,
    repeat,
    otherPod,
    publishElsewhere: (room: string, data: unknown) => otherPod.broker.publish({ room, data, mid: `elsewhere-${++published}`, region: 'test-region', ts: Date.now() }),
    handlers: () => handlers!,
    flush() {
      feed.holding = false;
      for (const pub of waiting.splice(0)) handlers!.publication(pub);
    },
  });
}

describe('gateway hub delivery repair', () => {
  let gw: TestGateway | undefined;
  let feed: FaultyFeed | undefined;
  afterEach(async () => {
    await gw?.close();
    await feed?.engine.close();
  });

  it('a lost last delivery, which no later publication reveals, arrives through the periodic position check', async () => {
    feed = faultyFeed();
    gw = await startGateway({ history: { positionCheckMs: 50 } }, { engine: feed.engine });
    const reader = await gw.client('reader');
    await reader.request({ op: 'subscribe', room: 'quiet' });
    feed.drop.add(2);
    for (let n = 1; n <= 2; n += 1) await feed.publishElsewhere('quiet', n);
    const got = await reader.waitCount((f) => f.op === 'message', 2);
    assert.deepEqual(got.map((m) => m.offset), [1, 2]);
    assert.equal(got[1].data, 2);
  });

  it('without the periodic check a lost last delivery stays missing until the next publication', async () => {
    feed = faultyFeed();
    gw = await startGateway({ history: { positionCheckMs: 0 } }, { engine: feed.engine });
    const reader = await gw.client('reader');
    await reader.request({ op: 'subscribe', room: 'quiet' });
    feed.drop.add(2);
    for (let n = 1; n <= 2; n += 1) await feed.publishElsewhere('quiet', n);
    // A ping answered after both publishes: any delivery that was coming has come.
    await reader.waitFrame((f) => f.op === 'message' && f.offset === 1);
    await reader.request({ op: 'ping' });
    assert.equal(reader.frames.filter((f) => f.op === 'message').length, 1);
    await feed.publishElsewhere('quiet', 3);
    const got = await reader.waitCount((f) => f.op === 'message', 3);
    assert.deepEqual(got.map((m) => m.offset), [1, 2, 3]);
  });

  it('a lost live delivery is filled from history before the next one', async () => {
    feed = faultyFeed();
    gw = await startGateway({}, { engine: feed.engine });
    const reader = await gw.client('reader');
    await reader.request({ op: 'subscribe', room: 'lossy' });
    feed.drop.add(2).add(3);
    for (let n = 1; n <= 5; n += 1) await feed.publishElsewhere('lossy', n);
    const got = await reader.waitCount((f) => f.op === 'message', 5);
    assert.deepEqual(got.map((m) => m.offset), [1, 2, 3, 4, 5]);
    assert.deepEqual(got.map((m) => m.data), [1, 2, 3, 4, 5]);
    const metrics = await (await fetch(gw.metricsUrl)).text();
    assert.match(metrics, /meridian_gap_repairs_total\{outcome="repaired"\} 1/);
  });

  it('a repeated delivery reaches subscribers once', async () => {
    feed = faultyFeed();
    gw = await startGateway({}, { engine: feed.engine });
    const reader = await gw.client('reader');
    await reader.request({ op: 'subscribe', room: 'echoey' });
    feed.repeat.add(1);
    await reader.request({ op: 'publish', room: 'echoey', data: 'a' });
    await reader.request({ op: 'publish', room: 'echoey', data: 'b' });
    await reader.waitCount((f) => f.op === 'message', 2);
    await reader.request({ op: 'ping' });
    assert.deepEqual(reader.messages().map((m) => m.data), ['a', 'b']);
  });

  it('an own publication that is ahead of the room waits for the one before it, then both arrive once', async () => {
    feed = faultyFeed();
    gw = await startGateway({}, { engine: feed.engine });
    const reader = await gw.client('reader');
    const writer = await gw.client('writer');
    await reader.request({ op: 'subscribe', room: 'overtaken' });
    feed.holding = true; // every broadcast waits, this pod's own included
    assert.equal((await feed.publishElsewhere('overtaken', 'elsewhere')).offset, 1);
    assert.equal((await writer.request({ op: 'publish', room: 'overtaken', data: 'here' })).offset, 2);
    await reader.request({ op: 'ping' });
    assert.deepEqual(reader.messages(), [], 'offset 2 is not delivered before offset 1');
    feed.flush();
    await reader.waitCount((f) => f.op === 'message', 2);
    await reader.request({ op: 'ping' });
    assert.deepEqual(reader.messages().map((m) => [m.offset, m.data]), [[1, 'elsewhere'], [2, 'here']]);
  });

  it('a gap history no longer holds closes the room’s subscribers with 4010', async () => {
    feed = faultyFeed(3);
    gw = await startGateway({}, { engine: feed.engine });
    const reader = await gw.client('reader');
    const other = await gw.client('other');
    await reader.request({ op: 'subscribe', room: 'forgetful' });
    await other.request({ op: 'subscribe', room: 'elsewhere' });
    for (const offset of [2, 3, 4, 5, 6]) feed.drop.add(offset);
    for (let n = 1; n <= 7; n += 1) await feed.publishElsewhere('forgetful', n);
    assert.equal((await reader.closed).code, 4010);
    // Reconnecting with recover from the last offset seen answers recovered:false.
    const again = await gw.client('reader');
    const last = reader.messages().at(-1)!;
    const sub = await again.request({ op: 'subscribe', room: 'forgetful', recover: { epoch: last.epoch, offset: last.offset } });
    assert.equal(sub.recovered, false);
    assert.equal(sub.offset, 7);
    assert.equal((await other.request({ op: 'ping' })).op, 'pong');
  });

  it('after the engine reports a resync, missed publications are delivered from history', async () => {
    feed = faultyFeed();
    gw = await startGateway({}, { engine: feed.engine });
    const reader = await gw.client('reader');
    await reader.request({ op: 'subscribe', room: 'flaky' });
    feed.drop.add(1).add(2);
    await feed.publishElsewhere('flaky', 'one');
    await feed.publishElsewhere('flaky', 'two');
    await reader.request({ op: 'ping' });
    assert.equal(reader.messages().length, 0);
    feed.handlers().resynced(['flaky', 'not-subscribed-here']);
    const got = await reader.waitCount((f) => f.op === 'message', 2);
    assert.deepEqual(got.map((m) => m.data), ['one', 'two']);
  });

  it('subscribe with recover merges live publications that arrive while history is read', async () => {
    feed = faultyFeed();
    const gated = gatedHistory(feed.engine);
    gw = await startGateway({}, { engine: gated.engine });
    const writer = await gw.client('writer');
    const watcher = await gw.client('watcher');
    await watcher.request({ op: 'subscribe', room: 'race' });
    let epoch = '';
    for (let n = 1; n <= 3; n += 1) epoch = (await writer.request({ op: 'publish', room: 'race', data: n })).epoch;

    const reader = await gw.client('reader');
    const snapshotTaken = gated.arm();
    reader.send({ id: 500, op: 'subscribe', room: 'race', recover: { epoch, offset: 1 } });
    await snapshotTaken; // history as of offset 3 is read, its answer held
    for (let n = 4; n <= 5; n += 1) await writer.request({ op: 'publish', room: 'race', data: n });
    await watcher.waitFrame((f) => f.op === 'message' && f.offset === 5); // the hub has fanned out 4 and 5
    gated.release();

    const reply = await reader.waitFrame((f) => f.id === 500);
    assert.equal(reply.recovered, true);
    assert.deepEqual(reply.messages.map((m: { offset: number }) => m.offset), [2, 3, 4, 5]);
    assert.equal(reply.offset, 5);
    await writer.request({ op: 'publish', room: 'race', data: 6 });
    await reader.waitFrame((f) => f.op === 'message' && f.offset === 6);
    assert.deepEqual(reader.messages().map((m) => m.offset), [6], 'no live repeat of 4 or 5, nothing skipped');
  });

  it('subscribe without recover starts after the live publications merged into its reply', async () => {
    feed = faultyFeed();
    const gated = gatedHistory(feed.engine);
    gw = await startGateway({}, { engine: gated.engine });
    const writer = await gw.client('writer');
    const watcher = await gw.client('watcher');
    await watcher.request({ op: 'subscribe', room: 'race2' });
    await writer.request({ op: 'publish', room: 'race2', data: 1 });

    const reader = await gw.client('reader');
    const snapshotTaken = gated.arm();
    reader.send({ id: 600, op: 'subscribe', room: 'race2' });
    await snapshotTaken; // position 1
    await writer.request({ op: 'publish', room: 'race2', data: 2 });
    await watcher.waitFrame((f) => f.op === 'message' && f.offset === 2);
    gated.release();

    const reply = await reader.waitFrame((f) => f.id === 600);
    assert.equal(reply.recovered, undefined);
    assert.deepEqual(reply.messages.map((m: { offset: number }) => m.offset), [2]);
    assert.equal(reply.offset, 2);
    await writer.request({ op: 'publish', room: 'race2', data: 3 });
    await reader.waitFrame((f) => f.op === 'message' && f.offset === 3);
    assert.deepEqual(reader.messages().map((m) => m.offset), [3]);
  });

  it('a subscriber whose history read is ahead of live delivery skips what it already has', async () => {
    feed = faultyFeed();
    gw = await startGateway({}, { engine: feed.engine });
    const watcher = await gw.client('watcher');
    const { epoch } = await watcher.request({ op: 'subscribe', room: 'ahead' });
    feed.holding = true; // 1 and 2 are stored by another pod, their broadcast is still on its way
    await feed.publishElsewhere('ahead', 1);
    await feed.publishElsewhere('ahead', 2);
    const reader = await gw.client('reader');
    const sub = await reader.request({ op: 'subscribe', room: 'ahead', recover: { epoch, offset: 0 } });
    assert.equal(sub.recovered, true);
    assert.deepEqual(sub.messages.map((m: { offset: number }) => m.offset), [1, 2]);
    feed.flush();
    await watcher.waitCount((f) => f.op === 'message', 2);
    await feed.publishElsewhere('ahead', 3);
    await reader.waitFrame((f) => f.op === 'message' && f.offset === 3);
    assert.deepEqual(reader.messages().map((m) => m.offset), [3], 'live 1 and 2 were not repeated');
    assert.deepEqual((await watcher.waitCount((f) => f.op === 'message', 3)).map((m) => m.offset), [1, 2, 3]);
  });

  it('a subscriber whose history read is behind the room’s live delivery catches up from history', async () => {
    feed = faultyFeed();
    const gated = gatedHistory(feed.engine);
    gw = await startGateway({}, { engine: gated.engine });
    const early = await gw.client('early');
    const late = await gw.client('late');

    // `late` reads the (empty) room first; its answer is held.
    const lateRead = gated.arm();
    late.send({ id: 700, op: 'subscribe', room: 'behind' });
    await lateRead;
    // Message 1 is stored; its broadcast is held. `early` then reads offset 1 and becomes the
    // room's baseline, so the broadcast of 1, when it comes, is a duplicate for the room.
    feed.holding = true;
    await feed.publishElsewhere('behind', 1);
    const earlySub = await early.request({ op: 'subscribe', room: 'behind' });
    assert.equal(earlySub.offset, 1);
    feed.flush();
    await early.request({ op: 'ping' });
    gated.release();

    const lateSub = await late.waitFrame((f) => f.id === 700);
    assert.equal(lateSub.offset, 0);
    const caughtUp = await late.waitFrame((f) => f.op === 'message' && f.offset === 1);
    assert.equal(caughtUp.data, 1);
    await feed.publishElsewhere('behind', 2);
    await late.waitFrame((f) => f.op === 'message' && f.offset === 2);
    await early.waitFrame((f) => f.op === 'message' && f.offset === 2);
    assert.deepEqual(late.messages().map((m) => m.offset), [1, 2]);
    assert.deepEqual(early.messages().map((m) => m.offset), [2]);
  });

  it('rooms whose only subscriber leaves mid-subscribe are unsubscribed from the broker', async () => {
    const { MemoryEngine } = await import('../gateway/engine/index.ts');
    const engine = new MemoryEngine();
    gw = await startGateway({}, { engine });
    try {
      const rooms = Array.from({ length: 20 }, (_, i) => `fleeting-${i}`);
      for (const room of rooms) {
        const client = await gw.client('fleeting');
        client.send({ op: 'subscribe', room });
        client.ws.terminate();
      }
      await waitFor(() => gw!.gateway.connections.size === 0, { what: 'all clients gone' });
      await waitFor(() => rooms.every((room) => !engine.isSubscribed(room)), { what: 'the broker to drop every room' });
      assert.equal(gw.gateway.hub.roomCount, 0);
    } finally {
      await gw.close();
      gw = undefined;
      await engine.close();
    }
  });
});
