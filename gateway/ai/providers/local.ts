/**
 * The offline provider: answers every task in-process with no network, at no cost. The router
 * uses it as the last resort (both remote providers down, or a budget spent with
 * onBudgetExceeded=local). Chat cannot be answered offline, so it says so.
 */
import { TextAnalyzer } from '../text-analysis.ts';
import { ProviderError, estimateInputTokens, estimateTokens, type AiProvider, type Price, type ProviderEvent, type ProviderRequest } from '../types.ts';

export const offlineChatReply = 'The AI service is offline right now, so this question cannot be answered yet. Please try again in a few minutes.';

export class LocalProvider implements AiProvider {
  readonly name = 'local';
  readonly model: string;
  readonly price: Price = { inputUsdPer1M: 0, outputUsdPer1M: 0 };
  private analyzer?: TextAnalyzer;

  constructor(model = 'meridian-local') {
    this.model = model;
  }

  /** The answer text for a task (sync: the analysis is in-process). */
  answer(request: Pick<ProviderRequest, 'task' | 'text'>): string {
    // Loaded on first use: a gateway that never falls back does not pay for the model.
    this.analyzer ??= new TextAnalyzer();
    switch (request.task) {
      case 'sentiment':
        return JSON.stringify(this.analyzer.sentiment(request.text));
      case 'moderate':
        return JSON.stringify(this.analyzer.moderate(request.text));
      case 'summarize':
        return this.analyzer.summarize(request.text) || 'There is nothing to summarise yet.';
      case 'chat':
        return offlineChatReply;
    }
  }

  async *stream(request: ProviderRequest): AsyncIterable<ProviderEvent> {
    if (request.signal.aborted) throw new ProviderError('aborted', 'request aborted', { retryable: false });
    const text = this.answer(request);
    yield { type: 'delta', text };
    const input = estimateInputTokens(request.messages);
    yield { type: 'usage', usage: { inputTokens: input, outputTokens: estimateTokens(text) } };
  }
}
