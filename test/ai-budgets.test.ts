/**
 * Daily AI budgets shared by the pods of a region through one redis-server: the expected cost of
 * a request is reserved before the provider is called and settled to the reported usage after,
 * so requests in flight together on two pods cannot pass the budget by their own cost; and a
 * spend that cannot be read is not taken for a spent budget. The day's provider mix (requests and
 * spend per provider) is one tally for both pods, in /v1/ai/usage and /loadz; while the engine
 * hangs, /loadz goes on answering and the spend becomes unknown (absent), never 0.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { buildMessages } from '../gateway/ai/prompts.ts';
import { costUsd, expectedUsage } from '../gateway/ai/types.ts';
import { RedisEngine } from '../gateway/engine/redis.ts';
import { FakeAiServer, askAi } from './helpers/fake-ai.ts';
import { startGateway, type TestClient, type TestGateway } from './helpers/gateway.ts';
import { waitFor } from './helpers/net.ts';
import { skipUnless, startRedis, type RedisServer } from './helpers/services.ts';

const price = { inputUsdPer1M: 1, outputUsdPer1M: 4 };

function aiBlock(openai: FakeAiServer, extra: Record<string, unknown>) {
  return {
    userRequestsPerMinute: 600,
    userBurst: 100,
    providers: [{ name: 'openai', model: 'm', apiKey: openai.apiKey, baseUrl: openai.baseUrl, ...price }, { name: 'local' }],
    ...extra,
  };
}

async function twoPods(redis: RedisServer, ai: Record<string, unknown>): Promise<[TestGateway, TestGateway]> {
  return Promise.all([
    startGateway({ ai, node: 'pod-a' }, { engine: new RedisEngine({ url: redis.url }) }),
    startGateway({ ai, node: 'pod-b' }, { engine: new RedisEngine({ url: redis.url }) }),
  ]);
}

async function closePods(pods: readonly TestGateway[]): Promise<void> {
  await Promise.all(pods.map((pod) => pod.close()));
  await Promise.all(pods.map((pod) => pod.engine.close()));
}

const skip = skipUnless('redis-server', 'AI budgets shared by two pods');
describe('AI budgets shared by two pods on one redis-server', { skip }, () => {
  let redis: RedisServer;
  let openai: FakeAiServer;
  before(async () => {
    [redis, openai] = await Promise.all([startRedis(), FakeAiServer.start('openai')]);
  });
  after(async () => {
    await openai?.close();
    await redis?.stop();
  });

  test('spend on pod A is seen by pod B, which then falls back to local', async () => {
    await redis.restart();
    const usage = { input: 50_000, output: 5_000 };
    const cost = costUsd({ inputTokens: usage.input, outputTokens: usage.output }, price);
    openai.behave({ usage });
    const [a, b] = await twoPods(redis, aiBlock(openai, { dailyBudgetUsd: cost * 1.5 }));
    try {
      const [onA, onB] = await Promise.all([a.client('u1'), b.client('u2')]);
      assert.equal((await askAi(onA, 1, 'chat', { prompt: 'q' })).end.provider, 'openai');
      assert.equal((await askAi(onB, 1, 'chat', { prompt: 'q' })).end.provider, 'openai', 'one request in, the budget has room');
      const seenByA = (await a.apiJson('/v1/ai/usage')).body.spentUsd;
      assert.ok(Math.abs(seenByA - 2 * cost) < 1e-12, `pod A sees both pods' spend: ${seenByA}`);
      assert.equal((await askAi(onB, 2, 'chat', { prompt: 'q' })).end.provider, 'local', 'the shared budget is spent');
      assert.equal((await askAi(onA, 2, 'chat', { prompt: 'q' })).end.provider, 'local');
    } finally {
      await closePods([a, b]);
    }
  });

  test('concurrent requests on both pods near the budget edge: reservations keep the spend within the budget; the tally ends at the reported usage', async () => {
    await redis.restart();
    // What the gateway reserves for `chat {prompt: 'q'}`, and what the fake then reports: 100
    // output tokens fewer, so every settlement refunds part of its reservation.
    const estimate = expectedUsage('chat', buildMessages('chat', 'q'));
    const reservedUsd = costUsd(estimate, price);
    const reported = { input: estimate.inputTokens, output: estimate.outputTokens - 100 };
    const reportedUsd = costUsd({ inputTokens: reported.input, outputTokens: reported.output }, price);
    const budget = 3.5 * reservedUsd;
    // Answers take a moment, so the eight requests are in flight together.
    openai.behave({ usage: reported, latencyMs: 300 });
    const pods = await twoPods(redis, aiBlock(openai, { dailyBudgetUsd: budget }));
    try {
      const clients: TestClient[] = await Promise.all(Array.from({ length: 8 }, (_, i) => pods[i % 2].client(`learner-${i}`)));
      const answers = await Promise.all(clients.map((client) => askAi(client, 1, 'chat', { prompt: 'q' })));
      const paid = answers.filter((a) => a.end.provider === 'openai');
      assert.ok(answers.every((a) => a.end.op === 'ai_done' && ['openai', 'local'].includes(a.end.provider)), JSON.stringify(answers.map((a) => a.end)));
      // Without reservations all eight would have read a spend of 0 and gone to openai.
      assert.ok(paid.length >= 1 && paid.length <= 3, `${paid.length} of 8 concurrent requests were sent to the paid provider; 3 reservations fit`);
      for (const answer of paid) assert.equal(answer.end.costUsd, reportedUsd, 'charged what the provider reported');
      const spent = async (pod: TestGateway) => (await pod.apiJson('/v1/ai/usage')).body.spentUsd as number;
      assert.ok(Math.abs((await spent(pods[1])) - paid.length * reportedUsd) < 1e-12, 'the tally holds the reported usage, reservations settled');

      // One at a time, the refunds make room for more until the next reservation no longer fits.
      let total = paid.length;
      for (let id = 2; ; id++) {
        const { end } = await askAi(clients[0], id, 'chat', { prompt: 'q' });
        if (end.provider === 'local') break;
        assert.equal(end.provider, 'openai');
        total += 1;
      }
      const final = await spent(pods[0]);
      assert.ok(Math.abs(final - total * reportedUsd) < 1e-12, `tally ${final} = ${total} × ${reportedUsd}`);
      assert.ok(final <= budget, `spend ${final} within the budget ${budget}`);
      assert.ok(final > budget - reservedUsd, `spend ${final}: the budget was used up to less than one reservation`);
    } finally {
      await closePods(pods);
    }
  });

  test('the day\'s provider mix: requests and spend per provider, summed over both pods, in /v1/ai/usage and /loadz', async () => {
    await redis.restart();
    // The provider reports what the gateway reserved, so each paid request costs one reservation.
    const estimate = expectedUsage('chat', buildMessages('chat', 'q'));
    const cost = costUsd(estimate, price);
    openai.behave({ usage: { input: estimate.inputTokens, output: estimate.outputTokens } });
    // A budget for two paid requests: the third and fourth fall back to local.
    const [a, b] = await twoPods(redis, aiBlock(openai, { dailyBudgetUsd: cost * 2.5, spendCacheMs: 100, explorationShare: 0 }));
    try {
      const [onA, onB] = await Promise.all([a.client('u1'), b.client('u2')]);
      const providers = [];
      for (let id = 1; id <= 2; id++) for (const client of [onA, onB]) providers.push((await askAi(client, id, 'chat', { prompt: 'q' })).end.provider);
      assert.deepEqual(providers, ['openai', 'openai', 'local', 'local']);
      const { body } = await a.apiJson('/v1/ai/usage');
      assert.equal(body.providersToday.openai.requests, 2, JSON.stringify(body.providersToday));
      assert.ok(Math.abs(body.providersToday.openai.spentUsd - 2 * cost) < 1e-12, JSON.stringify(body.providersToday));
      assert.deepEqual(body.providersToday.local, { requests: 2, spentUsd: 0 });
      assert.equal(body.providersToday.gemini, undefined, 'a provider that answered nothing is not listed');
      // /loadz on pod B: the same mix from its cached copy of the tally (read on a /loadz call).
      const mix = await waitFor(async () => {
        const { status, body: load } = await b.apiJson('/loadz', { apiKey: null });
        assert.equal(status, 200);
        return load.ai?.providers?.local?.requests === 2 ? load.ai : undefined;
      }, { what: 'the provider mix in /loadz', timeoutMs: 10_000, intervalMs: 50 });
      assert.deepEqual(mix.providers, { openai: { requests: 2, spentUsd: Math.round(2 * cost * 1e6) / 1e6 }, local: { requests: 2, spentUsd: 0 } });
      assert.equal(mix.day, new Date().toISOString().slice(0, 10));
      // The tallies expire as the spend does: a fixed span after they are created, no later than two days.
      const { Redis } = await import('ioredis');
      const raw = new Redis(redis.url);
      try {
        const keys = (await raw.keys('*ai:*:provider:*')).map((key) => key.slice(key.indexOf('ai:'))).sort();
        assert.deepEqual(keys, [`ai:requests:${mix.day}:provider:local`, `ai:requests:${mix.day}:provider:openai`, `ai:spend:${mix.day}:provider:openai`], 'one key per provider and figure; none for a free provider\'s 0 spend');
        for (const key of keys) {
          const ttl = await raw.pttl((await raw.keys(`*${key}`))[0]);
          assert.ok(ttl > 0 && ttl <= 2 * 86_400_000, `${key} expires (${ttl} ms)`);
        }
      } finally {
        raw.disconnect();
      }
    } finally {
      await closePods([a, b]);
    }
  });

  test('redis-server hung (SIGSTOP): /loadz goes on answering; the spend becomes unknown (absent) once the copy ages, never 0; back when it resumes', async () => {
    await redis.restart();
    openai.behave({ usage: { input: 1000, output: 100 } });
    const gateway = await startGateway({ ai: aiBlock(openai, { spendCacheMs: 100, spendReadTimeoutMs: 50 }) }, { engine: new RedisEngine({ url: redis.url }) });
    const load = async () => {
      const { status, body } = await gateway.apiJson('/loadz', { apiKey: null });
      assert.equal(status, 200, '/loadz answers');
      return body;
    };
    try {
      const client = await gateway.client('u1');
      assert.equal((await askAi(client, 1, 'chat', { prompt: 'q' })).end.provider, 'openai');
      const known = await waitFor(async () => {
        const { ai } = await load();
        return ai?.spentUsd > 0 ? ai : undefined;
      }, { what: 'the spend in /loadz', timeoutMs: 10_000, intervalMs: 50 });
      redis.pause();
      const seen: unknown[] = [];
      await waitFor(async () => {
        const body = await load();
        seen.push(body.ai);
        assert.equal(typeof body.connections, 'number', 'the rest of /loadz is there');
        return body.ai === undefined ? true : undefined;
      }, { what: 'the spend unknown in /loadz', timeoutMs: 20_000, intervalMs: 50 });
      for (const ai of seen) if (ai !== undefined) assert.deepEqual(ai, known, 'until it is dropped, the last copy stands: never 0');
      redis.resume();
      const back = await waitFor(async () => (await load()).ai, { what: 'the spend known again', timeoutMs: 20_000, intervalMs: 50 });
      assert.equal(back.spentUsd, known.spentUsd, 'nothing was lost while the engine hung');
    } finally {
      redis.resume();
      await closePods([gateway]);
    }
  });

  test('a spend that cannot be read (engine down): AI_UNAVAILABLE with retryable when reject, local when configured — not BUDGET_EXCEEDED', async () => {
    await redis.restart();
    openai.behave({});
    const rejecting = await startGateway({ ai: aiBlock(openai, { onBudgetExceeded: 'reject' }) }, { engine: new RedisEngine({ url: redis.url }) });
    const falling = await startGateway({ ai: aiBlock(openai, { onBudgetExceeded: 'local' }) }, { engine: new RedisEngine({ url: redis.url }) });
    try {
      const [strict, lenient] = await Promise.all([rejecting.client('u1'), falling.client('u2')]);
      assert.equal((await askAi(strict, 1, 'chat', { prompt: 'q' })).end.provider, 'openai', 'with the engine up, the budget has room');
      const requestsBefore = openai.requests.length;
      await redis.kill();
      const refused = await askAi(strict, 2, 'chat', { prompt: 'q' });
      assert.equal(refused.end.op, 'error');
      assert.equal(refused.end.code, 'AI_UNAVAILABLE');
      assert.equal(refused.end.retryable, true);
      assert.equal((await askAi(lenient, 1, 'chat', { prompt: 'q' })).end.provider, 'local');
      assert.equal(openai.requests.length, requestsBefore, 'nothing was spent blind');
    } finally {
      await closePods([rejecting, falling]);
    }
  });
});
