/**
 * Per-connection and per-node limits: a slow consumer is closed with 4008 while a fast one in
 * the same room receives everything; connection limits close with 4009 (connected users only).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { waitFor } from './helpers/net.ts';
import { startGateway, TestClient, type TestGateway } from './helpers/gateway.ts';

async function disconnects(gw: TestGateway, code: number): Promise<number> {
  const text = await (await fetch(gw.metricsUrl)).text();
  const match = new RegExp(`^meridian_disconnects_total\\{code="${code}"\\} (\\d+)`, 'm').exec(text);
  return match ? Number(match[1]) : 0;
}

describe('gateway limits', () => {
  let gw: TestGateway;
  before(async () => {
    gw = await startGateway({
      limits: { outboundQueueBytes: 64 * 1024, publishRatePerSec: 100_000, publishBurst: 100_000, maxConnections: 12, connectionsPerUser: 3 },
    });
  });
  after(async () => {
    await gw.close();
  });

  it('a slow consumer is closed with 4008 while a fast one in the same room keeps receiving', async () => {
    const slow = await gw.client('slow');
    const fast = await gw.client('fast');
    const publisher = await gw.client('teacher');
    await slow.request({ op: 'subscribe', room: 'firehose' });
    await fast.request({ op: 'subscribe', room: 'firehose' });
    slow.pause();

    const chunk = 'x'.repeat(16 * 1024);
    let sent = 0;
    // Publish until the gateway gives up on the slow client (the kernel's socket buffers take
    // a few MB first); each publish is acknowledged before the next, so this is not a flood.
    while ((await disconnects(gw, 4008)) === 0) {
      for (let i = 0; i < 20; i += 1) {
        sent += 1;
        const ack = await publisher.request({ op: 'publish', room: 'firehose', data: { n: sent, chunk } });
        assert.equal(ack.op, 'published');
      }
      assert.ok(sent < 5000, 'the slow consumer should have been closed by now');
    }
    const received = await fast.waitCount((f) => f.op === 'message' && f.room === 'firehose', sent, 60_000);
    assert.deepEqual(
      received.map((m) => m.data.n),
      Array.from({ length: sent }, (_, i) => i + 1),
    );

    slow.resume();
    const { code } = await slow.closed;
    assert.equal(code, 4008);
    const slowGot = slow.messages('firehose').length;
    assert.ok(slowGot < sent, `the slow client got ${slowGot} of ${sent} before the close`);
    await Promise.all([fast.close(), publisher.close()]);
  });

  it('a user past limits.connectionsPerUser is closed with 4009; others still connect', async () => {
    const first = await Promise.all([gw.client('busy'), gw.client('busy'), gw.client('busy')]);
    const extra = await TestClient.open(gw.wsUrl);
    extra.send({ op: 'connect', token: await gw.token('busy') });
    assert.equal((await extra.closed).code, 4009);
    const other = await gw.client('calm');
    assert.equal((await other.request({ op: 'ping' })).op, 'pong');
    await first[0].close();
    // A slot is free again once the close is processed.
    await waitFor(async () => {
      const retry = await TestClient.open(gw.wsUrl);
      const reply = await retry.request({ op: 'connect', token: await gw.token('busy') }).catch(() => undefined);
      if (reply?.op === 'connected') return retry;
      await retry.closed;
      return undefined;
    }, { what: 'a free per-user slot' }).then((c) => c.close());
    await Promise.all([...first.slice(1), other].map((c) => c.close()));
  });

  it('a node past limits.maxConnections closes a connecting user with 4009; sockets without connect do not count', async () => {
    await waitFor(() => gw.gateway.connections.size === 0, { what: 'previous clients gone' });
    // As many sockets that never connect as the node has room for users: they take no user's place.
    const anonymous = await Promise.all(Array.from({ length: 12 }, () => TestClient.open(gw.wsUrl)));
    const held: TestClient[] = [];
    for (let i = 0; i < 12; i += 1) held.push(await gw.client(`member-${i}`));
    const extra = await TestClient.open(gw.wsUrl);
    extra.send({ op: 'connect', token: await gw.token('one-too-many') });
    assert.equal((await extra.closed).code, 4009);
    assert.equal((await fetch(`${gw.httpUrl}/healthz`)).status, 200);
    await Promise.all([...held, ...anonymous].map((c) => c.close()));
  });
});

describe('gateway liveness pings', () => {
  it('terminates a client that stops answering pings and keeps one that answers', async () => {
    const gw = await startGateway({ pingIntervalMs: 150 });
    try {
      const token = await gw.token('pinged');
      const silent = await TestClient.open(gw.wsUrl, { autoPong: false });
      await silent.request({ op: 'connect', token });
      const lively = await TestClient.connected(gw.wsUrl, token);
      let pings = 0;
      lively.ws.on('ping', () => (pings += 1));
      const { code } = await silent.closed;
      assert.equal(code, 1006, 'terminated without a close frame');
      await waitFor(() => pings >= 3, { what: 'three pings answered' });
      assert.equal((await lively.request({ op: 'ping' })).op, 'pong');
      await lively.close();
    } finally {
      await gw.close();
    }
  });
});
