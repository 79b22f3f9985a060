/**
 * Gemini through @google/genai: `generateContentStream` (streamGenerateContent?alt=sse) for chat
 * and summaries, `generateContent` for short tasks. Usage comes from `usageMetadata`; in a stream
 * each chunk carries the running totals, so the last one counts. Thinking tokens are billed as
 * output. The SDK retries only when asked (it is not), so the router is the only retry loop.
 */
import { GoogleGenAI, type Content, type GenerateContentResponse } from '@google/genai';
import type { AiProviderConfig } from '../config.ts';
import { shortTasks, type AiProvider, type ChatMessage, type Price, type ProviderEvent, type ProviderRequest, type Usage } from '../types.ts';
import { incomplete, toProviderError } from './errors.ts';

function contents(messages: readonly ChatMessage[]): { system: string; contents: Content[] } {
  const system = messages.filter((m) => m.role === 'system').map((m) => m.content).join('\n\n');
  const turns = messages.filter((m) => m.role !== 'system').map((m) => ({ role: m.role === 'assistant' ? 'model' : 'user', parts: [{ text: m.content }] }));
  return { system, contents: turns };
}

function usageOf(response: GenerateContentResponse): Usage | undefined {
  const meta = response.usageMetadata;
  if (!meta) return undefined;
  return { inputTokens: meta.promptTokenCount ?? 0, outputTokens: (meta.candidatesTokenCount ?? 0) + (meta.thoughtsTokenCount ?? 0) };
}

export class GeminiProvider implements AiProvider {
  readonly name = 'gemini';
  readonly model: string;
  readonly price: Price;
  private readonly client: GoogleGenAI;

  constructor(config: AiProviderConfig) {
    this.model = config.model;
    this.price = { inputUsdPer1M: config.inputUsdPer1M, outputUsdPer1M: config.outputUsdPer1M };
    // No httpOptions.timeout: in this SDK it stays armed for the whole body; the executor times
    // the first token and the gaps between chunks instead.
    this.client = new GoogleGenAI({ apiKey: config.apiKey, httpOptions: config.baseUrl ? { baseUrl: config.baseUrl } : undefined });
  }

  async *stream(request: ProviderRequest): AsyncIterable<ProviderEvent> {
    const { system, contents: turns } = contents(request.messages);
    const params = {
      model: this.model,
      contents: turns,
      config: { systemInstruction: system || undefined, maxOutputTokens: request.maxOutputTokens, abortSignal: request.signal },
    };
    try {
      if (shortTasks.has(request.task)) {
        const response = await this.client.models.generateContent(params);
        yield { type: 'delta', text: response.text ?? '' };
        const usage = usageOf(response);
        if (usage) yield { type: 'usage', usage };
        return;
      }
      const stream = await this.client.models.generateContentStream(params);
      let finished = false;
      let usage: Usage | undefined;
      for await (const chunk of stream) {
        const text = chunk.text;
        if (text) yield { type: 'delta', text };
        if (chunk.candidates?.[0]?.finishReason) finished = true;
        usage = usageOf(chunk) ?? usage;
      }
      if (!finished) throw incomplete();
      if (usage) yield { type: 'usage', usage };
    } catch (error) {
      throw toProviderError(error, request.signal);
    }
  }
}
