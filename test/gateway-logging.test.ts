/**
 * Logs are pino JSON and never carry tokens, API keys or message bodies, even at trace level
 * and even when a client sends garbage that quotes them.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { signToken, spawnGateway, testApiKey, TestClient } from './helpers/gateway.ts';

describe('gateway logging', () => {
  it('logs JSON lines with connection context and no secrets or bodies', async () => {
    const gw = await spawnGateway({ logLevel: 'trace' });
    try {
      const marker = 'BODY-MARKER-7f3a';
      const token = await signToken('logged-user');
      const client = await TestClient.connected(gw.wsUrl, token);
      await client.request({ op: 'subscribe', room: 'diary' });
      await client.request({ op: 'publish', room: 'diary', data: { secret: marker } });
      await client.waitFrame((f) => f.op === 'message');
      client.send(`{"op":"publish","data":"${marker}"`); // malformed, quoting the body
      await client.waitFrame((f) => f.op === 'error');
      const res = await fetch(`${gw.httpUrl}/v1/publish`, {
        method: 'POST',
        headers: { authorization: `Bearer ${testApiKey}` },
        body: JSON.stringify({ room: 'diary', data: marker }),
      });
      assert.equal(res.status, 200);
      const badKey = await fetch(`${gw.httpUrl}/v1/publish`, { method: 'POST', headers: { authorization: 'Bearer guessed-key-123' }, body: '{}' });
      assert.equal(badKey.status, 401);
      await client.close();
      gw.signal('SIGTERM');
      await gw.exited;

      const { stdout } = gw.output();
      const lines = stdout.trim().split('\n');
      assert.ok(lines.length >= 3);
      for (const line of lines) JSON.parse(line); // every line is JSON
      assert.ok(lines.some((l) => l.includes('"user":"logged-user"') && l.includes('"client":"c')), 'connection context in logs');
      for (const secret of [token, marker, testApiKey, 'guessed-key-123']) {
        assert.equal(stdout.includes(secret), false, `logs contain ${secret.slice(0, 12)}…`);
      }
    } finally {
      await gw.stop();
    }
  });
});
