/**
 * OpenAI through the official SDK: Chat Completions (stream_options.include_usage, so the last
 * chunk carries the usage) or the Responses API (usage in `response.completed`). Short tasks
 * are asked without streaming. The SDK's own retries are off: the router is the only retry loop.
 */
import OpenAI from 'openai';
import type { AiProviderConfig } from '../config.ts';
import { ProviderError, type AiProvider, type Price, type ProviderEvent, type ProviderRequest, type Usage, shortTasks } from '../types.ts';
import { incomplete, toProviderError } from './errors.ts';

export class OpenAiProvider implements AiProvider {
  readonly name = 'openai';
  readonly model: string;
  readonly price: Price;
  private readonly client: OpenAI;
  private readonly api: 'chat' | 'responses';

  constructor(config: AiProviderConfig, options: { headersTimeoutMs: number }) {
    this.model = config.model;
    this.price = { inputUsdPer1M: config.inputUsdPer1M, outputUsdPer1M: config.outputUsdPer1M };
    this.api = config.api;
    // The SDK's timeout bounds the time to response headers only; the executor times the body.
    this.client = new OpenAI({ apiKey: config.apiKey, baseURL: config.baseUrl, maxRetries: 0, timeout: options.headersTimeoutMs });
  }

  async *stream(request: ProviderRequest): AsyncIterable<ProviderEvent> {
    try {
      if (this.api === 'responses') yield* this.responses(request);
      else if (shortTasks.has(request.task)) yield* this.chatWhole(request);
      else yield* this.chatStream(request);
    } catch (error) {
      throw toProviderError(error, request.signal);
    }
  }

  private async *chatStream(request: ProviderRequest): AsyncIterable<ProviderEvent> {
    const stream = await this.client.chat.completions.create(
      { model: this.model, messages: request.messages, stream: true, stream_options: { include_usage: true }, max_completion_tokens: request.maxOutputTokens },
      { signal: request.signal },
    );
    let finished = false;
    let usage: Usage | undefined;
    for await (const chunk of stream) {
      const choice = chunk.choices[0];
      if (choice?.delta?.content) yield { type: 'delta', text: choice.delta.content };
      if (choice?.finish_reason) finished = true;
      if (chunk.usage) usage = { inputTokens: chunk.usage.prompt_tokens, outputTokens: chunk.usage.completion_tokens };
    }
    // The SDK ends quietly when the connection drops: no finish reason means a cut answer.
    if (!finished) throw incomplete();
    if (usage) yield { type: 'usage', usage };
  }

  private async *chatWhole(request: ProviderRequest): AsyncIterable<ProviderEvent> {
    const completion = await this.client.chat.completions.create(
      { model: this.model, messages: request.messages, max_completion_tokens: request.maxOutputTokens },
      { signal: request.signal },
    );
    const text = completion.choices[0]?.message?.content ?? '';
    yield { type: 'delta', text };
    if (completion.usage) yield { type: 'usage', usage: { inputTokens: completion.usage.prompt_tokens, outputTokens: completion.usage.completion_tokens } };
  }

  private async *responses(request: ProviderRequest): AsyncIterable<ProviderEvent> {
    const stream = await this.client.responses.create(
      { model: this.model, input: request.messages, max_output_tokens: request.maxOutputTokens, stream: true, store: false },
      { signal: request.signal },
    );
    let usage: Usage | undefined;
    let completed = false;
    for await (const event of stream) {
      if (event.type === 'response.output_text.delta') yield { type: 'delta', text: event.delta };
      else if (event.type === 'response.completed') {
        completed = true;
        const reported = event.response.usage;
        if (reported) usage = { inputTokens: reported.input_tokens, outputTokens: reported.output_tokens };
      } else if (event.type === 'response.failed' || event.type === 'response.incomplete' || event.type === 'error') {
        throw new ProviderError('http', `upstream reported ${event.type}`, { retryable: event.type !== 'response.incomplete' });
      }
    }
    if (!completed) throw incomplete();
    if (usage) yield { type: 'usage', usage };
  }
}
