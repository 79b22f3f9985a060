/**
 * Graceful drain of a real `meridian gateway` process on SIGTERM: /readyz turns 503, new
 * upgrades are refused, clients are closed with 1012, and the process exits 0 once they are
 * gone.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { waitFor } from './helpers/net.ts';
import { signToken, spawnGateway, TestClient } from './helpers/gateway.ts';

describe('gateway drain', () => {
  it('SIGTERM turns readyz 503, refuses new sockets, closes clients with 1012 and exits 0', async () => {
    const gw = await spawnGateway({ drain: { windowMs: 500, batchSize: 1, deadlineMs: 60_000 } });
    try {
      assert.equal((await fetch(`${gw.httpUrl}/readyz`)).status, 200);
      const token = await signToken('student');
      const lively = await TestClient.connected(gw.wsUrl, token);
      // A client that stops reading cannot complete the close handshake, so the drain stays
      // in progress (until the deadline) while we look at the gateway.
      const stuck = await TestClient.connected(gw.wsUrl, token);
      await stuck.request({ op: 'subscribe', room: 'lobby' });
      stuck.pause();

      gw.signal('SIGTERM');
      const ready = await waitFor(async () => {
        const res = await fetch(`${gw.httpUrl}/readyz`);
        return res.status === 503 ? ((await res.json()) as { draining: boolean }) : undefined;
      }, { what: 'readyz 503' });
      assert.equal(ready.draining, true);
      const load = (await (await fetch(`${gw.httpUrl}/loadz`)).json()) as { draining: boolean };
      assert.equal(load.draining, true);
      await assert.rejects(TestClient.open(gw.wsUrl), /HTTP 503/);

      assert.equal((await lively.closed).code, 1012);
      stuck.resume();
      assert.equal((await stuck.closed).code, 1012);
      const exit = await gw.exited;
      assert.equal(exit.code, 0);
      assert.match(gw.output().stdout, /"msg":"drained"/);
    } finally {
      await gw.stop();
    }
  });

  it('a client that never completes the close is cut at drain.deadlineMs', async () => {
    const gw = await spawnGateway({ drain: { windowMs: 0, batchSize: 10, deadlineMs: 1000 } });
    try {
      const stuck = await TestClient.connected(gw.wsUrl, await signToken('frozen'));
      stuck.pause();
      gw.signal('SIGTERM');
      assert.equal((await gw.exited).code, 0);
      assert.match(gw.output().stdout, /drain deadline passed/);
      stuck.resume();
      await stuck.closed;
    } finally {
      await gw.stop();
    }
  });

  it('with no clients the process exits at once', async () => {
    const gw = await spawnGateway({});
    try {
      gw.signal('SIGTERM');
      assert.equal((await gw.exited).code, 0);
    } finally {
      await gw.stop();
    }
  });
});
