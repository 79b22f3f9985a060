/**
 * The router with an injected clock and randomness: filters, strategies, exploration, the
 * circuit breaker's half-open probe, and the typed errors when nothing is left.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseAiConfig, type AiConfig } from '../gateway/ai/config.ts';
import { createProviders } from '../gateway/ai/providers/index.ts';
import { NoProviderError, Router, type BudgetState } from '../gateway/ai/router.ts';
import { strategyByName } from '../gateway/ai/strategies/index.ts';

function setup(ai: Record<string, unknown> = {}, randoms: number[] = []) {
  const config: AiConfig = parseAiConfig(
    {
      strategy: 'cost',
      latencySloMs: 1000,
      explorationShare: 0,
      circuitFailures: 2,
      circuitOpenMs: 5000,
      statsWindowMs: 60_000,
      providers: [
        { name: 'openai', model: 'o', apiKey: 'k', baseUrl: 'http://127.0.0.1:1/v1', inputUsdPer1M: 0.15, outputUsdPer1M: 0.6 },
        { name: 'gemini', model: 'g', apiKey: 'k', baseUrl: 'http://127.0.0.1:1', inputUsdPer1M: 0.3, outputUsdPer1M: 2.5 },
        { name: 'local' },
      ],
      ...ai,
    },
    {},
  )!;
  const clock = { now: 1_000_000 };
  const router = new Router({ config, providers: createProviders(config), now: () => clock.now, random: () => randoms.shift() ?? 0.99 });
  const stats = (name: string) => router.candidates.find((c) => c.provider.name === name)!.stats;
  const route = (budget: BudgetState = 'available') => router.route({ inputTokens: 500, outputTokens: 300, budget });
  const names = (decision: ReturnType<typeof route>) => decision.plan.map((c) => c.provider.name);
  return { router, clock, stats, route, names };
}

describe('AI router', () => {
  test('cost: the cheapest provider within the SLO first, local last', () => {
    const { route, names } = setup();
    const decision = route();
    assert.deepEqual(names(decision), ['openai', 'gemini', 'local']);
    assert.equal(decision.reason, 'strategy');
  });

  test('a p95 TTFT over the SLO moves the provider behind the others; it returns once its samples age out', () => {
    const { route, names, stats, clock } = setup();
    for (let i = 0; i < 20; i += 1) stats('openai').firstToken(1500);
    const slow = route();
    assert.deepEqual(names(slow), ['gemini', 'openai', 'local']);
    assert.equal(slow.filtered.openai, 'slo');
    clock.now += 61_000;
    assert.deepEqual(names(route()), ['openai', 'gemini', 'local']);
  });

  test('latency: the lowest p95 first; balanced weighs both', () => {
    const { route, names, stats } = setup({ strategy: 'latency' });
    for (let i = 0; i < 10; i += 1) {
      stats('openai').firstToken(600);
      stats('gemini').firstToken(200);
    }
    assert.deepEqual(names(route()), ['gemini', 'openai', 'local']);
    const balanced = setup({ strategy: 'balanced', balancedCostWeight: 0.9 });
    for (let i = 0; i < 10; i += 1) {
      balanced.stats('openai').firstToken(600);
      balanced.stats('gemini').firstToken(200);
    }
    assert.deepEqual(balanced.names(balanced.route()), ['openai', 'gemini', 'local']);
  });

  test('a circuit opens after consecutive failures and lets one probe through when half-open', () => {
    const { route, names, stats, clock } = setup();
    stats('openai').failure();
    stats('openai').failure();
    const open = route();
    assert.equal(open.filtered.openai, 'circuit_open');
    assert.deepEqual(names(open), ['gemini', 'local']);
    clock.now += 5000;
    assert.equal(stats('openai').circuit.current, 'half-open');
    assert.deepEqual(names(route()), ['openai', 'gemini', 'local']);
    stats('openai').circuit.begin(); // the probe is in flight: nobody else goes there
    assert.equal(route().filtered.openai, 'circuit_open');
    stats('openai').success(100);
    assert.equal(stats('openai').circuit.current, 'closed');
  });

  test('both remote providers down: local is the last resort; without local, a typed error', () => {
    const { route, names, stats } = setup();
    for (const name of ['openai', 'gemini']) {
      stats(name).failure();
      stats(name).failure();
    }
    const decision = route();
    assert.deepEqual(names(decision), ['local']);
    assert.equal(decision.reason, 'last_resort');
    const bare = setup({ providers: [{ name: 'openai', model: 'o', apiKey: 'k', inputUsdPer1M: 1, outputUsdPer1M: 1 }] });
    bare.stats('openai').failure();
    bare.stats('openai').failure();
    assert.throws(() => bare.route(), (error: NoProviderError) => error instanceof NoProviderError && error.code === 'AI_UNAVAILABLE' && error.filtered.openai === 'circuit_open');
  });

  test('a spent budget: local when configured, BUDGET_EXCEEDED when reject', () => {
    const { route, names } = setup();
    const decision = route('spent');
    assert.deepEqual(names(decision), ['local']);
    assert.equal(decision.reason, 'budget');
    const strict = setup({ onBudgetExceeded: 'reject' });
    assert.throws(() => strict.route('spent'), (error: NoProviderError) => error.code === 'BUDGET_EXCEEDED');
  });

  test('a spend that cannot be read: paid providers skipped; local, or AI_UNAVAILABLE (not BUDGET_EXCEEDED) when reject', () => {
    const { route, names } = setup();
    assert.deepEqual(names(route('unreadable')), ['local']);
    const strict = setup({ onBudgetExceeded: 'reject' });
    assert.throws(() => strict.route('unreadable'), (error: NoProviderError) => error.code === 'AI_UNAVAILABLE' && error.filtered.openai === 'budget');
  });

  test('exploration moves another eligible provider to the front at the configured share', () => {
    const { route, names } = setup({ explorationShare: 0.1 }, [0.05, 0.0, 0.5]);
    const explored = route();
    assert.equal(explored.reason, 'explore');
    assert.deepEqual(names(explored), ['gemini', 'openai', 'local']);
    assert.equal(route().reason, 'strategy'); // 0.5 ≥ 0.1
  });

  test('an unknown strategy name fails at start-up', () => {
    assert.throws(() => strategyByName('cheapest'), /unknown routing strategy 'cheapest'/);
    assert.throws(() => parseAiConfig({ strategy: 'cheapest' }, {}), /ai.strategy must be one of cost, latency, balanced/);
  });
});
