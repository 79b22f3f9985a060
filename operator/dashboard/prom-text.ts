/**
 * Just enough of the Prometheus text format to read a gateway's /metrics: samples by name with
 * their labels, and quantiles from the difference of two cumulative histograms.
 */
export interface Sample {
  labels: Record<string, string>;
  value: number;
}

export type Samples = Map<string, Sample[]>;

const LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

export function parsePrometheusText(text: string): Samples {
  const samples: Samples = new Map();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = LINE.exec(line);
    if (!match) continue;
    const labels: Record<string, string> = {};
    for (const label of (match[2] ?? '').matchAll(LABEL)) labels[label[1]] = label[2].replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    const value = Number(match[3]);
    const list = samples.get(match[1]) ?? [];
    list.push({ labels, value });
    samples.set(match[1], list);
  }
  return samples;
}

/** Sum of a metric's samples, optionally only those whose labels match; undefined when it is absent. */
export function sum(samples: Samples, name: string, where: Record<string, string> = {}): number | undefined {
  const list = samples.get(name);
  if (!list) return undefined;
  return list.filter((s) => Object.entries(where).every(([k, v]) => s.labels[k] === v)).reduce((total, s) => total + s.value, 0);
}

/** Cumulative bucket counts by upper bound (le), summed over label sets. */
export function buckets(samples: Samples, histogram: string): Map<number, number> | undefined {
  const list = samples.get(`${histogram}_bucket`);
  if (!list) return undefined;
  const result = new Map<number, number>();
  for (const s of list) {
    const le = s.labels.le === '+Inf' ? Infinity : Number(s.labels.le);
    result.set(le, (result.get(le) ?? 0) + s.value);
  }
  return result;
}

export function addBuckets(a: Map<number, number> | undefined, b: Map<number, number> | undefined): Map<number, number> | undefined {
  if (!a) return b && new Map(b);
  if (!b) return a;
  const result = new Map(a);
  for (const [le, count] of b) result.set(le, (result.get(le) ?? 0) + count);
  return result;
}

/**
 * The q-quantile (seconds) of what was observed between two cumulative histograms, by linear
 * interpolation inside the bucket as Prometheus' histogram_quantile does; undefined when nothing
 * was observed in between (or a counter went back: a pod restarted).
 */
export function quantileBetween(before: Map<number, number> | undefined, after: Map<number, number> | undefined, q: number): number | undefined {
  if (!after) return undefined;
  const bounds = [...after.keys()].sort((x, y) => x - y);
  const counts = bounds.map((le) => after.get(le)! - (before?.get(le) ?? 0));
  if (counts.some((c) => c < 0)) return undefined;
  const total = counts[counts.length - 1];
  if (!(total > 0)) return undefined;
  const rank = q * total;
  for (let i = 0; i < bounds.length; i++) {
    if (counts[i] >= rank) {
      const lower = i === 0 ? 0 : bounds[i - 1];
      const upper = bounds[i];
      if (upper === Infinity) return lower;
      const below = i === 0 ? 0 : counts[i - 1];
      const inBucket = counts[i] - below;
      return inBucket > 0 ? lower + ((upper - lower) * (rank - below)) / inBucket : upper;
    }
  }
  return undefined;
}
