/**
 * Visits every member of a live set once per `periodMs`, a share of them on each tick, instead
 * of all of them at once: with 20,000 connections, pinging every socket (a write each) or
 * refreshing every presence entry (an engine command each) in one loop blocks the event loop
 * and bursts the engine. The share per tick is size × tickMs / periodMs; the set's own iterator
 * carries the place between ticks (members added meanwhile are visited in turn, removed ones
 * skipped), so each member is visited about once per period, and never twice in one tick.
 */
export interface SpreadRoundOptions<T> {
  members: () => ReadonlySet<T>;
  periodMs: number;
  tickMs: number;
  visit: (member: T) => void;
}

export class SpreadRound<T> {
  private readonly options: SpreadRoundOptions<T>;
  private place?: Iterator<T>;
  /** The fraction of a member left over from earlier ticks (small sets would otherwise round up every tick). */
  private carry = 0;

  constructor(options: SpreadRoundOptions<T>) {
    this.options = options;
  }

  tick(): void {
    const members = this.options.members();
    const size = members.size;
    if (size === 0) return;
    const share = (size * this.options.tickMs) / this.options.periodMs + this.carry;
    const count = Math.min(size, Math.floor(share));
    this.carry = count === size ? 0 : share - count;
    for (let i = 0; i < count; i += 1) {
      this.place ??= members.values();
      let next = this.place.next();
      if (next.done) {
        this.place = members.values();
        next = this.place.next();
        if (next.done) return;
      }
      this.options.visit(next.value);
    }
  }
}
