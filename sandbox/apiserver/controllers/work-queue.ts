/**
 * A de-duplicating work queue of keys: a key added many times before it runs runs once; a
 * failed key is retried after a delay. Processing happens on a later tick, never inside the
 * write that enqueued it. `addAfter` brings a key back later (a condition that only time changes,
 * such as a Pod becoming available after minReadySeconds).
 */
export class WorkQueue {
  private readonly pending = new Set<string>();
  private readonly handler: (key: string) => void;
  private readonly onError: (error: unknown) => void;
  private readonly retryDelayMs: number;
  private scheduled = false;
  private stopped = false;
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly wakeups = new Map<string, { at: number; timer: NodeJS.Timeout }>();

  constructor(handler: (key: string) => void, onError: (error: unknown) => void, retryDelayMs: number) {
    this.handler = handler;
    this.onError = onError;
    this.retryDelayMs = retryDelayMs;
  }

  add(key: string): void {
    if (this.stopped) return;
    this.pending.add(key);
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.drain());
  }

  /** Adds the key after `delayMs`; an earlier or equal pending wake-up for the key makes this a no-op. */
  addAfter(key: string, delayMs: number): void {
    if (this.stopped) return;
    const at = Date.now() + delayMs;
    const pending = this.wakeups.get(key);
    if (pending && pending.at <= at) return;
    if (pending) {
      clearTimeout(pending.timer);
      this.timers.delete(pending.timer);
    }
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      this.wakeups.delete(key);
      this.add(key);
    }, Math.max(0, delayMs));
    this.timers.add(timer);
    this.wakeups.set(key, { at, timer });
  }

  stop(): void {
    this.stopped = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.wakeups.clear();
    this.pending.clear();
  }

  private drain(): void {
    this.scheduled = false;
    const keys = [...this.pending];
    this.pending.clear();
    for (const key of keys) {
      if (this.stopped) return;
      try {
        this.handler(key);
      } catch (error) {
        this.onError(error);
        const timer = setTimeout(() => {
          this.timers.delete(timer);
          this.add(key);
        }, this.retryDelayMs);
        this.timers.add(timer);
      }
    }
  }
}
