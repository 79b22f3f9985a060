/**
 * The region's AI spend today as /loadz reports it. /loadz must stay cheap and answer while the
 * engine is down, so it never reads the tally itself: it gets a copy read at most every
 * `ai.spendCacheMs`, each read bounded by `ai.spendReadTimeoutMs` and started by the /loadz call
 * that finds the copy due (no timer of its own; one read at a time). A copy is dropped once it is
 * older than three refresh periods, or of another UTC day: the spend is then unknown (absent),
 * never 0. The copy carries the day's provider mix (requests and spend per provider that answered).
 */
import type { AiBudgets, SpentToday } from './budgets.ts';

export interface SpendToday {
  /** UTC day, `YYYY-MM-DD`. */
  day: string;
  spentUsd: number;
  dailyBudgetUsd: number;
  /** Per provider that answered a request today: its requests and spend (micro-dollars). */
  providers: SpentToday['providers'];
}

export interface SpendTodayOptions {
  budgets: Pick<AiBudgets, 'today' | 'day' | 'dailyBudgetUsd'>;
  now: () => number;
  refreshMs: number;
  timeoutMs: number;
}

export class SpendTodayCache {
  private readonly options: SpendTodayOptions;
  private copy: (SpendToday & { readAt: number }) | undefined;
  private lastAttempt = -Infinity;
  private reading = false;

  constructor(options: SpendTodayOptions) {
    this.options = options;
  }

  /** The last copy when still current; starts a read in the background when one is due. */
  current(): SpendToday | undefined {
    const { now, refreshMs, budgets } = this.options;
    const at = now();
    if (!this.reading && at - this.lastAttempt >= refreshMs) void this.refresh(at);
    const copy = this.copy;
    if (!copy || copy.day !== budgets.day() || at - copy.readAt > 3 * refreshMs) return undefined;
    return { day: copy.day, spentUsd: copy.spentUsd, dailyBudgetUsd: copy.dailyBudgetUsd, providers: copy.providers };
  }

  private async refresh(at: number): Promise<void> {
    this.reading = true;
    this.lastAttempt = at;
    const { budgets, timeoutMs, now } = this.options;
    const day = budgets.day();
    let timer: NodeJS.Timeout | undefined;
    try {
      const spent = await Promise.race([
        budgets.today(),
        new Promise<undefined>((resolve) => {
          timer = setTimeout(() => resolve(undefined), timeoutMs);
          timer.unref();
        }),
      ]);
      // Rounded to a micro-dollar: sums of float reservations carry noise in the last digits.
      if (spent) this.copy = { day, spentUsd: microUsd(spent.clusterUsd), dailyBudgetUsd: budgets.dailyBudgetUsd, providers: roundProviders(spent.providers), readAt: now() };
    } catch {
      // The engine is unreachable: the last copy stands until it is too old (then unknown).
    } finally {
      clearTimeout(timer);
      this.reading = false;
    }
  }
}

const microUsd = (usd: number) => Math.round(usd * 1e6) / 1e6;

function roundProviders(providers: SpentToday['providers']): SpentToday['providers'] {
  return Object.fromEntries(Object.entries(providers).map(([name, day]) => [name, { requests: day.requests, spentUsd: microUsd(day.spentUsd) }]));
}
