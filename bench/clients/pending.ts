/** Replies awaited by key (a command id or a room), each failing after its own timeout. */
import { BenchError, BenchErrorCode } from '../lib/errors.ts';

interface Waiter {
  resolve(value: unknown): void;
  reject(error: Error): void;
  timer: NodeJS.Timeout;
}

export class PendingReplies {
  private readonly waiters = new Map<string | number, Waiter>();

  wait<T>(key: string | number, what: string, timeoutMs: number): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(key);
        reject(new BenchError(BenchErrorCode.TIMEOUT, `no reply to ${what} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters.set(key, { resolve: resolve as (value: unknown) => void, reject, timer });
    });
  }

  /** True when someone was waiting for `key`. */
  resolve(key: string | number, value: unknown): boolean {
    const waiter = this.take(key);
    waiter?.resolve(value);
    return waiter !== undefined;
  }

  reject(key: string | number, error: Error): boolean {
    const waiter = this.take(key);
    waiter?.reject(error);
    return waiter !== undefined;
  }

  rejectAll(error: Error): void {
    for (const key of [...this.waiters.keys()]) this.reject(key, error);
  }

  private take(key: string | number): Waiter | undefined {
    const waiter = this.waiters.get(key);
    if (!waiter) return undefined;
    clearTimeout(waiter.timer);
    this.waiters.delete(key);
    return waiter;
  }
}
