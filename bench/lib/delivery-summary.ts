/**
 * One figure for the runs of several load generators that measured at the same time: counts
 * are summed; each generator has its own latency histogram, so the percentiles given are the
 * worst generator's (an upper bound of the merged one), with every generator's in `runs`.
 */
import type { RunResult } from '../generator/main.ts';

export interface DeliverySummary {
  published: number;
  expected: number;
  delivered: number;
  duplicates: number;
  outOfOrder: number;
  stray: number;
  incompleteMessages: number;
  /** Every message reached every subscriber once, none out of order or unknown. */
  lossless: boolean;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  problems: Record<string, number>;
  runs: Pick<RunResult, 'published' | 'delivered' | 'expectedDeliveries' | 'latency' | 'generatorCpuPercent'>[];
}

export function deliverySummary(runs: readonly RunResult[]): DeliverySummary {
  const sum = (pick: (r: RunResult) => number) => runs.reduce((n, r) => n + pick(r), 0);
  const worst = (pick: (r: RunResult) => number) => Math.max(0, ...runs.map(pick));
  const problems: Record<string, number> = {};
  for (const r of runs) for (const [code, n] of Object.entries(r.problems)) problems[code] = (problems[code] ?? 0) + n;
  const summary = {
    published: sum((r) => r.published),
    expected: sum((r) => r.expectedDeliveries),
    delivered: sum((r) => r.delivered),
    duplicates: sum((r) => r.duplicates),
    outOfOrder: sum((r) => r.outOfOrder),
    stray: sum((r) => r.stray),
    incompleteMessages: sum((r) => r.incompleteMessages),
    p50Ms: worst((r) => r.latency.p50Ms),
    p99Ms: worst((r) => r.latency.p99Ms),
    maxMs: worst((r) => r.latency.maxMs),
    problems,
    runs: runs.map(({ published, delivered, expectedDeliveries, latency, generatorCpuPercent }) => ({ published, delivered, expectedDeliveries, latency, generatorCpuPercent })),
  };
  return { ...summary, lossless: summary.delivered === summary.expected && summary.duplicates === 0 && summary.outOfOrder === 0 && summary.stray === 0 };
}
