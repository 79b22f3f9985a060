/**
 * Reconnect targets on a real gateway: the operator names, behind the API key, where a draining
 * pod's clients should go (POST /v1/admin/reconnect-targets); on drain every client gets a
 * `reconnect` push naming them, then its 1012 close. Lists that are too long, not WebSocket
 * URLs, or sent without the key are refused.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startGateway, testApiKey, type TestGateway } from './helpers/gateway.ts';

let gw: TestGateway;

before(async () => {
  gw = await startGateway({ drain: { windowMs: 200, batchSize: 1, deadlineMs: 5000, maxReconnectEndpoints: 2 } });
});
after(() => gw.close());

const targets = (body: unknown, headers: Record<string, string> = { 'x-meridian-api-key': testApiKey }) =>
  gw.apiJson('/v1/admin/reconnect-targets', { method: 'POST', apiKey: null, headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });

test('orders without the key, with too many endpoints or with URLs that are not WebSocket URLs are refused, and the targets stay as they were', async () => {
  assert.equal((await targets({ endpoints: ['wss://a.example.test/v1/ws'] }, {})).status, 401);
  for (const body of [{ endpoints: ['wss://a.example.test', 'wss://b.example.test', 'wss://c.example.test'] }, { endpoints: ['https://a.example.test'] }, { endpoints: 'wss://a.example.test' }, [], { endpoints: [42] }]) {
    const reply = await targets(body);
    assert.equal(reply.status, 400, JSON.stringify(body));
    assert.equal(reply.body.error.code, 'BAD_REQUEST');
  }
  assert.deepEqual((await gw.apiJson('/v1/admin/reconnect-targets')).body, { endpoints: [] });
});

test('on drain each client gets a reconnect push naming the targets in order, then its 1012 close', async () => {
  const clients = await Promise.all([0, 1, 2].map((i) => gw.client(`drained-${i}`)));
  const pushes = clients.map((c) => {
    const seen: unknown[] = [];
    c.ws.on('message', (data) => {
      const frame = JSON.parse(data.toString());
      if (frame.op === 'reconnect') seen.push(frame);
    });
    return seen;
  });
  const endpoints = ['wss://eu.example.test/v1/ws', 'wss://us.example.test/v1/ws'];
  const reply = await targets({ endpoints });
  assert.equal(reply.status, 200, JSON.stringify(reply.body));
  assert.deepEqual(reply.body, { endpoints });
  await gw.gateway.drain();
  const closes = await Promise.all(clients.map((c) => c.closed));
  assert.deepEqual(closes.map((c) => c.code), [1012, 1012, 1012]);
  assert.deepEqual(pushes, clients.map(() => [{ op: 'reconnect', endpoints }]));
});
