/**
 * AI over the socket, end to end: a real gateway, real WebSocket clients, and fake OpenAI and
 * Gemini servers on loopback speaking the real wire formats.
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { pino } from 'pino';
import { offlineChatReply } from '../gateway/ai/providers/local.ts';
import { askAi, fakeAiBlock, fakeProvidersPerSuite } from './helpers/fake-ai.ts';
import { startGateway, type TestGateway } from './helpers/gateway.ts';
import { waitFor } from './helpers/net.ts';

/** pino lines captured from the gateway. */
function captureLogs(): { logger: pino.Logger; lines: Array<Record<string, any>> } {
  const lines: Array<Record<string, any>> = [];
  const sink = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(line));
      done();
    },
  });
  return { logger: pino({ level: 'info' }, sink), lines };
}

describe('AI routing through the gateway', () => {
  const ai = fakeProvidersPerSuite();
  let nextId = 1;

  test('the cheapest provider within the SLO answers; deltas stream, ai_done reports the usage and its cost', async () => {
    const gw = await startGateway({ ai: fakeAiBlock(ai.openai, ai.gemini) });
    try {
      ai.openai.behave({ reply: 'Photosynthesis turns light into sugar.', usage: { input: 1200, output: 345 } });
      const client = await gw.client('u1');
      const { deltas, end } = await askAi(client, nextId++, 'chat', { prompt: 'What is photosynthesis?' });
      assert.equal(end.op, 'ai_done', JSON.stringify(end));
      assert.equal(end.provider, 'openai');
      assert.equal(end.model, 'gpt-test');
      assert.ok(deltas.length >= 3, 'streamed in several deltas');
      assert.equal(deltas.join(''), 'Photosynthesis turns light into sugar.');
      assert.deepEqual(end.tokens, { input: 1200, output: 345 });
      assert.equal(end.costUsd, (1200 * 0.15 + 345 * 0.6) / 1e6);
      assert.equal(typeof end.ttftMs, 'number');
      const usage = await gw.apiJson('/v1/ai/usage?user=u1');
      assert.equal(usage.body.spentUsd, end.costUsd, 'the budget is charged what the stream reported');
      assert.equal(usage.body.user.spentUsd, end.costUsd);
    } finally {
      await gw.close();
    }
  });

  test('an SLO breach shifts traffic to the next provider; it comes back once the slow samples age out', async () => {
    const gw = await startGateway({ ai: fakeAiBlock(ai.openai, ai.gemini, { latencySloMs: 200, statsWindowMs: 1500, statsSamples: 5 }) });
    try {
      const client = await gw.client('u1');
      ai.openai.behave({ latencyMs: 400 });
      assert.equal((await askAi(client, nextId++, 'chat', { prompt: 'q' })).end.provider, 'openai');
      const shifted = await askAi(client, nextId++, 'chat', { prompt: 'q' });
      assert.equal(shifted.end.provider, 'gemini', 'openai p95 TTFT is over the SLO');
      ai.openai.behave({});
      await waitFor(async () => (await askAi(client, nextId++, 'chat', { prompt: 'q' })).end.provider === 'openai', { timeoutMs: 10_000, intervalMs: 200, what: 'openai to be chosen again' });
    } finally {
      await gw.close();
    }
  });

  test('a provider down: the request falls back before the first token and does not fail', async () => {
    const gw = await startGateway({ ai: fakeAiBlock(ai.openai, ai.gemini) });
    try {
      const client = await gw.client('u1');
      ai.openai.behave({ failStatus: 500 });
      const { end, deltas } = await askAi(client, nextId++, 'chat', { prompt: 'q' });
      assert.equal(end.op, 'ai_done');
      assert.equal(end.provider, 'gemini');
      assert.deepEqual(end.fallbacks, [{ provider: 'openai', reason: 'http 500' }]);
      assert.equal(deltas.join(''), 'Hello from gemini. This answer arrives in several chunks.');
      ai.openai.behave({ failStatus: 429 });
      assert.equal((await askAi(client, nextId++, 'sentiment', { text: 'great' })).end.provider, 'gemini');
    } finally {
      await gw.close();
    }
  });

  test('both remote providers down: the local provider answers', async () => {
    const gw = await startGateway({ ai: fakeAiBlock(ai.openai, ai.gemini) });
    try {
      const client = await gw.client('u1');
      ai.openai.behave({ failStatus: 500 });
      ai.gemini.behave({ failStatus: 503 });
      const chat = await askAi(client, nextId++, 'chat', { prompt: 'q' });
      assert.equal(chat.end.provider, 'local');
      assert.equal(chat.deltas.join(''), offlineChatReply);
      const mood = await askAi(client, nextId++, 'sentiment', { text: 'I love this, it is wonderful' });
      assert.equal(mood.end.provider, 'local');
      assert.equal(mood.end.result.label, 'positive');
    } finally {
      await gw.close();
    }
  });

  for (const api of ['chat', 'responses'] as const) {
    test(`a stream cut mid-answer (openai ${api}) ends with an error frame saying a retry may help`, async () => {
      const gw = await startGateway({ ai: fakeAiBlock(ai.openai, ai.gemini, {}, api) });
      try {
        const client = await gw.client('u1');
        ai.openai.behave({ reply: 'one two three four five six', cutAfterChunks: 2, chunkDelayMs: 20 });
        const { deltas, end } = await askAi(client, nextId++, 'chat', { prompt: 'q' });
        assert.deepEqual(deltas, ['one ', 'two ']);
        assert.equal(end.op, 'error');
        assert.equal(end.code, 'AI_STREAM_FAILED');
        assert.equal(end.retryable, true);
      } finally {
        await gw.close();
      }
    });
  }

  test('a slow short task is hedged to the next provider; the first answer wins and the loser is aborted upstream', async () => {
    const gw = await startGateway({ ai: fakeAiBlock(ai.openai, ai.gemini, { hedgeDelayMs: 100, hedgeMaxShare: 1 }) });
    try {
      const client = await gw.client('u1');
      ai.openai.behave({ hang: true });
      ai.gemini.behave({ reply: '{"score": 0.9}' });
      const closedBefore = ai.openai.clientClosed;
      const { end } = await askAi(client, nextId++, 'sentiment', { text: 'great class' });
      assert.equal(end.provider, 'gemini');
      assert.deepEqual(end.result, { score: 0.9, label: 'positive' });
      await ai.openai.waitClientClosed(closedBefore + 1);
      const metrics = await (await fetch(gw.metricsUrl)).text();
      assert.match(metrics, /meridian_ai_hedges_total 1/);
    } finally {
      await gw.close();
    }
  });

  test('the budget spent: local when configured, BUDGET_EXCEEDED when reject', async () => {
    const usage = { input: 100_000, output: 10_000 };
    const cost = (usage.input * 0.15 + usage.output * 0.6) / 1e6;
    for (const onBudgetExceeded of ['local', 'reject'] as const) {
      const gw = await startGateway({ ai: fakeAiBlock(ai.openai, ai.gemini, { dailyBudgetUsd: cost, onBudgetExceeded }) });
      try {
        ai.openai.behave({ usage });
        const client = await gw.client('u1');
        const first = await askAi(client, nextId++, 'chat', { prompt: 'q' });
        assert.equal(first.end.provider, 'openai');
        assert.equal(first.end.costUsd, cost);
        assert.equal((await gw.apiJson('/v1/ai/usage')).body.spentUsd, cost);
        const second = await askAi(client, nextId++, 'chat', { prompt: 'q' });
        if (onBudgetExceeded === 'local') assert.equal(second.end.provider, 'local');
        else assert.equal(second.end.code, 'BUDGET_EXCEEDED');
      } finally {
        await gw.close();
      }
    }
  });

  test('a per-user budget stops one user and not another', async () => {
    // One answer's reported usage costs 0.021 USD: past the user's budget, though its estimate fitted.
    const gw = await startGateway({ ai: fakeAiBlock(ai.openai, ai.gemini, { userDailyBudgetUsd: 0.02 }) });
    try {
      ai.openai.behave({ usage: { input: 100_000, output: 10_000 } });
      const [a, b] = await Promise.all([gw.client('heavy'), gw.client('light')]);
      assert.equal((await askAi(a, nextId++, 'chat', { prompt: 'q' })).end.provider, 'openai');
      assert.equal((await askAi(a, nextId++, 'chat', { prompt: 'q' })).end.provider, 'local');
      assert.equal((await askAi(b, nextId++, 'chat', { prompt: 'q' })).end.provider, 'openai');
    } finally {
      await gw.close();
    }
  });

  test('ai_cancel and a disconnect abort the upstream request (the fake server sees the connection close)', async () => {
    const gw = await startGateway({ ai: fakeAiBlock(ai.openai, ai.gemini) });
    try {
      ai.openai.behave({ reply: 'a b c d e f g h', chunkDelayMs: 5_000 });
      const client = await gw.client('u1');
      const id = nextId++;
      const closedBefore = ai.openai.clientClosed;
      client.send({ id, op: 'ai', task: 'chat', input: { prompt: 'q' } });
      await client.waitFrame((f) => f.id === id && f.op === 'ai_delta');
      client.send({ id, op: 'ai_cancel' });
      const end = await client.waitFrame((f) => f.id === id && f.op === 'error');
      assert.equal(end.code, 'CANCELLED');
      await ai.openai.waitClientClosed(closedBefore + 1);
      client.send({ op: 'ai_cancel', id: 999 });
      const unknown = await client.waitFrame((f) => f.id === 999);
      assert.equal(unknown.code, 'NOTHING_TO_CANCEL');

      const leaving = await gw.client('u2');
      const leavingId = nextId++;
      leaving.send({ id: leavingId, op: 'ai', task: 'chat', input: { prompt: 'q' } });
      await leaving.waitFrame((f) => f.id === leavingId && f.op === 'ai_delta');
      await leaving.close();
      await ai.openai.waitClientClosed(closedBefore + 2);
    } finally {
      await gw.close();
    }
  });

  test('per-user rate limit and per-connection concurrency answer with their codes', async () => {
    const gw = await startGateway({ ai: fakeAiBlock(ai.openai, ai.gemini, { userRequestsPerMinute: 1, userBurst: 2, maxConcurrentPerConnection: 1 }) });
    try {
      const client = await gw.client('u1');
      ai.openai.behave({ latencyMs: 300 });
      client.send({ id: 1, op: 'ai', task: 'chat', input: { prompt: 'q' } });
      const busy = await client.request({ op: 'ai', task: 'chat', input: { prompt: 'q' } });
      assert.equal(busy.code, 'LIMIT_EXCEEDED');
      await client.waitFrame((f) => f.id === 1 && f.op === 'ai_done');
      const other = await gw.client('u1');
      assert.equal((await askAi(other, 50, 'sentiment', { text: 'fine' })).end.op, 'ai_done', 'the second of a burst of two');
      assert.equal((await askAi(other, 51, 'sentiment', { text: 'fine' })).end.code, 'AI_RATE_LIMITED');
      assert.equal((await askAi(await gw.client('u2'), 52, 'sentiment', { text: 'fine' })).end.op, 'ai_done');
    } finally {
      await gw.close();
    }
  });

  test('bad input names the field; a room the token does not allow is FORBIDDEN', async () => {
    const gw = await startGateway({ ai: fakeAiBlock(ai.openai, ai.gemini) });
    try {
      const client = await gw.client('u1', { rooms: ['math-*'] });
      assert.equal((await client.request({ op: 'ai', task: 'poem', input: {} })).code, 'BAD_REQUEST');
      assert.match((await client.request({ op: 'ai', task: 'chat', input: { prompt: '' } })).message, /input.prompt/);
      assert.equal((await client.request({ op: 'ai', task: 'summarize', input: { room: 'art-1' } })).code, 'FORBIDDEN');
    } finally {
      await gw.close();
    }
  });

  test('one log line per routing decision with its reason, and never the prompt or the answer', async () => {
    const { logger, lines } = captureLogs();
    const gw = await startGateway({ ai: fakeAiBlock(ai.openai, ai.gemini) }, { logger });
    try {
      const client = await gw.client('u1');
      ai.openai.behave({ failStatus: 500, reply: 'SECRET-ANSWER-TEXT' });
      ai.gemini.behave({ reply: 'SECRET-ANSWER-TEXT' });
      await askAi(client, nextId++, 'chat', { prompt: 'SECRET-PROMPT-TEXT' });
      await askAi(client, nextId++, 'sentiment', { text: 'SECRET-PROMPT-TEXT' });
      const decisions = lines.filter((l) => l.msg === 'ai route');
      assert.equal(decisions.length, 2);
      assert.deepEqual(decisions.map((d) => [d.task, d.provider, d.reason]), [
        ['chat', 'openai', 'strategy'],
        ['sentiment', 'openai', 'strategy'],
      ]);
      assert.deepEqual(decisions[0].plan, ['openai', 'gemini', 'local']);
      const all = JSON.stringify(lines);
      assert.doesNotMatch(all, /SECRET-PROMPT-TEXT/);
      assert.doesNotMatch(all, /SECRET-ANSWER-TEXT/);
    } finally {
      await gw.close();
    }
  });

  test('metrics count requests, cost and TTFT by provider and outcome', async () => {
    const gw = await startGateway({ ai: fakeAiBlock(ai.openai, ai.gemini) });
    try {
      const client = await gw.client('u1');
      await askAi(client, nextId++, 'chat', { prompt: 'q' });
      const text = await (await fetch(gw.metricsUrl)).text();
      assert.match(text, /meridian_ai_requests_total\{provider="openai",task="chat",outcome="ok"\} 1/);
      assert.match(text, /meridian_ai_cost_usd_total\{provider="openai"\} [0-9.e-]+/);
      assert.match(text, /meridian_ai_ttft_seconds_count\{provider="openai",outcome="ok"\} 1/);
    } finally {
      await gw.close();
    }
  });
});

describe('AI off', () => {
  let gw: TestGateway;
  before(async () => {
    gw = await startGateway();
  });
  after(() => gw.close());
  test('without an ai block, ai answers UNAVAILABLE', async () => {
    const client = await gw.client('u1');
    assert.equal((await client.request({ op: 'ai', task: 'chat', input: { prompt: 'q' } })).code, 'UNAVAILABLE');
  });
});
