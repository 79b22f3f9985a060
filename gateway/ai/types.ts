/**
 * The AI provider seam: every provider (openai, gemini, local) answers a ProviderRequest with a
 * stream of ProviderEvents, its usage normalised to input and output tokens.
 *
 * Guarantees every provider gives:
 * - The stream ends normally only after the upstream's terminal event (a finish reason,
 *   `response.completed`): an upstream that stops early throws a ProviderError with kind
 *   `incomplete`, never a clean end, so a cut answer is never taken for a whole one.
 * - At most one `usage` event, after the last delta, with the tokens the upstream reported.
 * - Aborting `signal` ends the upstream request (the HTTP connection is closed) and the stream
 *   throws a ProviderError with kind `aborted`.
 * - Nothing here logs a prompt or an answer.
 */

export const aiTasks = ['chat', 'summarize', 'sentiment', 'moderate'] as const;
export type AiTask = (typeof aiTasks)[number];

/** Short, idempotent tasks: answered whole (not streamed), and the ones that may be hedged. */
export const shortTasks: ReadonlySet<AiTask> = new Set(['sentiment', 'moderate']);

export const providerNames = ['openai', 'gemini', 'local'] as const;
export type ProviderName = (typeof providerNames)[number];

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

export interface ProviderRequest {
  task: AiTask;
  /** The conversation sent to a remote model (system prompt, room context, the user's text). */
  messages: ChatMessage[];
  /** The text the task is about, for providers that work on it directly (local). */
  text: string;
  maxOutputTokens: number;
  signal: AbortSignal;
}

export interface Usage {
  inputTokens: number;
  outputTokens: number;
}

export type ProviderEvent = { type: 'delta'; text: string } | { type: 'usage'; usage: Usage };

export interface Price {
  inputUsdPer1M: number;
  outputUsdPer1M: number;
}

export interface AiProvider {
  readonly name: ProviderName;
  readonly model: string;
  readonly price: Price;
  stream(request: ProviderRequest): AsyncIterable<ProviderEvent>;
}

export type ProviderFailureKind = 'http' | 'network' | 'timeout' | 'incomplete' | 'aborted';

/** A provider call that failed; `retryable` says whether the same request may succeed later. */
export class ProviderError extends Error {
  readonly kind: ProviderFailureKind;
  readonly status?: number;
  readonly retryable: boolean;
  constructor(kind: ProviderFailureKind, message: string, options: { status?: number; retryable: boolean; cause?: unknown }) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'ProviderError';
    this.kind = kind;
    this.status = options.status;
    this.retryable = options.retryable;
  }
}

/** HTTP statuses after which the same request may succeed (rate limits, overload, upstream faults). */
export function retryableStatus(status: number | undefined): boolean {
  return status === undefined || status === 408 || status === 409 || status === 429 || status >= 500;
}

export function costUsd(usage: Usage, price: Price): number {
  return (usage.inputTokens * price.inputUsdPer1M + usage.outputTokens * price.outputUsdPer1M) / 1_000_000;
}

/** A rough token count for text whose usage no upstream reported (about four characters a token). */
export function estimateTokens(text: string): number {
  return Math.ceil(text.length / 4);
}

/** Input tokens of a conversation, estimated (the upstream's count is known only afterwards). */
export function estimateInputTokens(messages: readonly ChatMessage[]): number {
  return messages.reduce((n, m) => n + estimateTokens(m.content), 0);
}

/** Output tokens expected per task, for the cost estimate before a provider answers. */
export const expectedOutputTokens: Readonly<Record<AiTask, number>> = { chat: 400, summarize: 250, sentiment: 10, moderate: 20 };

/** The usage a request is expected to have: what routing ranks by and what a budget reserves. */
export function expectedUsage(task: AiTask, messages: readonly ChatMessage[]): Usage {
  return { inputTokens: estimateInputTokens(messages), outputTokens: expectedOutputTokens[task] };
}
