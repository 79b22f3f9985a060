/**
 * Deadlines of many connections on one timer: each deadline goes into the slot of its time
 * rounded up to `resolutionMs`, and `advance` (called by one interval timer) hands every item
 * whose slot has come to `fire`. A deadline never fires early and at most one slot (plus the
 * timer's own delay) late. Replaces a `setTimeout` per connection: a Timeout object, its
 * closure and, for deadlines of distinct lengths (token expiries), a timer list each — a
 * sizeable share of an idle connection's heap at tens of thousands of connections.
 */
export interface DeadlineWheelOptions<T> {
  resolutionMs: number;
  now: () => number;
  fire: (item: T) => void;
}

export class DeadlineWheel<T> {
  private readonly slots = new Map<number, Set<T>>();
  private readonly options: DeadlineWheelOptions<T>;
  /** The first slot not yet fired. */
  private nextSlot: number;

  constructor(options: DeadlineWheelOptions<T>) {
    this.options = options;
    this.nextSlot = Math.floor(options.now() / options.resolutionMs) + 1;
  }

  /** Schedules `item` at `atMs`; returns its slot, which `remove` needs. */
  add(item: T, atMs: number): number {
    const slot = Math.max(this.nextSlot, Math.ceil(atMs / this.options.resolutionMs));
    const items = this.slots.get(slot);
    if (items) items.add(item);
    else this.slots.set(slot, new Set([item]));
    return slot;
  }

  remove(item: T, slot: number): void {
    const items = this.slots.get(slot);
    if (!items) return;
    items.delete(item);
    if (items.size === 0) this.slots.delete(slot);
  }

  /** Fires every slot whose time has come, in order. */
  advance(): void {
    const current = Math.floor(this.options.now() / this.options.resolutionMs);
    while (this.nextSlot <= current) {
      const items = this.slots.get(this.nextSlot);
      this.slots.delete(this.nextSlot);
      this.nextSlot += 1;
      if (items) for (const item of items) this.options.fire(item);
    }
  }
}
