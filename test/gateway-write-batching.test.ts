/**
 * Write coalescing: frames a connection gets within one event-loop turn leave in one socket
 * write (bounded by limits.writeBatchFrames / writeBatchBytes), complete and in order; replies
 * keep their place among pushes; a close follows the frames admitted before it; frames waiting
 * in a batch count toward the outbound cap (4008).
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import WebSocket, { WebSocketServer } from 'ws';
import { resolveConfig, type ConfigInput } from '../gateway/config.ts';
import { Connection } from '../gateway/connection.ts';
import { DeadlineWheel } from '../gateway/deadline-wheel.ts';
import { GatewayMetrics } from '../gateway/metrics.ts';
import { WriteScheduler } from '../gateway/write-scheduler.ts';
import { encodeFrame, frameText } from '../gateway/ws-frame.ts';
import { startGateway, TestClient, type TestGateway } from './helpers/gateway.ts';

const turnEnd = () => new Promise<void>((resolve) => setImmediate(resolve));

/** A server-side Connection on a real socket pair, with the writes its socket hands to the kernel counted. */
interface Pair {
  conn: Connection;
  client: TestClient;
  writes: () => number;
}

describe('gateway write coalescing', () => {
  let server: Server;
  let wss: WebSocketServer;
  let url: string;
  const metrics = new GatewayMetrics({ processMetrics: false });
  const logger = pino({ level: 'silent' });
  const writes = new WriteScheduler({ rawWrites: true });
  // Nothing here waits for a deadline: the wheel is never advanced.
  const deadlines = new DeadlineWheel<Connection>({ resolutionMs: 1000, now: Date.now, fire: (conn) => conn.deadlinePassed() });

  before(async () => {
    server = createServer();
    wss = new WebSocketServer({ server, perMessageDeflate: false });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    assert.ok(address && typeof address === 'object');
    url = `ws://127.0.0.1:${address.port}`;
  });
  after(async () => {
    for (const ws of wss.clients) ws.terminate();
    await new Promise<void>((resolve) => wss.close(() => resolve()));
    await new Promise<void>((resolve) => server.close(() => resolve()));
    metrics.close();
  });

  async function pair(limits: ConfigInput['limits'] = {}): Promise<Pair> {
    const config = resolveConfig({ limits }, {});
    const accepted = new Promise<WebSocket>((resolve) => wss.once('connection', resolve));
    const client = await TestClient.open(url);
    const ws = await accepted;
    const conn = new Connection(ws, { config, metrics, logger, now: Date.now, writes, deadlines });
    ws.once('close', () => conn.dispose());
    // Each call of _write or _writev is one write handed to the kernel (corked writes arrive as one _writev).
    type Write = (...args: unknown[]) => void;
    const socket = (ws as unknown as { _socket: { _write: Write; _writev: Write } })._socket;
    let count = 0;
    for (const method of ['_write', '_writev'] as const) {
      const original = socket[method].bind(socket);
      socket[method] = (...args: unknown[]) => {
        count += 1;
        original(...args);
      };
    }
    return { conn, client, writes: () => count };
  }

  it('frames of one turn leave in writes of at most writeBatchFrames, complete and in order, replies in place', async () => {
    const { conn, client, writes } = await pair({ writeBatchFrames: 16 });
    for (let n = 1; n <= 40; n += 1) {
      if (n === 20) conn.send({ op: 'pong', id: 7 });
      conn.sendShared(encodeFrame({ op: 'message', room: 'r', offset: n }));
    }
    // 41 frames: two full batches of 16 went out at once, the other 9 wait for the turn's end.
    assert.equal(writes(), 2);
    await turnEnd();
    assert.equal(writes(), 3);
    const frames = await client.waitCount(() => true, 41);
    const order = frames.map((f) => (f.op === 'pong' ? 'pong' : f.offset));
    const expected: (number | string)[] = Array.from({ length: 40 }, (_, i) => i + 1);
    expected.splice(19, 0, 'pong');
    assert.deepEqual(order, expected);
    await client.close();
  });

  it('a batch is written when the next frame would pass writeBatchBytes; a larger frame goes alone', async () => {
    const { conn, client, writes } = await pair({ writeBatchFrames: 1000, writeBatchBytes: 4096 });
    const chunk = 'x'.repeat(1500);
    for (let n = 1; n <= 5; n += 1) conn.sendShared(encodeFrame({ op: 'message', offset: n, chunk }));
    conn.sendShared(encodeFrame({ op: 'message', offset: 6, chunk: 'y'.repeat(10_000) }));
    // Two ~1.5 KiB frames per write (three would pass 4 KiB): [1,2] [3,4]; the 10 KiB frame
    // pushes [5] out, then goes alone.
    assert.equal(writes(), 4);
    await turnEnd();
    assert.equal(writes(), 4);
    const frames = await client.waitCount((f) => f.op === 'message', 6);
    assert.deepEqual(frames.map((f) => f.offset), [1, 2, 3, 4, 5, 6]);
    await client.close();
  });

  it('frames of every length class (7-bit, 16-bit and 64-bit lengths, at their edges) arrive intact', async () => {
    const { conn, client } = await pair({ writeBatchBytes: 1024 });
    // A JSON string of n characters is n + 2 bytes: payloads of exactly 125, 126, 65535 and 65536 bytes, and more.
    const payloadBytes = [2, 125, 126, 65_535, 65_536, 200_000];
    const texts = payloadBytes.map((bytes, i) => String.fromCharCode(97 + i).repeat(bytes - 2));
    for (const text of texts) conn.sendShared(frameText(Buffer.from(JSON.stringify(text))));
    // Each frame's payload is a JSON string, so the client's parsed "frames" are those strings.
    const received = (await client.waitCount(() => true, texts.length)) as unknown as string[];
    assert.deepEqual(
      received.map((text) => text.length),
      texts.map((text) => text.length),
    );
    assert.deepEqual(received, texts);
    await client.close();
  });

  it('writeBatchFrames 1 writes each frame at once', async () => {
    const { conn, client, writes } = await pair({ writeBatchFrames: 1 });
    for (let n = 1; n <= 5; n += 1) conn.sendShared(encodeFrame({ op: 'message', offset: n }));
    assert.equal(writes(), 5);
    const frames = await client.waitCount((f) => f.op === 'message', 5);
    assert.deepEqual(frames.map((f) => f.offset), [1, 2, 3, 4, 5]);
    await client.close();
  });

  it('a close in the same turn follows the frames admitted before it', async () => {
    const { conn, client } = await pair();
    for (let n = 1; n <= 5; n += 1) conn.sendShared(encodeFrame({ op: 'message', offset: n }));
    conn.close('DRAINING', 'server draining; reconnect');
    assert.equal(conn.sendShared(encodeFrame({ op: 'message', offset: 6 })), false, 'nothing is written after the close');
    const { code } = await client.closed;
    assert.equal(code, 1012);
    assert.deepEqual(client.messages().map((f) => f.offset), [1, 2, 3, 4, 5]);
  });

  it('bytes waiting in a batch count toward the outbound cap: past it the client is closed with 4008', async () => {
    const { conn, client } = await pair({ outboundQueueBytes: 4096, writeBatchFrames: 1000, writeBatchBytes: 65_536 });
    const chunk = 'x'.repeat(900); // frames of ~944 bytes: four fit in 4096, five do not
    const admitted: boolean[] = [];
    // Nothing reaches the socket before the turn ends, so only the batch can hold these bytes.
    for (let n = 1; n <= 5; n += 1) admitted.push(conn.sendShared(encodeFrame({ op: 'message', offset: n, chunk })));
    assert.deepEqual(admitted, [true, true, true, true, false]);
    const { code } = await client.closed;
    assert.equal(code, 4008);
    assert.deepEqual(client.messages().map((f) => f.offset), [1, 2, 3, 4]);
  });
});

describe('gateway fan-out of a burst', () => {
  let gw: TestGateway;
  before(async () => {
    gw = await startGateway({ limits: { publishRatePerSec: 100_000, publishBurst: 100_000 } });
  });
  after(async () => {
    await gw.close();
  });

  it('hundreds of publications in one turn reach every subscriber complete and in order', async () => {
    const total = 300;
    const a = await gw.client('a');
    const b = await gw.client('b');
    const c = await gw.client('c');
    for (const client of [a, b, c]) assert.equal((await client.request({ op: 'subscribe', room: 'burst' })).op, 'subscribed');
    // c is also in a second room, so its batches differ from a's and b's.
    assert.equal((await c.request({ op: 'subscribe', room: 'side' })).op, 'subscribed');
    const publishes: Promise<unknown>[] = [];
    for (let n = 1; n <= total; n += 1) {
      publishes.push(gw.engine.broker.publish({ room: 'burst', mid: `m${n}`, data: { n }, region: 'test-region', ts: Date.now() }));
      if (n % 10 === 0) publishes.push(gw.engine.broker.publish({ room: 'side', mid: `s${n}`, data: { n }, region: 'test-region', ts: Date.now() }));
    }
    await Promise.all(publishes);
    // A reply to a command sent once the burst is published must arrive after every message of it.
    const pong = a.request({ op: 'ping' });
    for (const client of [a, b, c]) {
      const got = await client.waitCount((f) => f.op === 'message' && f.room === 'burst', total);
      assert.deepEqual(
        got.map((m) => m.data.n),
        Array.from({ length: total }, (_, i) => i + 1),
      );
      assert.deepEqual(
        got.map((m) => m.offset),
        Array.from({ length: total }, (_, i) => got[0].offset + i),
      );
    }
    const side = await c.waitCount((f) => f.op === 'message' && f.room === 'side', total / 10);
    assert.deepEqual(
      side.map((m) => m.data.n),
      Array.from({ length: total / 10 }, (_, i) => (i + 1) * 10),
    );
    const reply = await pong;
    assert.equal(reply.op, 'pong');
    assert.ok(a.frames.indexOf(reply) > a.frames.findLastIndex((f) => f.op === 'message'), 'the pong came after the burst');
    await Promise.all([a.close(), b.close(), c.close()]);
  });
});
