/**
 * History and recovery within the outbound budget: a history reply stops at
 * limits.historyReplyBytes and says `more`; history reads are counted (in flight, and in the
 * outbound queue) before any read; nothing is encoded for a connection that closed; a recovery
 * larger than the outbound queue arrives page by page, every message in order, without 4008.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { createEngine } from '../gateway/engine/index.ts';
import type { Engine, HistoryPage, Publication } from '../gateway/engine/types.ts';
import { waitFor } from './helpers/net.ts';
import { startGateway, TestClient, type Frame, type TestGateway } from './helpers/gateway.ts';

const kb = 'x'.repeat(1024);

async function publishMany(gw: TestGateway, room: string, count: number, from = 1): Promise<void> {
  for (let n = from; n < from + count; n += 1) {
    const res = await gw.api('/v1/publish', { method: 'POST', body: JSON.stringify({ room, data: { n, kb } }) });
    assert.equal(res.status, 200);
  }
}

/** Reads every page of a history request, following `more` with `since`. */
async function allPages(client: TestClient, request: Frame): Promise<{ pages: Frame[]; offsets: number[] }> {
  const pages: Frame[] = [];
  let reply = await client.request({ op: 'history', ...request });
  pages.push(reply);
  while (reply.more) {
    reply = await client.request({ op: 'history', room: request.room, since: reply.messages.at(-1).offset });
    pages.push(reply);
  }
  return { pages, offsets: pages.flatMap((p) => p.messages.map((m: Frame) => m.offset)) };
}

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}

/**
 * The memory engine with history reads held at a gate (`hold()` … `release()`), counted, and
 * returning publications whose data counts how often it is encoded.
 */
function instrumentedEngine(): { engine: Engine; reads: () => number; encodes: () => number; hold(): void; release(): void } {
  const inner = createEngine({ region: 'test-region', engine: {}, logger: pino({ level: 'silent' }) });
  let reads = 0;
  let encodes = 0;
  let gate: Promise<void> | undefined;
  let open: (() => void) | undefined;
  const counted = (pub: Publication): Publication => ({ ...pub, data: { toJSON: () => (encodes += 1, pub.data) } });
  const engine: Engine = {
    name: inner.name,
    broker: inner.broker,
    presence: inner.presence,
    tallies: inner.tallies,
    history: {
      async read(room, options): Promise<HistoryPage> {
        reads += 1;
        if (gate) await gate;
        const page = await inner.history.read(room, options);
        return { ...page, publications: page.publications.map(counted) };
      },
      position: (room) => inner.history.position(room),
    },
    start: (handlers) => inner.start(handlers),
    healthy: () => inner.healthy(),
    health: () => inner.health(),
    close: () => inner.close(),
  };
  return {
    engine,
    reads: () => reads,
    encodes: () => encodes,
    hold() {
      gate = new Promise((resolve) => (open = resolve));
    },
    release() {
      gate = undefined;
      open?.();
    },
  };
}

describe('history replies within limits.historyReplyBytes', () => {
  let gw: TestGateway;
  before(async () => {
    gw = await startGateway({ limits: { historyReplyBytes: 8192 } });
    await publishMany(gw, 'archive', 60);
  });
  after(async () => {
    await gw.close();
  });

  it('a reply stops at the byte budget with more:true, and paging with since returns every message once, in order', async () => {
    const client = await gw.client('reader');
    const first = await client.request({ op: 'history', room: 'archive', limit: 60, since: 0 });
    assert.equal(first.more, true);
    assert.ok(first.messages.length >= 4 && first.messages.length < 10, `about 8 KB of 1 KB messages, got ${first.messages.length}`);
    assert.ok(Buffer.byteLength(JSON.stringify(first)) < 8192 + 512, 'the reply stays near the budget');
    const { pages, offsets } = await allPages(client, { room: 'archive', limit: 60, since: 0 });
    assert.deepEqual(offsets, range(1, 60));
    assert.equal(pages.at(-1)!.more, undefined, 'the last page says nothing more');
    await client.close();
  });

  it('without since, the newest `limit` are paged from their oldest', async () => {
    const client = await gw.client('reader');
    const { offsets } = await allPages(client, { room: 'archive', limit: 30 });
    assert.deepEqual(offsets, range(31, 60));
    const small = await client.request({ op: 'history', room: 'archive', limit: 3 });
    assert.deepEqual(small.messages.map((m: Frame) => m.offset), [58, 59, 60]);
    assert.equal(small.more, undefined);
    await client.close();
  });

  it('the server API pages the same way', async () => {
    const { status, body } = await gw.apiJson('/v1/rooms/archive/history?limit=60&since=0');
    assert.equal(status, 200);
    assert.equal(body.more, true);
    assert.ok(body.messages.length < 10);
    assert.deepEqual(body.messages.map((m: Frame) => m.offset), range(1, body.messages.length));
  });
});

describe('history reads are counted before the work', () => {
  it('past limits.historyReadsPerConnection in flight, history answers RATE_LIMITED without reading', async () => {
    const spy = instrumentedEngine();
    const gw = await startGateway({ limits: { historyReadsPerConnection: 4, violationsBeforeClose: 100 } }, { engine: spy.engine });
    try {
      await publishMany(gw, 'busy', 5);
      const client = await gw.client('greedy');
      spy.hold();
      const before = spy.reads();
      for (let i = 0; i < 10; i += 1) client.send({ id: 1000 + i, op: 'history', room: 'busy', limit: 5 });
      const refused = await client.waitCount((f) => f.id >= 1000 && f.code === 'RATE_LIMITED', 6);
      assert.match(refused[0].message, /4 history reads in flight/);
      assert.equal(spy.reads() - before, 4, 'only the admitted reads reached the engine');
      spy.release();
      const served = await client.waitCount((f) => f.id >= 1000 && f.op === 'history', 4);
      assert.ok(served.every((f) => f.messages.length === 5));
      // Slots are free again once the replies went out.
      assert.equal((await client.request({ op: 'history', room: 'busy' })).op, 'history');
    } finally {
      await gw.close();
    }
  });

  it('a history read is refused when the outbound queue has no room left for its reply', async () => {
    const spy = instrumentedEngine();
    // Pages of 16 KiB against a 64 KiB queue: four reserved replies fill it.
    const gw = await startGateway(
      { limits: { outboundQueueBytes: 65_536, historyReplyBytes: 16_384, historyReadsPerConnection: 10, violationsBeforeClose: 100 } },
      { engine: spy.engine },
    );
    try {
      await publishMany(gw, 'busy', 3);
      const client = await gw.client('greedy');
      spy.hold();
      for (let i = 0; i < 5; i += 1) client.send({ id: 1000 + i, op: 'history', room: 'busy' });
      const [refused] = await client.waitCount((f) => f.id >= 1000 && f.code === 'RATE_LIMITED', 1);
      assert.match(refused.message, /outbound queue has no room/);
      assert.equal(refused.id, 1004);
      spy.release();
      await client.waitCount((f) => f.id >= 1000 && f.op === 'history', 4);
    } finally {
      await gw.close();
    }
  });

  it('nothing is encoded for a connection that closed while its history was read', async () => {
    const spy = instrumentedEngine();
    const gw = await startGateway({}, { engine: spy.engine });
    try {
      await publishMany(gw, 'busy', 20);
      const control = await gw.client('control');
      const encodedBefore = spy.encodes();
      assert.equal((await control.request({ op: 'history', room: 'busy', limit: 20 })).messages.length, 20);
      assert.ok(spy.encodes() - encodedBefore >= 20, 'a live connection’s reply is encoded (the probe works)');

      // What one reply of one message costs in encodes (the view, then the reply around it).
      let mark = spy.encodes();
      await control.request({ op: 'history', room: 'busy', limit: 1 });
      const replyOfOne = spy.encodes() - mark;

      const leaver = await gw.client('leaver');
      spy.hold();
      const readsBefore = spy.reads();
      for (let i = 0; i < 4; i += 1) leaver.send({ id: 1000 + i, op: 'history', room: 'busy', limit: 20 });
      await waitFor(() => spy.reads() - readsBefore === 4, { what: 'four reads started' });
      await leaver.close();
      await waitFor(() => gw.gateway.connections.size === 1, { what: 'the close seen by the gateway' });
      mark = spy.encodes();
      spy.release();
      // The reads finish and their results are dropped; a later reply on the control connection
      // shows the gateway went past them.
      assert.equal((await control.request({ op: 'history', room: 'busy', limit: 1 })).messages.length, 1);
      await new Promise((resolve) => setImmediate(resolve));
      assert.equal(spy.encodes() - mark, replyOfOne, 'only the control reply was encoded, none of the 4 × 20 read for the closed connection');
    } finally {
      await gw.close();
    }
  });
});

describe('recovery larger than the outbound queue', () => {
  let gw: TestGateway;
  before(async () => {
    // A 64 KiB outbound queue, and 200 missed messages of about 1.2 KB: four times the queue.
    gw = await startGateway({ limits: { outboundQueueBytes: 65_536 } });
  });
  after(async () => {
    await gw.close();
  });

  it('arrives in pages: the subscribed reply with more:true, then every message in order, no 4008', async () => {
    const first = await gw.client('traveller');
    const joined = await first.request({ op: 'subscribe', room: 'journey' });
    await first.close();
    await publishMany(gw, 'journey', 200);

    const back = await gw.client('traveller');
    const reply = await back.request({ op: 'subscribe', room: 'journey', recover: { epoch: joined.epoch, offset: joined.offset } });
    assert.equal(reply.op, 'subscribed');
    assert.equal(reply.recovered, true);
    assert.equal(reply.more, true);
    assert.ok(reply.messages.length > 0 && reply.messages.length < 200);
    assert.equal(reply.offset, reply.messages.at(-1).offset, 'the reply’s offset is its last message');
    // Live messages published while the recovery is paged follow it, in order.
    await publishMany(gw, 'journey', 20, 201);
    await back.waitCount((f) => f.op === 'message' && f.room === 'journey', 220 - reply.messages.length, 60_000);
    const pushed = back.messages('journey').map((m) => m.offset);
    assert.deepEqual([...reply.messages.map((m: Frame) => m.offset), ...pushed], range(1, 220));
    assert.equal((await back.request({ op: 'ping' })).op, 'pong', 'still connected');
    await back.close();
  });

  it('a recovery that fits one page is one reply, as before', async () => {
    const first = await gw.client('commuter');
    const joined = await first.request({ op: 'subscribe', room: 'short-trip' });
    await first.close();
    await publishMany(gw, 'short-trip', 5);
    const back = await gw.client('commuter');
    const reply = await back.request({ op: 'subscribe', room: 'short-trip', recover: { epoch: joined.epoch, offset: joined.offset } });
    assert.equal(reply.recovered, true);
    assert.equal(reply.more, undefined);
    assert.deepEqual(reply.messages.map((m: Frame) => m.offset), range(1, 5));
    await back.close();
  });
});
