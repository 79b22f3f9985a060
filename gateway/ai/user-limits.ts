/**
 * Per-user AI request rate on this pod: one token bucket per user (gateway/token-bucket.ts),
 * at most `maxUsers` of them; the least recently used are forgotten beyond that.
 */
import { TokenBucket } from '../../lib/token-bucket.ts';

export class UserRateLimits {
  private readonly buckets = new Map<string, TokenBucket>();
  private readonly options: { perMinute: number; burst: number; maxUsers: number; now: () => number };

  constructor(options: { perMinute: number; burst: number; maxUsers: number; now: () => number }) {
    this.options = options;
  }

  take(user: string): boolean {
    let bucket = this.buckets.get(user);
    if (bucket) this.buckets.delete(user); // re-inserted below: the map's order is recency
    else {
      bucket = new TokenBucket({ ratePerSec: this.options.perMinute / 60, burst: this.options.burst, now: this.options.now });
      if (this.buckets.size >= this.options.maxUsers) this.buckets.delete(this.buckets.keys().next().value!);
    }
    this.buckets.set(user, bucket);
    return bucket.take();
  }
}
