/**
 * A hung Redis (SIGSTOP: its sockets stay open, nothing answers) must not look healthy, and
 * must not make commands pile up: a gateway stops being ready while Redis is stalled, every
 * call fails with UNAVAILABLE within the command timeout, and a client that keeps to its rate
 * limit is never told RATE_LIMITED because the gateway's own calls were stuck.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startGateway, type Frame, type TestGateway } from './helpers/gateway.ts';
import { waitFor } from './helpers/net.ts';
import { skipUnless, startRedis, type RedisServer } from './helpers/services.ts';

const skip = skipUnless('redis-server', 'the paused-Redis scenarios');

function metricValue(text: string, name: string): number {
  const match = new RegExp(`^${name} ([0-9.e+-]+)$`, 'm').exec(text);
  return match ? Number(match[1]) : NaN;
}

describe('a paused Redis', { skip }, () => {
  let redis: RedisServer;
  let gw: TestGateway;

  before(async () => {
    redis = await startRedis();
    gw = await startGateway({ redisUrl: redis.url, redis: { commandTimeoutMs: 500, healthCheckMs: 200 } });
  });
  after(async () => {
    await gw?.close();
    await redis?.stop();
  });

  async function readyz(): Promise<{ status: number; body: Frame }> {
    return gw.apiJson('/readyz', { apiKey: null });
  }

  test('readiness and the health metric say stalled while Redis is paused, and recover when it resumes', async () => {
    assert.equal((await readyz()).status, 200);
    const ada = await gw.client('ada');
    await ada.request({ op: 'subscribe', room: 'stalled' });
    const before = await ada.request({ op: 'publish', room: 'stalled', data: 'before' });
    redis.pause();
    try {
      const stuck = await ada.request({ op: 'publish', room: 'stalled', data: 'stuck', mid: 'stuck-1' });
      assert.equal(stuck.code, 'UNAVAILABLE', 'a command without a reply fails within the command timeout');
      const down = await waitFor(async () => {
        const res = await readyz();
        return res.status === 503 ? res : undefined;
      }, { what: '/readyz 503 while Redis is paused' });
      assert.equal(down.body.engine, 'stalled');
      assert.equal(metricValue(await gw.gateway.metrics.registry.metrics(), 'meridian_engine_healthy'), 0);
      assert.deepEqual(gw.engine.health(), { healthy: false, reason: 'stalled' });
      assert.ok((gw.engine.counters?.commandTimeouts ?? 0) >= 1, 'timeouts are counted');
    } finally {
      redis.resume();
    }
    await waitFor(async () => (await readyz()).status === 200, { what: '/readyz 200 after Redis resumed' });
    assert.equal(metricValue(await gw.gateway.metrics.registry.metrics(), 'meridian_engine_healthy'), 1);
    const retried = await ada.request({ op: 'publish', room: 'stalled', data: 'stuck', mid: 'stuck-1' });
    assert.equal(retried.op, 'published');
    assert.equal(retried.epoch, before.epoch);
  });

  test('a client pacing itself under its rate limit is never RATE_LIMITED or closed across a stall', async () => {
    const { publishRatePerSec, maxPendingCommands } = gw.config.limits;
    const pacer = await gw.client('pacer');
    // 80 % of the rate: over the stall this sends more commands than may be in flight at once.
    const intervalMs = Math.ceil(1000 / (publishRatePerSec * 0.8));
    const stallMs = Math.ceil(((maxPendingCommands * 2) / (publishRatePerSec * 0.8)) * 1000);
    let sent = 0;
    const send = () => pacer.send({ id: ++sent, op: 'publish', room: 'paced', data: sent });
    const timer = setInterval(send, intervalMs);
    try {
      await waitFor(() => sent >= 10, { what: 'traffic before the stall' });
      redis.pause();
      const pausedAt = sent;
      try {
        await waitFor(() => sent >= pausedAt + maxPendingCommands * 2, { what: 'more commands than may be in flight', timeoutMs: stallMs * 3 });
      } finally {
        redis.resume();
      }
      const resumedAt = sent;
      await waitFor(() => pacer.frames.some((f) => f.op === 'published' && f.id > resumedAt), { what: 'a publish after Redis resumed' });
    } finally {
      clearInterval(timer);
    }
    const replies = () => pacer.frames.filter((f) => f.op === 'published' || f.op === 'error');
    await waitFor(() => replies().length === sent, { what: 'a reply to every publish' });
    const codes = new Set(replies().filter((f) => f.op === 'error').map((f) => f.code));
    assert.deepEqual([...codes], ['UNAVAILABLE'], 'the only failure is the retryable one');
    assert.equal(pacer.ws.readyState, pacer.ws.OPEN, 'the client was not closed for violations');
  });
});
