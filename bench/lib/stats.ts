/**
 * Latency statistics without keeping every sample: a log-linear histogram of integer
 * microseconds (128 sub-buckets per power of two, so any percentile is within 1 % of the
 * true value). A fan-out run records millions of deliveries; an array of them would be the
 * load generator's biggest cost.
 */
const SUB_BUCKET_BITS = 7;
const SUB_BUCKETS = 1 << SUB_BUCKET_BITS;
/** Bucketing is by 32-bit integers: larger values (over 71 minutes) share the last bucket; max stays exact. */
const MAX_US = 0xffff_ffff;
const BUCKET_COUNT = (32 - SUB_BUCKET_BITS + 1) * SUB_BUCKETS;

export interface LatencySummary {
  count: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

export class LatencyHistogram {
  private readonly buckets = new Float64Array(BUCKET_COUNT);
  private total = 0;
  private maxUs = 0;

  record(microseconds: number): void {
    const us = microseconds < 0 ? 0 : Math.floor(microseconds);
    if (us > this.maxUs) this.maxUs = us;
    this.buckets[bucketOf(us)]++;
    this.total++;
  }

  get count(): number {
    return this.total;
  }

  /** The value (µs) at or below which `percent` of the samples fall; 0 when empty. */
  percentile(percent: number): number {
    if (this.total === 0) return 0;
    const rank = Math.max(1, Math.ceil((percent / 100) * this.total));
    let seen = 0;
    for (let i = 0; i < this.buckets.length; i++) {
      seen += this.buckets[i];
      if (seen >= rank) return Math.min(upperBoundOf(i), this.maxUs);
    }
    return this.maxUs;
  }

  summary(): LatencySummary {
    return {
      count: this.total,
      p50Ms: round3(this.percentile(50) / 1000),
      p99Ms: round3(this.percentile(99) / 1000),
      maxMs: round3(this.maxUs / 1000),
    };
  }
}

/** 0..127 map to themselves; above, each power of two [2^k, 2^(k+1)) gets 128 buckets. */
function bucketOf(microseconds: number): number {
  const us = Math.min(microseconds, MAX_US);
  if (us < SUB_BUCKETS) return us;
  const exponent = 31 - Math.clz32(us) - SUB_BUCKET_BITS;
  const sub = Math.floor(us / 2 ** exponent) - SUB_BUCKETS;
  return (exponent + 1) * SUB_BUCKETS + sub;
}

function upperBoundOf(index: number): number {
  if (index < SUB_BUCKETS) return index;
  const exponent = Math.floor(index / SUB_BUCKETS) - 1;
  const sub = index % SUB_BUCKETS;
  return (SUB_BUCKETS + sub + 1) * 2 ** exponent - 1;
}

export function median(values: readonly number[]): number {
  const finite = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (finite.length === 0) return Number.NaN;
  const mid = finite.length >> 1;
  return finite.length % 2 ? finite[mid] : (finite[mid - 1] + finite[mid]) / 2;
}

export function ratio(numerator: number, denominator: number): number {
  return denominator > 0 && Number.isFinite(numerator) ? round3(numerator / denominator) : Number.NaN;
}

export function round3(value: number): number {
  return Math.round(value * 1000) / 1000;
}
