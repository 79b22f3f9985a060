/**
 * Connection deadlines, liveness pings and presence refreshes run on timers shared by every
 * connection (deadline-wheel.ts, spread-round.ts), not one per connection: these scenarios
 * check that each still reaches every connection, one by one, among many.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { startGateway, TestClient } from './helpers/gateway.ts';
import { waitFor } from './helpers/net.ts';

describe('connection deadlines on the shared wheel', () => {
  it('sockets that never send connect close with 4003 while those that connected stay', async () => {
    const gw = await startGateway({ limits: { connectTimeoutMs: 300 } });
    try {
      const silent = await Promise.all(Array.from({ length: 12 }, () => TestClient.open(gw.wsUrl)));
      const connected = await Promise.all(Array.from({ length: 6 }, (_, i) => gw.client(`punctual-${i}`)));
      const codes = await Promise.all(silent.map(async (c) => (await c.closed).code));
      assert.deepEqual(codes, silent.map(() => 4003));
      for (const client of connected) assert.equal((await client.request({ op: 'ping' })).op, 'pong', 'a connected socket outlives the connect deadline');
    } finally {
      await gw.close();
    }
  });

  it('each token expiry closes its own connection with 4001, and only that one', async () => {
    const gw = await startGateway();
    try {
      const brief = await Promise.all(Array.from({ length: 5 }, (_, i) => gw.client(`brief-${i}`, { expiresInSec: 2 })));
      const lasting = await Promise.all(Array.from({ length: 5 }, (_, i) => gw.client(`lasting-${i}`)));
      for (const client of brief) {
        const { code, reason } = await client.closed;
        assert.equal(code, 4001);
        assert.match(reason, /token expired/);
      }
      for (const client of lasting) assert.equal((await client.request({ op: 'ping' })).op, 'pong');
    } finally {
      await gw.close();
    }
  });
});

describe('liveness pings spread over the interval', () => {
  it('a peer that stops answering is terminated while every other is pinged each interval', async () => {
    // 2 s between pings with a 50 ms tick: each tick pings a fortieth of the connections (a
    // share below one carries over to the next tick).
    const gw = await startGateway({ pingIntervalMs: 2000 });
    try {
      const dead = await TestClient.open(gw.wsUrl, { autoPong: false });
      await dead.request({ op: 'connect', token: await gw.token('dead') });
      const lively = await Promise.all(Array.from({ length: 9 }, (_, i) => gw.client(`lively-${i}`)));
      const pings = lively.map(() => 0);
      lively.forEach((client, i) => client.ws.on('ping', () => (pings[i] += 1)));
      const { code } = await dead.closed;
      assert.equal(code, 1006, 'terminated without a close frame');
      // The dead peer was found on its second visit: every lively one has had a ping meanwhile.
      await Promise.all(lively.map((client, i) => new Promise<void>((resolve) => (pings[i] >= 2 ? resolve() : client.ws.on('ping', () => pings[i] >= 2 && resolve())))));
      for (const client of lively) assert.equal((await client.request({ op: 'ping' })).op, 'pong');
    } finally {
      await gw.close();
    }
  });
});

describe('presence refreshes spread over the interval', () => {
  it('every live member outlives presence.ttlMs while an entry nobody refreshes expires', async () => {
    // refreshMs above the 50 ms tick: each tick refreshes a share of the connections.
    const gw = await startGateway({ presence: { ttlMs: 3000, refreshMs: 2000 } });
    try {
      const members = await Promise.all(Array.from({ length: 8 }, (_, i) => gw.client(`member-${i}`)));
      for (const client of members) await client.request({ op: 'subscribe', room: 'study-hall' });
      // Added after every member's own entry, never refreshed: when it is gone, theirs would be too.
      await gw.engine.presence.add('study-hall', { user: 'ghost', client: 'c-ghost', region: 'elsewhere' });
      const users = async () => ((await members[0].request({ op: 'presence', room: 'study-hall' })).members as Array<{ user: string }>).map((m) => m.user).sort();
      assert.ok((await users()).includes('ghost'));
      let listed: string[] = [];
      await waitFor(async () => !(listed = await users()).includes('ghost'), { what: 'the ghost entry to expire', timeoutMs: 20_000 });
      assert.deepEqual(listed, members.map((_, i) => `member-${i}`).sort(), 'every refreshed member is still listed');
    } finally {
      await gw.close();
    }
  });
});
