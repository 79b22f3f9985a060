/**
 * What the load rounds say about a region's traffic, for its status: message rates, the relay's
 * state, lag and gaps, and the region's AI spend today. Pure, from the LoadMonitor's samples.
 *
 * Unknown stays absent, never 0: a region whose load is too old (decide.ts `loadTooOld`), or
 * whose fresh pods did not report a figure, has no such field. Figures are rounded so that a
 * status write follows a real change, not jitter: rates and lag to two significant digits (rates
 * to tenths below 10), spend to a micro-dollar. They can change only when a load round ends, so a
 * resync between rounds finds the same figures and writes nothing; under steady traffic the
 * status is written at most once per load period.
 *
 * The cluster's AI spend (`aiStatus`) sums the regions: each region's pods share one tally and
 * enforce spec.ai.dailyBudgetUsd on it (docs/ai.md), so the cluster's daily ceiling is that
 * budget times the regions.
 */
import { AI_PROVIDER_NAMES, type AiProviderDay, type AiProviderName, type AiStatus, type MessageRates, type RegionRelayState } from '../../crds/types.ts';
import { freshSample, loadTooOld } from './decide.ts';
import type { PodLoad, RegionLoad } from './load-monitor.ts';

export interface RegionTraffic {
  messagesPerSecond?: MessageRates;
  relayState?: RegionRelayState;
  relayLagMs?: number;
  relayGaps?: number;
  aiDay?: string;
  aiSpentTodayUsd?: number;
  /** The day's provider mix from the same copy as aiSpentTodayUsd (for status.ai, not a region field). */
  aiProviders?: AiProviderDay[];
}

/** The status fields RegionTraffic owns (absent in a new observation: removed from status). */
export const TRAFFIC_FIELDS = ['messagesPerSecond', 'relayState', 'relayLagMs', 'relayGaps', 'aiSpentTodayUsd'] as const;

/** Two significant digits; tenths below 10. */
export function roundFigure(value: number): number {
  if (value < 10) return Math.round(value * 10) / 10;
  return Number(value.toPrecision(2));
}

export function regionTraffic(load: RegionLoad | undefined, now: number, periodMs: number): RegionTraffic {
  if (!load || loadTooOld(load, now, periodMs)) return {};
  const samples = load.pods.map((pod) => freshSample(load, pod.name)).filter((s): s is PodLoad => s !== undefined);
  const traffic: RegionTraffic = {};
  const rated = samples.filter((s) => s.msgsInPerSec !== undefined && s.msgsOutPerSec !== undefined);
  if (rated.length > 0) {
    const sum = (pick: (s: PodLoad) => number) => roundFigure(rated.reduce((total, s) => total + pick(s), 0));
    traffic.messagesPerSecond = { in: sum((s) => s.msgsInPerSec!), out: sum((s) => s.msgsOutPerSec!) };
  }
  const relays = samples.flatMap((s) => (s.relay ? [s.relay] : []));
  if (relays.length > 0) {
    traffic.relayState = relays.some((r) => r.degraded) ? 'Degraded' : 'Ok';
    const lags = relays.flatMap((r) => (r.lagP99Ms !== undefined ? [r.lagP99Ms] : []));
    // The worst pod's p99: a region is as late as its slowest receiver.
    if (lags.length > 0) traffic.relayLagMs = Math.round(roundFigure(Math.max(...lags)));
    traffic.relayGaps = relays.reduce((total, r) => total + r.gaps, 0);
  }
  // One tally per region: every pod reads the same total (copies a few seconds apart); the newest
  // day wins around midnight, and within it the highest copy.
  const spends = samples.flatMap((s) => (s.ai ? [s.ai] : []));
  if (spends.length > 0) {
    const day = spends.map((s) => s.day).sort().at(-1)!;
    const newest = spends.filter((s) => s.day === day).reduce((best, s) => (s.spentUsd > best.spentUsd ? s : best));
    traffic.aiDay = day;
    traffic.aiSpentTodayUsd = microUsd(newest.spentUsd);
    if (newest.providers) traffic.aiProviders = providerList(newest.providers);
  }
  return traffic;
}

const microUsd = (usd: number) => Math.round(usd * 1e6) / 1e6;

/** A fixed-order list (the known providers, each at most once), so equal mixes compare equal. */
function providerList(providers: Partial<Record<AiProviderName, { requests: number; spentUsd: number }>>): AiProviderDay[] {
  return AI_PROVIDER_NAMES.flatMap((name) => {
    const day = providers[name];
    return day ? [{ name, requests: Math.round(day.requests), spentUsd: microUsd(day.spentUsd) }] : [];
  });
}

/** The cluster's spend today: the regions that reported the newest day, summed. Undefined when none did. */
export function aiStatus(regions: ReadonlyArray<Pick<RegionTraffic, 'aiDay' | 'aiSpentTodayUsd' | 'aiProviders'>>, regionBudgetUsd: number, regionCount: number): AiStatus | undefined {
  const reported = regions.filter((r) => r.aiDay !== undefined && r.aiSpentTodayUsd !== undefined);
  if (reported.length === 0) return undefined;
  const day = reported.map((r) => r.aiDay!).sort().at(-1)!;
  const today = reported.filter((r) => r.aiDay === day);
  const mix: Partial<Record<AiProviderName, { requests: number; spentUsd: number }>> = {};
  for (const provider of today.flatMap((r) => r.aiProviders ?? [])) {
    const sum = (mix[provider.name] ??= { requests: 0, spentUsd: 0 });
    sum.requests += provider.requests;
    sum.spentUsd += provider.spentUsd;
  }
  const providers = providerList(mix);
  return {
    day,
    spentTodayUsd: microUsd(today.reduce((total, r) => total + r.aiSpentTodayUsd!, 0)),
    dailyBudgetUsd: microUsd(regionBudgetUsd * regionCount),
    regionDailyBudgetUsd: regionBudgetUsd,
    regionsReporting: today.length,
    // Empty when the gateways report a mix and none answered a request today; absent when none reports one.
    ...(today.some((r) => r.aiProviders !== undefined) ? { providers } : {}),
  };
}
