/**
 * Rebalancing on a real gateway: an order to shed (POST /v1/admin/shed, behind the API key, which
 * may come in X-Meridian-Api-Key because pods/proxy never forwards Authorization) closes the
 * oldest connections with 1012 at the ordered pace until the target is reached; orders outside
 * the pod's bounds are refused, and an order lapses on its own.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startGateway, testApiKey, type TestClient, type TestGateway } from './helpers/gateway.ts';
import { waitFor } from './helpers/net.ts';

let gw: TestGateway;

before(async () => {
  gw = await startGateway({ rebalance: { maxShedPerMinute: 6000, maxInstructionTtlMs: 10_000, tickMs: 50 } });
});
after(() => gw.close());

const shed = (body: unknown, headers: Record<string, string> = { 'x-meridian-api-key': testApiKey }) =>
  gw.apiJson('/v1/admin/shed', { method: 'POST', apiKey: null, headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });

test('a pod told to shed closes its oldest connections with 1012 until it holds the target', async () => {
  const clients: TestClient[] = [];
  for (let i = 0; i < 6; i++) clients.push(await gw.client(`user-${i}`));
  const reply = await shed({ targetConnections: 2, perMinute: 6000, ttlMs: 5000 });
  assert.equal(reply.status, 200, JSON.stringify(reply.body));
  assert.equal(reply.body.active, true);
  const codes = await Promise.all(clients.slice(0, 4).map((c) => c.closed));
  assert.deepEqual(codes.map((c) => c.code), [1012, 1012, 1012, 1012], 'the four oldest were closed with 1012');
  assert.match(codes[0].reason, /rebalancing/);
  await waitFor(async () => ((await gw.apiJson('/v1/admin/shed')).body.active === false ? true : undefined), { what: 'the order is done' });
  assert.equal(gw.gateway.connections.size, 2, 'the newest two stay');
  assert.ok(clients.slice(4).every((c) => c.ws.readyState === c.ws.OPEN));
});

test('the pace is the ordered one: at one a minute, one connection goes and the next waits', async () => {
  const clients: TestClient[] = [];
  for (let i = 0; i < 3; i++) clients.push(await gw.client(`slow-${i}`));
  const before = gw.gateway.connections.size;
  const shedBefore = (await gw.apiJson('/v1/admin/shed')).body.shed as number;
  // One a minute, spread evenly: the first close comes at once (a burst of one), the next a minute later.
  assert.equal((await shed({ targetConnections: 0, perMinute: 1, ttlMs: 5000 })).status, 200);
  await waitFor(() => gw.gateway.connections.size === before - 1, { what: 'one connection shed' });
  // Several ticks (50 ms each) pass: none of them may close another.
  await new Promise((resolve) => setTimeout(resolve, 400));
  const state = (await gw.apiJson('/v1/admin/shed')).body;
  assert.equal(state.active, true);
  assert.equal(state.shed - shedBefore, 1, 'exactly one closed at a pace of one a minute');
  assert.equal(gw.gateway.connections.size, before - 1);
  for (const c of clients) await c.close();
});

test('orders without the key, above the pod\'s caps or malformed are refused', async () => {
  assert.equal((await shed({ targetConnections: 0, perMinute: 1, ttlMs: 1000 }, {})).status, 401);
  assert.equal((await shed({ targetConnections: 0, perMinute: 1, ttlMs: 1000 }, { 'x-meridian-api-key': 'wrong' })).status, 401);
  const tooFast = await shed({ targetConnections: 0, perMinute: 6001, ttlMs: 1000 });
  assert.equal(tooFast.status, 400);
  assert.equal(tooFast.body.error.code, 'BAD_REQUEST');
  assert.equal((await shed({ targetConnections: 0, perMinute: 1, ttlMs: 10_001 })).status, 400);
  assert.equal((await shed({ targetConnections: -1, perMinute: 1, ttlMs: 1000 })).status, 400);
  assert.equal((await shed([1, 2])).status, 400);
});
