/**
 * What operators and the autoscaler read: /healthz, /readyz, /metrics and /loadz.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startGateway, type TestGateway } from './helpers/gateway.ts';

function metricValue(text: string, name: string, labels = ''): number {
  const escaped = (name + labels).replace(/[{}"]/g, '\\$&');
  const match = new RegExp(`^${escaped} ([0-9.e+-]+)$`, 'm').exec(text);
  return match ? Number(match[1]) : NaN;
}

describe('gateway observability', () => {
  let gw: TestGateway;
  before(async () => {
    gw = await startGateway();
  });
  after(async () => {
    await gw.close();
  });

  it('healthz and readyz answer 200 with a healthy engine', async () => {
    assert.deepEqual((await gw.apiJson('/healthz', { apiKey: null })).body, { ok: true });
    const ready = await gw.apiJson('/readyz', { apiKey: null });
    assert.equal(ready.status, 200);
    assert.equal(ready.body.ready, true);
    assert.equal(ready.body.engine, 'ok');
  });

  it('metrics count connections, messages, bytes, errors and publish→deliver latency', async () => {
    const ada = await gw.client('ada');
    const bob = await gw.client('bob');
    await ada.request({ op: 'subscribe', room: 'obs' });
    await bob.request({ op: 'subscribe', room: 'obs' });
    await bob.request({ op: 'publish', room: 'obs', data: 'hello' });
    await ada.waitFrame((f) => f.op === 'message');
    await bob.waitFrame((f) => f.op === 'message');
    await ada.request({ op: 'teleport' });

    const res = await fetch(gw.metricsUrl);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /text\/plain/);
    const text = await res.text();
    assert.equal(metricValue(text, 'meridian_connections'), 2);
    assert.equal(metricValue(text, 'meridian_rooms'), 1);
    assert.ok(metricValue(text, 'meridian_messages_in_total') >= 6);
    assert.ok(metricValue(text, 'meridian_messages_out_total') >= 8);
    assert.ok(metricValue(text, 'meridian_bytes_in_total') > 100);
    assert.ok(metricValue(text, 'meridian_bytes_out_total') > 100);
    assert.equal(metricValue(text, 'meridian_errors_total', '{code="BAD_REQUEST"}'), 1);
    assert.equal(metricValue(text, 'meridian_publish_deliver_seconds_count'), 1);
    await Promise.all([ada.close(), bob.close()]);
  });

  it('loadz reports connections, rooms, rates, event-loop lag, RSS, queued outbound bytes and draining', async () => {
    const ada = await gw.client('ada');
    await ada.request({ op: 'subscribe', room: 'load-1' });
    const { status, body } = await gw.apiJson('/loadz', { apiKey: null });
    assert.equal(status, 200);
    assert.deepEqual(Object.keys(body).sort(), ['connections', 'draining', 'eventLoopLagMs', 'msgsInPerSec', 'msgsOutPerSec', 'outboundQueuedBytes', 'rooms', 'rssBytes']);
    assert.equal(body.connections, 1);
    assert.equal(body.outboundQueuedBytes, 0, 'a client that reads everything has nothing queued');
    assert.equal(body.rooms, 1);
    assert.equal(body.draining, false);
    assert.ok(body.rssBytes > 10_000_000);
    for (const field of ['msgsInPerSec', 'msgsOutPerSec', 'eventLoopLagMs']) {
      assert.equal(typeof body[field], 'number', field);
      assert.ok(body[field] >= 0, field);
    }
    await ada.close();
  });
});

describe('gateway with an unreachable engine', () => {
  it('readyz answers 503 and engine-bound commands answer UNAVAILABLE until the engine returns', async () => {
    const { MemoryEngine } = await import('../gateway/engine/index.ts');
    const engine = new MemoryEngine();
    const gw = await startGateway({}, { engine });
    try {
      const ada = await gw.client('ada');
      await ada.request({ op: 'subscribe', room: 'outage' });
      engine.backend.setAvailable(false);
      const ready = await gw.apiJson('/readyz', { apiKey: null });
      assert.equal(ready.status, 503);
      assert.equal(ready.body.engine, 'unavailable');
      const metricsDown = await (await fetch(gw.metricsUrl)).text();
      assert.equal(metricValue(metricsDown, 'meridian_engine_healthy'), 0);
      const failed = await ada.request({ op: 'publish', room: 'outage', data: 'lost?' });
      assert.equal(failed.code, 'UNAVAILABLE');
      assert.equal((await gw.apiJson('/v1/publish', { method: 'POST', body: JSON.stringify({ room: 'outage', data: 1 }) })).status, 503);
      assert.equal((await ada.request({ op: 'ping' })).op, 'pong');

      engine.backend.setAvailable(true);
      assert.equal((await gw.apiJson('/readyz', { apiKey: null })).status, 200);
      const metricsUp = await (await fetch(gw.metricsUrl)).text();
      assert.equal(metricValue(metricsUp, 'meridian_engine_healthy'), 1);
      const ok = await ada.request({ op: 'publish', room: 'outage', data: 'back' });
      assert.equal(ok.op, 'published');
      assert.equal(ok.offset, 1, 'the failed publish stored nothing');
      await ada.waitFrame((f) => f.op === 'message' && f.data === 'back');
    } finally {
      await gw.close();
      await engine.close();
    }
  });
});
