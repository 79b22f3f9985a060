/**
 * Routing strategies, looked up by name; an unknown name fails at start-up. Each returns the
 * candidates best first (the rest are the fallback order); none filters: the router did that.
 */
import type { Price } from '../types.ts';

export interface RankedCandidate {
  name: string;
  price: Price;
  /** Undefined before the first sample. */
  p95TtftMs: number | undefined;
  errorRate: number;
}

export interface StrategyContext {
  inputTokens: number;
  outputTokens: number;
  latencySloMs: number;
  /** balanced: weight of normalised cost (latency gets 1 - this). */
  costWeight: number;
}

export type Strategy = <C extends RankedCandidate>(candidates: readonly C[], context: StrategyContext) => C[];

export function expectedCostUsd(candidate: RankedCandidate, context: StrategyContext): number {
  return (context.inputTokens * candidate.price.inputUsdPer1M + context.outputTokens * candidate.price.outputUsdPer1M) / 1_000_000;
}

/** A provider with no samples yet is assumed to sit halfway to the SLO: neither favoured nor shunned. */
export function expectedTtftMs(candidate: RankedCandidate, context: StrategyContext): number {
  return candidate.p95TtftMs ?? context.latencySloMs / 2;
}

const cost: Strategy = (candidates, context) =>
  [...candidates].sort((a, b) => expectedCostUsd(a, context) - expectedCostUsd(b, context) || expectedTtftMs(a, context) - expectedTtftMs(b, context));

const latency: Strategy = (candidates, context) =>
  [...candidates].sort((a, b) => expectedTtftMs(a, context) - expectedTtftMs(b, context) || expectedCostUsd(a, context) - expectedCostUsd(b, context));

/** Min-max normalised cost and p95 TTFT, weighted, plus the error rate as a penalty; lowest wins. */
const balanced: Strategy = (candidates, context) => {
  const costs = candidates.map((c) => expectedCostUsd(c, context));
  const ttfts = candidates.map((c) => expectedTtftMs(c, context));
  const normalise = (values: number[], value: number) => {
    const min = Math.min(...values);
    const span = Math.max(...values) - min;
    return span > 0 ? (value - min) / span : 0;
  };
  const score = (c: RankedCandidate) =>
    context.costWeight * normalise(costs, expectedCostUsd(c, context)) + (1 - context.costWeight) * normalise(ttfts, expectedTtftMs(c, context)) + c.errorRate;
  return [...candidates].sort((a, b) => score(a) - score(b));
};

export const strategies: Readonly<Record<string, Strategy>> = Object.freeze({ cost, latency, balanced });

export function strategyByName(name: string): Strategy {
  const strategy = strategies[name];
  if (!strategy) throw new Error(`unknown routing strategy '${name}'; known: ${Object.keys(strategies).join(', ')}`);
  return strategy;
}
