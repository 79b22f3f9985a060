/**
 * Daily AI spend per region and per user, kept in engine tallies so every pod of the region
 * sees one total. Keys are per UTC day and expire a day after the day ends. Spend is charged
 * after a request, from the usage the provider reported (estimated when it reported none), so
 * requests in flight together may pass a budget by their own cost.
 */
import type { Tallies } from '../engine/tally.ts';

const dayMs = 86_400_000;

export interface Spent {
  clusterUsd: number;
  userUsd: number;
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

  exceeded(spent: Spent): boolean {
    return spent.clusterUsd >= this.dailyBudgetUsd || spent.userUsd >= this.userDailyBudgetUsd;
  }

  /** Adds `usd` to the region's day and, for a user's request, to the user's. */
  async charge(user: string | undefined, usd: number): Promise<void> {
    if (usd <= 0) return;
    await Promise.all(this.keys(user).map((key) => this.tallies.add(key, usd, 2 * dayMs)));
  }
}
