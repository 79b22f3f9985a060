/**
 * Runs one request along the router's plan.
 *
 * - A provider that fails before the first token reaches the client is recorded as failed and
 *   the next one is tried; so is one that gives no first token within `firstTokenTimeoutMs`.
 *   Short tasks are not streamed to the client, so any failure of theirs falls back.
 * - Once a token was forwarded the answer is committed: a later failure, or a gap between
 *   chunks over `idleTimeoutMs`, ends the request with AI_STREAM_FAILED and `retryable`.
 * - Short tasks may be hedged: with no first token after `hedgeDelayMs` the next provider is
 *   asked too, the first to answer wins and the other is aborted; hedges are capped at
 *   `hedgeMaxShare` of short tasks by a credit that each short task tops up.
 * - `signal` (ai_cancel, the client's disconnect, `requestTimeoutMs`) aborts the upstream
 *   request: the provider closes its HTTP connection.
 */
import type { AiConfig } from './config.ts';
import type { Candidate } from './router.ts';
import { ProviderError, costUsd, estimateInputTokens, estimateTokens, type ProviderEvent, type ProviderRequest, type Usage } from './types.ts';

export type AiFailureCode = 'AI_UNAVAILABLE' | 'AI_STREAM_FAILED' | 'AI_TIMEOUT' | 'CANCELLED';

export interface Spend {
  provider: string;
  usage: Usage;
  /** False when the upstream reported no usage and the tokens were estimated. */
  usageReported: boolean;
  costUsd: number;
}

export class AiRequestError extends Error {
  readonly code: AiFailureCode;
  readonly retryable: boolean;
  /** What the committed provider must be paid for, when one was. */
  readonly spend?: Spend;
  constructor(code: AiFailureCode, message: string, retryable: boolean, spend?: Spend) {
    super(message);
    this.name = 'AiRequestError';
    this.code = code;
    this.retryable = retryable;
    this.spend = spend;
  }
}

export interface Fallback {
  provider: string;
  reason: string;
}

export interface ExecutionResult extends Spend {
  model: string;
  text: string;
  ttftMs: number;
  totalMs: number;
  fallbacks: Fallback[];
  hedged: boolean;
}

export interface ExecuteInput {
  plan: readonly Candidate[];
  request: Omit<ProviderRequest, 'signal'>;
  /** Forward deltas as they arrive (chat, summaries); short tasks are answered whole. */
  stream: boolean;
  hedge: boolean;
  signal: AbortSignal;
  onDelta(text: string): void;
}

/** One provider call: its own abort, linked to the request's; every read has a deadline. */
class Attempt {
  readonly candidate: Candidate;
  readonly startedAt: number;
  readonly controller = new AbortController();
  private readonly iterator: AsyncIterator<ProviderEvent>;
  private readonly unlink: () => void;

  constructor(candidate: Candidate, request: Omit<ProviderRequest, 'signal'>, parent: AbortSignal, now: number) {
    this.candidate = candidate;
    this.startedAt = now;
    const abort = () => this.controller.abort(parent.reason);
    parent.addEventListener('abort', abort, { once: true });
    this.unlink = () => parent.removeEventListener('abort', abort);
    candidate.stats.circuit.begin();
    this.iterator = candidate.provider.stream({ ...request, signal: this.controller.signal })[Symbol.asyncIterator]();
  }

  /** The next event within `timeoutMs`; on timeout the upstream request is aborted. */
  next(timeoutMs: number): Promise<IteratorResult<ProviderEvent>> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        this.controller.abort();
        reject(new ProviderError('timeout', `no data from ${this.candidate.provider.name} within ${timeoutMs} ms`, { retryable: true }));
      }, timeoutMs);
    });
    return Promise.race([this.iterator.next(), deadline]).finally(() => clearTimeout(timer));
  }

  abort(): void {
    this.controller.abort();
    this.end();
  }

  end(): void {
    this.unlink();
  }
}

export interface ExecutorOptions {
  config: AiConfig;
  now: () => number;
}

export class Executor {
  private readonly config: AiConfig;
  private readonly now: () => number;
  /** Hedges available; each short task adds hedgeMaxShare, each hedge spends one. */
  private hedgeCredit = 1;

  constructor(options: ExecutorOptions) {
    this.config = options.config;
    this.now = options.now;
  }

  async execute(input: ExecuteInput): Promise<ExecutionResult> {
    const fallbacks: Fallback[] = [];
    if (input.hedge) this.hedgeCredit = Math.min(1, this.hedgeCredit + this.config.hedgeMaxShare);
    let next = 0;
    let hedged = false;
    const launch = (): Attempt | undefined => {
      if (next >= input.plan.length || input.signal.aborted) return undefined;
      return new Attempt(input.plan[next++], input.request, input.signal, this.now());
    };
    const hedge = (): Attempt | undefined => {
      if (this.hedgeCredit < 1 || next >= input.plan.length) return undefined;
      this.hedgeCredit -= 1;
      hedged = true;
      return launch();
    };
    while (next < input.plan.length) {
      const first = await this.firstEvent(launch()!, input.hedge ? hedge : undefined, fallbacks, input.signal);
      if (input.signal.aborted) throw this.stopped(input.signal);
      if (!first) continue;
      return { ...(await this.finish(first.attempt, first.event, input)), fallbacks, hedged };
    }
    throw new AiRequestError('AI_UNAVAILABLE', `every AI provider failed (${fallbacks.map((f) => `${f.provider}: ${f.reason}`).join(', ')})`, true);
  }

  /** Why the request stopped when its signal fired: a cancel, or the request's own deadline. */
  private stopped(signal: AbortSignal, spend?: Spend): AiRequestError {
    if (signal.reason === 'timeout') return new AiRequestError('AI_TIMEOUT', `no complete answer within ${this.config.requestTimeoutMs} ms`, true, spend);
    return new AiRequestError('CANCELLED', 'the request was cancelled', false, spend);
  }

  /**
   * The first event from the primary or its hedge. A contender that fails is recorded and
   * dropped; undefined when all failed (the caller goes on down the plan).
   */
  private firstEvent(primary: Attempt, hedge: (() => Attempt | undefined) | undefined, fallbacks: Fallback[], signal: AbortSignal): Promise<{ attempt: Attempt; event: ProviderEvent } | undefined> {
    return new Promise((resolve) => {
      let running = 0;
      let settled = false;
      let hedgeTimer: NodeJS.Timeout | undefined;
      const contenders: Attempt[] = [];
      const settle = (value: { attempt: Attempt; event: ProviderEvent } | undefined) => {
        settled = true;
        clearTimeout(hedgeTimer);
        // The losers are aborted now: a hung one would otherwise hold its connection open.
        for (const other of contenders) {
          if (other === value?.attempt) continue;
          other.candidate.stats.circuit.release();
          other.abort();
        }
        resolve(value);
      };
      const watch = (attempt: Attempt) => {
        contenders.push(attempt);
        running += 1;
        attempt.next(this.config.firstTokenTimeoutMs).then(
          (result) => {
            if (settled) return; // a contender that lost: already aborted
            if (result.done) return failed(attempt, new ProviderError('incomplete', 'empty answer', { retryable: true }));
            settle({ attempt, event: result.value });
          },
          (error: unknown) => failed(attempt, error),
        );
      };
      const failed = (attempt: Attempt, error: unknown) => {
        running -= 1;
        contenders.splice(contenders.indexOf(attempt), 1);
        attempt.end();
        const stats = attempt.candidate.stats;
        if (signal.aborted || settled) stats.circuit.release();
        else {
          const reason = error instanceof ProviderError ? (error.status ? `${error.kind} ${error.status}` : error.kind) : 'error';
          stats.failure(this.now() - attempt.startedAt);
          fallbacks.push({ provider: attempt.candidate.provider.name, reason });
        }
        // All contenders failed: go on down the plan now rather than wait for the hedge timer.
        if (!settled && running === 0) settle(undefined);
      };
      watch(primary);
      if (hedge && this.hedgeCredit >= 1) {
        hedgeTimer = setTimeout(() => {
          hedgeTimer = undefined;
          if (settled) return;
          const second = hedge();
          if (second) watch(second);
          else if (running === 0) settle(undefined);
        }, this.config.hedgeDelayMs);
      }
    });
  }

  /** Reads the committed provider's answer to the end. */
  private async finish(attempt: Attempt, first: ProviderEvent, input: ExecuteInput): Promise<Omit<ExecutionResult, 'fallbacks' | 'hedged'>> {
    const { provider, stats } = attempt.candidate;
    const ttftMs = this.now() - attempt.startedAt;
    stats.firstToken(ttftMs);
    let text = '';
    let usage: Usage | undefined;
    const take = (event: ProviderEvent) => {
      if (event.type === 'usage') usage = event.usage;
      else {
        text += event.text;
        if (input.stream) input.onDelta(event.text);
      }
    };
    const spend = (): Spend => {
      const reported = usage;
      const estimated = { inputTokens: estimateInputTokens(input.request.messages), outputTokens: estimateTokens(text) };
      const final = reported ?? estimated;
      return { provider: provider.name, usage: final, usageReported: reported !== undefined, costUsd: costUsd(final, provider.price) };
    };
    try {
      take(first);
      for (;;) {
        const result = await attempt.next(this.config.idleTimeoutMs);
        if (result.done) break;
        take(result.value);
      }
    } catch (error) {
      attempt.end();
      if (input.signal.aborted) {
        stats.circuit.release();
        throw this.stopped(input.signal, spend());
      }
      stats.failure();
      const retryable = error instanceof ProviderError ? error.retryable : true;
      throw new AiRequestError('AI_STREAM_FAILED', `${provider.name} failed mid-answer`, retryable, spend());
    }
    attempt.end();
    stats.success(this.now() - attempt.startedAt);
    return { ...spend(), model: provider.model, text, ttftMs, totalMs: this.now() - attempt.startedAt };
  }
}
