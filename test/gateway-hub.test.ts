/**
 * Delivery repair in the hub: the broker is at most once, so lost, duplicated or interrupted
 * live deliveries are repaired from history (or the client is told with 4010). The engine here
 * is the real memory engine behind a wrapper that loses or repeats chosen deliveries.
 */
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { pino } from 'pino';
import { createEngine } from '../gateway/engine/index.ts';
import type { Engine, EngineHandlers, Publication } from '../gateway/engine/types.ts';
import { startGateway, type TestGateway } from './helpers/gateway.ts';

interface FaultyFeed {
  engine: Engine;
  /** Offsets whose live delivery is lost. */
  drop: Set<number>;
  /** Offsets delivered twice. */
  repeat: Set<number>;
  handlers(): EngineHandlers;
}

function faultyFeed(historySize = 300): FaultyFeed {
  const inner = createEngine({ region: 'test-region', engine: { historySize }, logger: pino({ level: 'silent' }) });
  const drop = new Set<number>();
  const repeat = new Set<number>();
  let handlers: EngineHandlers | undefined;
  const engine: Engine = {
    name: inner.name,
    broker: inner.broker,
    history: inner.history,
    presence: inner.presence,
    healthy: () => inner.healthy(),
    close: () => inner.close(),
    start(h) {
      handlers = h;
      return inner.start({
        ...h,
        publication(pub: Publication) {
          if (drop.has(pub.offset)) return;
          h.publication(pub);
          if (repeat.has(pub.offset)) h.publication(pub);
        },
      });
    },
  };
  return { engine, drop, repeat, handlers: () => handlers! };
}

describe('gateway hub delivery repair', () => {
  let gw: TestGateway | undefined;
  let feed: FaultyFeed | undefined;
  afterEach(async () => {
    await gw?.close();
    await feed?.engine.close();
  });

  it('a lost live delivery is filled from history before the next one', async () => {
    feed = faultyFeed();
    gw = await startGateway({}, { engine: feed.engine });
    const reader = await gw.client('reader');
    const writer = await gw.client('writer');
    await reader.request({ op: 'subscribe', room: 'lossy' });
    feed.drop.add(2).add(3);
    for (let n = 1; n <= 5; n += 1) await writer.request({ op: 'publish', room: 'lossy', data: n });
    const got = await reader.waitCount((f) => f.op === 'message', 5);
    assert.deepEqual(got.map((m) => m.offset), [1, 2, 3, 4, 5]);
    assert.deepEqual(got.map((m) => m.data), [1, 2, 3, 4, 5]);
    const metrics = await (await fetch(`${gw.httpUrl}/metrics`)).text();
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

  it('a gap history no longer holds closes the room’s subscribers with 4010', async () => {
    feed = faultyFeed(3);
    gw = await startGateway({}, { engine: feed.engine });
    const reader = await gw.client('reader');
    const other = await gw.client('other');
    await reader.request({ op: 'subscribe', room: 'forgetful' });
    await other.request({ op: 'subscribe', room: 'elsewhere' });
    for (const offset of [2, 3, 4, 5, 6]) feed.drop.add(offset);
    for (let n = 1; n <= 7; n += 1) await other.request({ op: 'publish', room: 'forgetful', data: n });
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
    await reader.request({ op: 'publish', room: 'flaky', data: 'one' });
    await reader.request({ op: 'publish', room: 'flaky', data: 'two' });
    assert.equal(reader.messages().length, 0);
    feed.handlers().resynced(['flaky', 'not-subscribed-here']);
    const got = await reader.waitCount((f) => f.op === 'message', 2);
    assert.deepEqual(got.map((m) => m.data), ['one', 'two']);
  });
});
