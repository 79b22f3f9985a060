/**
 * One contract suite for the remote providers (openai chat, openai responses, gemini) against
 * the fake servers speaking the real wire formats, plus the offline local provider.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { parseAiConfig } from '../gateway/ai/config.ts';
import { createProviders } from '../gateway/ai/providers/index.ts';
import { LocalProvider, offlineChatReply } from '../gateway/ai/providers/local.ts';
import { buildMessages } from '../gateway/ai/prompts.ts';
import { ProviderError, type AiProvider, type AiTask, type ProviderEvent } from '../gateway/ai/types.ts';
import { FakeAiServer } from './helpers/fake-ai.ts';
import { waitFor } from './helpers/net.ts';

async function collect(provider: AiProvider, task: AiTask, text: string, signal = new AbortController().signal): Promise<{ text: string; events: ProviderEvent[] }> {
  const events: ProviderEvent[] = [];
  for await (const event of provider.stream({ task, text, messages: buildMessages(task, text), maxOutputTokens: 100, signal })) events.push(event);
  return { text: events.flatMap((e) => (e.type === 'delta' ? [e.text] : [])).join(''), events };
}

const variants = [
  { label: 'openai chat completions', kind: 'openai', api: 'chat' },
  { label: 'openai responses', kind: 'openai', api: 'responses' },
  { label: 'gemini', kind: 'gemini', api: undefined },
] as const;

for (const variant of variants) {
  describe(`provider contract: ${variant.label}`, () => {
    let fake: FakeAiServer;
    let provider: AiProvider;
    before(async () => {
      fake = await FakeAiServer.start(variant.kind);
      const config = parseAiConfig(
        { providers: [{ name: variant.kind, model: 'm-1', apiKey: fake.apiKey, baseUrl: fake.baseUrl, ...(variant.api ? { api: variant.api } : {}), inputUsdPer1M: 1, outputUsdPer1M: 2 }] },
        {},
      )!;
      provider = createProviders(config)[0];
    });
    after(() => fake.close());

    test('a streamed answer arrives in deltas, then the usage the server reported', async () => {
      fake.behave({ reply: 'one two three four', usage: { input: 1234, output: 56 } });
      const { text, events } = await collect(provider, 'chat', 'hello');
      assert.equal(text, 'one two three four');
      assert.ok(events.filter((e) => e.type === 'delta').length >= 2, 'several deltas');
      assert.deepEqual(events.at(-1), { type: 'usage', usage: { inputTokens: 1234, outputTokens: 56 } });
      assert.equal(fake.requests.at(-1)?.apiKey, fake.apiKey);
      if (variant.api === 'chat') assert.deepEqual(fake.requests.at(-1)?.body.stream_options, { include_usage: true });
    });

    test('a short task is answered whole, with usage', async () => {
      fake.behave({ reply: '{"score": -0.5}', usage: { input: 20, output: 3 } });
      const { text, events } = await collect(provider, 'sentiment', 'meh');
      assert.equal(text, '{"score": -0.5}');
      assert.deepEqual(events.at(-1), { type: 'usage', usage: { inputTokens: 20, outputTokens: 3 } });
    });

    test('an HTTP 429 is a retryable ProviderError with the status', async () => {
      fake.behave({ failStatus: 429 });
      await assert.rejects(collect(provider, 'chat', 'hi'), (error: ProviderError) => error instanceof ProviderError && error.status === 429 && error.retryable);
      fake.behave({ failStatus: 400 });
      await assert.rejects(collect(provider, 'chat', 'hi'), (error: ProviderError) => error.status === 400 && !error.retryable);
    });

    test('a stream cut mid-answer throws instead of ending cleanly', async () => {
      fake.behave({ reply: 'a b c d e f', cutAfterChunks: 2 });
      await assert.rejects(collect(provider, 'chat', 'hi'), (error: ProviderError) => error instanceof ProviderError && error.retryable && (error.kind === 'incomplete' || error.kind === 'network'));
    });

    test('aborting closes the upstream connection', async () => {
      fake.behave({ hang: true });
      const before = fake.clientClosed;
      const controller = new AbortController();
      const requestsBefore = fake.requests.length;
      const pending = collect(provider, 'chat', 'hi', controller.signal);
      // Aborted once the request is at the server: an abort before it connects closes nothing there.
      await waitFor(() => fake.requests.length > requestsBefore, { what: 'the request at the fake server' });
      controller.abort();
      await assert.rejects(pending, (error: ProviderError) => error.kind === 'aborted');
      await fake.waitClientClosed(before + 1);
    });
  });
}

describe('provider: local (offline)', () => {
  const local = new LocalProvider();
  test('sentiment, moderation and summaries are answered in-process', async () => {
    assert.equal(JSON.parse((await collect(local, 'sentiment', 'I really love this lesson, it is great')).text).label, 'positive');
    assert.equal(JSON.parse((await collect(local, 'sentiment', 'This is awful and I hate it')).text).label, 'negative');
    assert.deepEqual(JSON.parse((await collect(local, 'moderate', 'you are a fucking idiot')).text), { flagged: true, categories: ['profanity'] });
    assert.deepEqual(JSON.parse((await collect(local, 'moderate', 'see you in class tomorrow')).text), { flagged: false, categories: [] });
    const summary = (await collect(local, 'summarize', 'Photosynthesis turns light into energy. What time is lunch? Chlorophyll absorbs light for photosynthesis. Plants do photosynthesis in chloroplasts. ok.')).text;
    assert.match(summary, /Photosynthesis turns light/);
    assert.doesNotMatch(summary, /lunch/);
  });
  test('chat says the service is offline', async () => {
    assert.equal((await collect(local, 'chat', 'what is 2+2?')).text, offlineChatReply);
  });
});
