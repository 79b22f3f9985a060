/**
 * Daily AI spend per region and per user, kept in engine tallies so every pod of the region
 * sees one total. Keys are per UTC day and expire a day after the day ends.
 *
 * A paid request reserves its expected cost before the provider is called and settles to the
 * cost of the usage the provider reported afterwards (the difference is refunded, or added when
 * the answer cost more than expected). A reservation is one atomic add per key; when the new
 * total is over a budget it is taken back at once and the request is refused. So requests in
 * flight together on any pod see each other's reservations, and the day's spend can pass a
 * budget only by what in-flight requests cost beyond their estimates — never by their whole
 * cost. Between a reservation that did not fit and its take-back, another request near the edge
 * may see the total that much higher and be refused too: refusals err on the safe side.
 *
 * Settling also tallies the day per provider that answered: its requests and its cost, one
 * atomic add per key (`ai:spend:DAY:provider:P` and `ai:requests:DAY:provider:P`, same expiry).
 * Providers are a fixed set (providerNames), so a day holds at most two keys per provider. The
 * mix counts on the day of settlement (the spend on the day of reservation).
 */
import type { Tallies } from '../engine/tally.ts';
import { providerNames, type ProviderName } from './types.ts';

const dayMs = 86_400_000;

export interface Spent {
  clusterUsd: number;
  userUsd: number;
}

/** One provider's share of the region's day: requests it answered and what they cost. */
export interface ProviderDay {
  requests: number;
  spentUsd: number;
}

/** The region's day: total spend and, for each provider that answered a request, its share. */
export interface SpentToday {
  clusterUsd: number;
  providers: Partial<Record<ProviderName, ProviderDay>>;
}

/** What one request holds in the tallies until it settles; the keys are fixed at reservation. */
export interface Reservation {
  readonly keys: readonly string[];
  readonly usd: number;
}

export class AiBudgets {
  private readonly tallies: Tallies;
  private readonly now: () => number;
  readonly dailyBudgetUsd: number;
  readonly userDailyBudgetUsd: number;

  constructor(options: { tallies: Tallies; now: () => number; dailyBudgetUsd: number; userDailyBudgetUsd: number }) {
    this.tallies = options.tallies;
    this.now = options.now;
    this.dailyBudgetUsd = options.dailyBudgetUsd;
    this.userDailyBudgetUsd = options.userDailyBudgetUsd;
  }

  day(): string {
    return new Date(this.now()).toISOString().slice(0, 10);
  }

  private keys(user: string | undefined): string[] {
    const day = this.day();
    return user === undefined ? [`ai:spend:${day}`] : [`ai:spend:${day}`, `ai:spend:${day}:user:${user}`];
  }

  async spent(user?: string): Promise<Spent> {
    const [clusterUsd, userUsd = 0] = await this.tallies.read(this.keys(user));
    return { clusterUsd, userUsd };
  }

  private providerKeys(provider: ProviderName): [spend: string, requests: string] {
    const day = this.day();
    return [`ai:spend:${day}:provider:${provider}`, `ai:requests:${day}:provider:${provider}`];
  }

  /** The region's spend today and its provider mix, in one read of the tallies. */
  async today(): Promise<SpentToday> {
    const [clusterUsd, ...perProvider] = await this.tallies.read([this.keys(undefined)[0], ...providerNames.flatMap((p) => this.providerKeys(p))]);
    const providers: SpentToday['providers'] = {};
    providerNames.forEach((provider, i) => {
      const [spentUsd, requests] = [perProvider[2 * i], perProvider[2 * i + 1]];
      if (requests > 0 || spentUsd > 0) providers[provider] = { requests, spentUsd };
    });
    return { clusterUsd, providers };
  }

  /**
   * Reserves `usd` on the region's day and, for a user's request, the user's. Undefined when it
   * does not fit in a budget (nothing stays reserved). Rejects when the tallies cannot be
   * reached: the spend is then unknown.
   */
  async reserve(user: string | undefined, usd: number): Promise<Reservation | undefined> {
    const keys = this.keys(user);
    const limits = [this.dailyBudgetUsd, this.userDailyBudgetUsd];
    const added = await Promise.allSettled(keys.map((key) => this.tallies.add(key, usd, 2 * dayMs)));
    const fits = added.every((outcome, i) => outcome.status === 'fulfilled' && withinBudget(outcome.value, limits[i]));
    if (fits) return { keys, usd };
    // Take back what was added; a take-back that fails leaves the spend counted high, the safe side.
    await Promise.allSettled(keys.filter((_, i) => added[i].status === 'fulfilled').map((key) => this.tallies.add(key, -usd, 2 * dayMs)));
    const failure = added.find((outcome) => outcome.status === 'rejected');
    if (failure) throw failure.reason;
    return undefined;
  }

  /**
   * Replaces a reservation by the cost actually incurred (0 when no paid provider answered), and
   * counts the request and its cost to `provider`, the one that answered (none: nothing answered).
   */
  async settle(reservation: Reservation, actualUsd: number, provider?: ProviderName): Promise<void> {
    const difference = actualUsd - reservation.usd;
    const adds = difference === 0 ? [] : reservation.keys.map((key) => this.tallies.add(key, difference, 2 * dayMs));
    if (provider !== undefined) {
      const [spendKey, requestsKey] = this.providerKeys(provider);
      adds.push(this.tallies.add(requestsKey, 1, 2 * dayMs));
      if (actualUsd > 0) adds.push(this.tallies.add(spendKey, actualUsd, 2 * dayMs));
    }
    await Promise.all(adds);
  }

  /** Charges `usd` with no reservation before it (a request that reserved nothing). */
  async charge(user: string | undefined, usd: number, provider?: ProviderName): Promise<void> {
    if (usd <= 0 && provider === undefined) return;
    await this.settle({ keys: usd > 0 ? this.keys(user) : [], usd: 0 }, Math.max(0, usd), provider);
  }
}

/** Totals are sums of floats: a reservation that exactly fills the budget must still fit. */
function withinBudget(total: number, budget: number): boolean {
  return total <= budget + Math.max(1e-12, budget * 1e-9);
}
