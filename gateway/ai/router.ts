/**
 * Chooses the providers for one request, in order: first the filters (circuit open, budget
 * spent, p95 time to first token over the SLO), then the named strategy ranks what is left, and
 * a small exploration share moves another eligible provider to the front. The offline `local`
 * provider is never ranked (it would always be cheapest): it is the last resort after every
 * remote one, or the only choice when a budget is spent and onBudgetExceeded is `local`.
 * Randomness is injected.
 */
import type { AiConfig } from './config.ts';
import { ProviderStats, type StatsSnapshot } from './provider-stats.ts';
import { strategyByName, type Strategy } from './strategies/index.ts';
import type { AiProvider, ProviderName } from './types.ts';

export interface Candidate {
  readonly provider: AiProvider;
  readonly stats: ProviderStats;
}

export type BudgetState = 'available' | 'spent' | 'unreadable';

/** Why a provider was left out of a request's plan. */
export type FilterReason = 'circuit_open' | 'budget' | 'slo';

export interface RouteInput {
  inputTokens: number;
  outputTokens: number;
  /**
   * The daily budgets (cluster and user): `available` (the request's expected cost was reserved,
   * or it needs none), `spent` (it does not fit), `unreadable` (the engine could not be reached).
   * Paid providers are skipped unless `available`.
   */
  budget: BudgetState;
}

export interface RouteDecision {
  /** Providers to try, in order. */
  plan: Candidate[];
  /** Why the first one: the strategy's pick, exploration, the last resort, or a spent budget. */
  reason: 'strategy' | 'explore' | 'slo_relaxed' | 'last_resort' | 'budget';
  filtered: Partial<Record<ProviderName, FilterReason>>;
}

/** No provider may take the request; `code` is the error the client gets. */
export class NoProviderError extends Error {
  readonly code: 'AI_UNAVAILABLE' | 'BUDGET_EXCEEDED';
  readonly filtered: Partial<Record<ProviderName, FilterReason>>;
  constructor(code: 'AI_UNAVAILABLE' | 'BUDGET_EXCEEDED', message: string, filtered: Partial<Record<ProviderName, FilterReason>>) {
    super(message);
    this.name = 'NoProviderError';
    this.code = code;
    this.filtered = filtered;
  }
}

export interface RouterOptions {
  config: AiConfig;
  providers: readonly AiProvider[];
  now: () => number;
  random: () => number;
}

export class Router {
  readonly candidates: readonly Candidate[];
  readonly strategyName: string;
  private readonly strategy: Strategy;
  private readonly remote: readonly Candidate[];
  private readonly local: Candidate | undefined;
  private readonly config: AiConfig;
  private readonly random: () => number;

  constructor(options: RouterOptions) {
    const { config } = options;
    this.config = config;
    this.random = options.random;
    this.strategyName = config.strategy;
    this.strategy = strategyByName(config.strategy);
    this.candidates = options.providers.map((provider) => ({
      provider,
      stats: new ProviderStats({
        samples: config.statsSamples,
        windowMs: config.statsWindowMs,
        alpha: config.ewmaAlpha,
        circuitFailures: config.circuitFailures,
        circuitOpenMs: config.circuitOpenMs,
        now: options.now,
      }),
    }));
    this.remote = this.candidates.filter((c) => c.provider.name !== 'local');
    this.local = this.candidates.find((c) => c.provider.name === 'local');
  }

  route(input: RouteInput): RouteDecision {
    const filtered: Partial<Record<ProviderName, FilterReason>> = {};
    const eligible: Candidate[] = [];
    const withinSlo: Candidate[] = [];
    for (const candidate of this.remote) {
      const name = candidate.provider.name;
      if (!candidate.stats.circuit.available()) filtered[name] = 'circuit_open';
      else if (input.budget !== 'available' && isPaid(candidate)) filtered[name] = 'budget';
      else {
        eligible.push(candidate);
        const p95 = candidate.stats.p95TtftMs();
        if (p95 !== undefined && p95 > this.config.latencySloMs) filtered[name] = 'slo';
        else withinSlo.push(candidate);
      }
    }
    const lastResort = this.local && this.local.stats.circuit.available() ? [this.local] : [];
    if (eligible.length === 0) {
      const budgetOnly = input.budget !== 'available' && Object.values(filtered).includes('budget');
      if (budgetOnly && this.config.onBudgetExceeded === 'reject') {
        // A spend that cannot be read is not a spent budget: the client may retry soon.
        if (input.budget === 'unreadable') throw new NoProviderError('AI_UNAVAILABLE', 'the AI budget cannot be checked right now', filtered);
        throw new NoProviderError('BUDGET_EXCEEDED', 'the daily AI budget is spent', filtered);
      }
      if (lastResort.length === 0) throw new NoProviderError('AI_UNAVAILABLE', `no AI provider can take the request (${describe(filtered)})`, filtered);
      return { plan: lastResort, reason: budgetOnly ? 'budget' : 'last_resort', filtered };
    }
    // Every provider over the SLO: a slow answer beats the offline one, so rank them all.
    const pool = withinSlo.length > 0 ? withinSlo : eligible;
    const context = { inputTokens: input.inputTokens, outputTokens: input.outputTokens, latencySloMs: this.config.latencySloMs, costWeight: this.config.balancedCostWeight };
    const ranked = this.strategy(
      pool.map((c) => ({ candidate: c, name: c.provider.name, price: c.provider.price, p95TtftMs: c.stats.p95TtftMs(), errorRate: c.stats.errorRate })),
      context,
    ).map((r) => r.candidate);
    // The ones the SLO filter skipped still follow as fallbacks: better than offline.
    const plan = [...ranked, ...eligible.filter((c) => !ranked.includes(c))];
    let reason: RouteDecision['reason'] = withinSlo.length > 0 ? 'strategy' : 'slo_relaxed';
    if (plan.length > 1 && this.config.explorationShare > 0 && this.random() < this.config.explorationShare) {
      const pick = 1 + Math.floor(this.random() * (plan.length - 1));
      plan.unshift(...plan.splice(pick, 1));
      reason = 'explore';
    }
    return { plan: [...plan, ...lastResort], reason, filtered };
  }

  /** Per-provider statistics, for /v1/ai/providers and the benchmark. */
  snapshot(): Record<string, StatsSnapshot> {
    return Object.fromEntries(this.candidates.map((c) => [c.provider.name, c.stats.snapshot()]));
  }
}

export function isPaid(candidate: Candidate): boolean {
  return candidate.provider.price.inputUsdPer1M > 0 || candidate.provider.price.outputUsdPer1M > 0;
}

function describe(filtered: Partial<Record<ProviderName, FilterReason>>): string {
  const parts = Object.entries(filtered).map(([name, reason]) => `${name}: ${reason}`);
  return parts.length > 0 ? parts.join(', ') : 'none configured';
}
