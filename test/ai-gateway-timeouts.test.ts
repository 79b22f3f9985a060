/**
 * The three clocks of an AI request, through a real gateway against fake providers on loopback:
 * no first token within `firstTokenTimeoutMs` falls back to the next provider; a stream silent
 * for `idleTimeoutMs` mid-answer ends with a retryable error; a request over `requestTimeoutMs`
 * ends with AI_TIMEOUT. Each aborts the upstream request, which the fake server sees as its
 * connection closed early. The injected delays are far beyond the configured timeouts, so the
 * outcomes do not depend on how fast this machine is.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { askAi, fakeAiBlock, fakeProvidersPerSuite } from './helpers/fake-ai.ts';
import { startGateway } from './helpers/gateway.ts';

describe('AI timeouts through the gateway', () => {
  const ai = fakeProvidersPerSuite();
  let nextId = 1;

  test('a provider slower than firstTokenTimeoutMs: the next provider answers, the user request does not fail, the slow one is closed', async () => {
    const gw = await startGateway({ ai: fakeAiBlock(ai.openai, ai.gemini, { firstTokenTimeoutMs: 1500, latencySloMs: 60_000, hedgeDelayMs: 60_000 }) });
    try {
      const client = await gw.client('u1');
      ai.openai.behave({ latencyMs: 120_000 });
      const closedBefore = ai.openai.clientClosed;
      const chat = await askAi(client, nextId++, 'chat', { prompt: 'q' });
      assert.equal(chat.end.op, 'ai_done', JSON.stringify(chat.end));
      assert.equal(chat.end.provider, 'gemini');
      assert.deepEqual(chat.end.fallbacks, [{ provider: 'openai', reason: 'timeout' }]);
      assert.equal(chat.deltas.join(''), 'Hello from gemini. This answer arrives in several chunks.');
      await ai.openai.waitClientClosed(closedBefore + 1);

      // A short task is asked without streaming: the wait is for the response headers. (The
      // SLO and the hedge delay are set high above so openai, slow once, is tried first and alone.)
      const mood = await askAi(client, nextId++, 'sentiment', { text: 'great class' });
      assert.equal(mood.end.op, 'ai_done', JSON.stringify(mood.end));
      assert.equal(mood.end.provider, 'gemini');
      assert.equal(mood.end.fallbacks?.[0]?.provider, 'openai');
      await ai.openai.waitClientClosed(closedBefore + 2);
    } finally {
      await gw.close();
    }
  });

  test('a stream silent longer than idleTimeoutMs mid-answer: an error frame with retryable, and the upstream connection closed', async () => {
    const gw = await startGateway({ ai: fakeAiBlock(ai.openai, ai.gemini, { idleTimeoutMs: 300 }) });
    try {
      const client = await gw.client('u1');
      ai.openai.behave({ reply: 'one two three four', chunkDelayMs: 120_000 });
      const closedBefore = ai.openai.clientClosed;
      const geminiRequests = ai.gemini.requests.length;
      const { deltas, end } = await askAi(client, nextId++, 'chat', { prompt: 'q' });
      assert.deepEqual(deltas, ['one ']);
      assert.equal(end.op, 'error');
      assert.equal(end.code, 'AI_STREAM_FAILED');
      assert.equal(end.retryable, true);
      await ai.openai.waitClientClosed(closedBefore + 1);
      assert.equal(ai.gemini.requests.length, geminiRequests, 'a committed answer is not continued on another provider');
    } finally {
      await gw.close();
    }
  });

  test('a request longer than requestTimeoutMs: AI_TIMEOUT, and the upstream request aborted', async () => {
    const gw = await startGateway({ ai: fakeAiBlock(ai.openai, ai.gemini, { requestTimeoutMs: 800 }) });
    try {
      const client = await gw.client('u1');
      // Chunks keep coming (no idle gap), but the whole answer would take 20 s.
      ai.openai.behave({ reply: Array.from({ length: 400 }, (_, i) => `w${i}`).join(' '), chunkDelayMs: 50 });
      const closedBefore = ai.openai.clientClosed;
      const streaming = await askAi(client, nextId++, 'chat', { prompt: 'q' });
      assert.ok(streaming.deltas.length >= 1, 'the answer had started');
      assert.equal(streaming.end.op, 'error');
      assert.equal(streaming.end.code, 'AI_TIMEOUT');
      assert.equal(streaming.end.retryable, true);
      await ai.openai.waitClientClosed(closedBefore + 1);

      // Before the first token too: the request's deadline stops the fallbacks as well.
      ai.openai.behave({ hang: true });
      const geminiRequests = ai.gemini.requests.length;
      const waiting = await askAi(client, nextId++, 'chat', { prompt: 'q' });
      assert.equal(waiting.end.code, 'AI_TIMEOUT');
      assert.deepEqual(waiting.deltas, []);
      await ai.openai.waitClientClosed(closedBefore + 2);
      assert.equal(ai.gemini.requests.length, geminiRequests);
      assert.equal(client.frames.filter((f) => f.op === 'ai_done').length, 0);
    } finally {
      await gw.close();
    }
  });
});
