/**
 * The gateway's one reach into ws's internals (gateway/ws-internals.ts): the installed ws is a
 * version the adapter was checked against, the start-up check passes on it, and when the check
 * fails (an unexpected socket object) the gateway warns and still delivers everything through
 * the public `ws.send`. Each gateway owns its write scheduler, so gateways in one process can
 * even write in different modes at once.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import type { WebSocket } from 'ws';
import { checkedWsVersions, checkRawWrites } from '../gateway/ws-internals.ts';
import { capturingLogger, startGateway, type Frame, type TestClient, type TestGateway } from './helpers/gateway.ts';

/** -1, 0 or 1 as dotted numeric version `a` is below, equal to or above `b`. */
function compareVersions(a: string, b: string): number {
  const left = a.split('.').map(Number);
  const right = b.split('.').map(Number);
  for (let i = 0; i < Math.max(left.length, right.length); i++) {
    const diff = (left[i] ?? 0) - (right[i] ?? 0);
    if (diff !== 0) return Math.sign(diff);
  }
  return 0;
}

/** A server-side socket ws did not make: none of the privates the adapter reads. */
const unexpectedSocket = () => ({ extensions: '', readyState: 1 }) as unknown as WebSocket;

/** Counts `ws.send` calls on every server-side socket of `gw` (the public write path). */
function countPublicSends(gw: TestGateway): () => number {
  let sends = 0;
  for (const conn of gw.gateway.connections) {
    const ws = conn.ws;
    const send = ws.send.bind(ws) as (...args: unknown[]) => void;
    (ws as unknown as { send: (...args: unknown[]) => void }).send = (...args: unknown[]) => {
      sends += 1;
      send(...args);
    };
  }
  return () => sends;
}

async function burst(gw: TestGateway, room: string, count: number): Promise<void> {
  const publishes: Promise<unknown>[] = [];
  for (let n = 1; n <= count; n += 1) publishes.push(gw.engine.broker.publish({ room, mid: `${room}-${n}`, data: { n }, region: 'test-region', ts: Date.now() }));
  await Promise.all(publishes);
}

async function assertInOrder(client: TestClient, room: string, count: number): Promise<void> {
  const got = await client.waitCount((f: Frame) => f.op === 'message' && f.room === room, count);
  assert.deepEqual(
    got.map((m) => m.data.n),
    Array.from({ length: count }, (_, i) => i + 1),
  );
}

describe('ws internals adapter', () => {
  it('the installed ws is within the version range the adapter was checked against', () => {
    const { version } = JSON.parse(readFileSync(new URL('../node_modules/ws/package.json', import.meta.url), 'utf8')) as { version: string };
    const { atLeast, below } = checkedWsVersions;
    assert.ok(
      compareVersions(version, atLeast) >= 0 && compareVersions(version, below) < 0,
      `ws ${version} is outside ${atLeast} ≤ v < ${below}: re-read gateway/ws-internals.ts against it, then move checkedWsVersions`,
    );
  });

  it('the start-up check finds every assumption true on the installed ws', () => {
    assert.deepEqual(checkRawWrites(), []);
  });

  it('the check names what is missing on an unexpected socket object, and a handshake that never completes', () => {
    assert.deepEqual(checkRawWrites(unexpectedSocket), ['_socket is missing']);
    assert.deepEqual(checkRawWrites(() => undefined), ['the handshake did not complete']);
    const notWritable = () => ({ extensions: '', _socket: { write: () => true } }) as unknown as WebSocket;
    assert.ok(checkRawWrites(notWritable).includes('_socket lacks write, cork or uncork'));
  });
});

describe('gateways in one process, one with the ws.send fallback', () => {
  let fallback: TestGateway;
  let raw: TestGateway;
  const captured = capturingLogger('warn');

  before(async () => {
    // No join/leave pushes: the sends counted are the burst's and the pong's alone.
    const config = { limits: { publishRatePerSec: 100_000, publishBurst: 100_000 }, presence: { joinLeaveMaxMembers: 0 } };
    fallback = await startGateway(config, { logger: captured.logger, checkWsInternals: () => checkRawWrites(unexpectedSocket) });
    raw = await startGateway(config);
  });
  after(async () => {
    await fallback.close();
    await raw.close();
  });

  it('the gateway whose check failed logs one warning naming what did not hold', () => {
    const warnings = captured.lines.filter((line) => /ws internals are not as checked/.test(line.msg));
    assert.equal(warnings.length, 1);
    assert.deepEqual(warnings[0].problems, ['_socket is missing']);
    assert.deepEqual(warnings[0].checkedWsVersions, checkedWsVersions);
  });

  it('both deliver a burst published in the same turn, complete and in order; only the fallback uses ws.send', async () => {
    const total = 200;
    const clients = { fallback: [await fallback.client('a'), await fallback.client('b')], raw: [await raw.client('a'), await raw.client('b')] };
    for (const client of [...clients.fallback, ...clients.raw]) assert.equal((await client.request({ op: 'subscribe', room: 'burst' })).op, 'subscribed');
    const fallbackSends = countPublicSends(fallback);
    const rawSends = countPublicSends(raw);
    await Promise.all([burst(fallback, 'burst', total), burst(raw, 'burst', total)]);
    for (const client of [...clients.fallback, ...clients.raw]) await assertInOrder(client, 'burst', total);
    // Replies take the same path as pushes: a ping after the burst arrives after it.
    const pong = await clients.fallback[0].request({ op: 'ping' });
    assert.ok(clients.fallback[0].frames.indexOf(pong) > clients.fallback[0].frames.findLastIndex((f) => f.op === 'message'));
    assert.equal(fallbackSends(), 2 * total + 1, 'every push and the pong went through ws.send');
    assert.equal(rawSends(), 0, 'the raw gateway wrote frames to the socket itself');
    await Promise.all([...clients.fallback, ...clients.raw].map((c) => c.close()));
  });
});
